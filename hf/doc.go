// Package hf owns the Hugging Face checkpoint formats: config.json (both the
// transformers 4 and transformers 5 layouts; config.go reads and writes it,
// jsonread.go tracks the line of each field for errors, pyjson.go writes
// numbers and JSON as Python does), safetensors files (memory-mapped
// reading with strict validation, atomic writing in the exact layout of the
// Rust safetensors writer), model folders, single-file or sharded through
// model.safetensors.index.json, and the one list of tokenizer, template and
// generation files that go with a checkpoint (CopyTokenizerFiles).
//
// hf checks that a config.json is well formed (Config.Validate); whether a
// model can run it is package model's CheckConfig.
//
// Tensor names are Hugging Face's own ("model.layers.0.self_attn.q_proj.weight")
// everywhere; nothing is renamed on the way in or out.
package hf
