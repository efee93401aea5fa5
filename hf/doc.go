// Package hf owns the Hugging Face checkpoint formats: config.json (both the
// transformers 4 and transformers 5 layouts), safetensors files (memory-mapped
// reading with strict validation, atomic writing in the exact layout of the
// Rust safetensors writer) and model folders, single-file or sharded through
// model.safetensors.index.json.
//
// Tensor names are Hugging Face's own ("model.layers.0.self_attn.q_proj.weight")
// everywhere; nothing is renamed on the way in or out.
package hf
