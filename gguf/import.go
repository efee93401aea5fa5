package gguf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/internal/tokjson"
)

// ToHF converts a GGUF model into a Hugging Face folder: config.json,
// model.safetensors (every tensor dequantised, Q and K rows back in
// transformers' order), and from the GGUF vocabulary tokenizer.json and
// tokenizer_config.json with the chat template.
type ToHF struct {
	// Model is the .gguf file.
	Model string
	// Out is the folder to create; it must not exist or be empty.
	Out string
	// DType stores the tensors: "F32" (the default), "BF16" or "F16".
	DType string
	// Progress, when set, is called after each tensor is dequantised with
	// the number done and the total.
	Progress func(done, total int)
}

// Run writes the folder into a temporary folder beside Out and renames it
// into place when complete.
func (c *ToHF) Run(ctx context.Context) error {
	if c.Model == "" || c.Out == "" {
		return errors.New("convert gguf to hf: the model file and the output folder are required")
	}
	if ents, err := os.ReadDir(c.Out); err == nil && len(ents) > 0 {
		return fmt.Errorf("convert gguf to hf: output folder %s is not empty; remove it or choose another", c.Out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("convert gguf to hf: %w", err)
	}
	g, err := Open(c.Model)
	if err != nil {
		return err
	}
	defer g.Close()
	cfg, err := g.HFConfig()
	if err != nil {
		return err
	}
	dt := c.DType
	if dt == "" {
		dt = "F32"
	}
	var ts []hf.WriteTensor
	for i, t := range g.Tensors {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.Name == "rope_freqs.weight" {
			if c.Progress != nil {
				c.Progress(i+1, len(g.Tensors))
			}
			continue // in config.json's rope_scaling (HFConfig)
		}
		n, ok := HFName(t.Name)
		if !ok {
			return fmt.Errorf("gguf %s: tensor %s has no transformers name", c.Model, t.Name)
		}
		data, err := g.HFTensor(cfg, n, t.Shape())
		if err != nil {
			return err
		}
		ts = append(ts, hf.WriteTensor{Name: n, Shape: t.Shape(), Data: data, DType: dt})
		if c.Progress != nil {
			c.Progress(i+1, len(g.Tensors))
		}
	}
	tj, tc, err := g.TokenizerFiles()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(c.Out)), "."+filepath.Base(c.Out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("convert gguf to hf: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := hf.SaveCheckpoint(tmp, cfg, ts, 0); err != nil {
		return fmt.Errorf("convert gguf to hf: %w", err)
	}
	if tj != nil {
		if err := atomicfile.WriteFile(filepath.Join(tmp, "tokenizer.json"), tj); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, "tokenizer_config.json"), tc); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	os.Remove(c.Out)
	if err := os.Rename(tmp, c.Out); err != nil {
		return fmt.Errorf("convert gguf to hf: %w", err)
	}
	ok = true
	return nil
}

// Regexes of the tokenizer.json Split pre-tokenizer by llama.cpp pre name.
var splitByPre = map[string]string{
	"llama-bpe": `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"llama3":    `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"qwen2":     `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"gpt-2":     "",
}

// TokenizerFiles returns tokenizer.json and tokenizer_config.json for the
// GGUF vocabulary (nil, nil when the file has none): "llama" vocabularies
// as a byte-fallback BPE with merges from the scores, "gpt2" ones as a
// byte-level BPE with their merges and the pre-tokenizer regex of
// tokenizer.ggml.pre (llama-bpe, qwen2, gpt-2).
func (g *File) TokenizerFiles() (tokenizerJSON, configJSON []byte, err error) {
	kind := g.String("tokenizer.ggml.model")
	if kind == "" {
		return nil, nil, nil
	}
	v, _ := g.Get("tokenizer.ggml.tokens")
	tokens, ok := v.([]string)
	if !ok || len(tokens) == 0 {
		return nil, nil, fmt.Errorf("gguf %s: tokenizer.ggml.tokens is missing or not a list of strings", g.path)
	}
	v, _ = g.Get("tokenizer.ggml.token_type")
	types, _ := v.([]int32)
	if types != nil && len(types) != len(tokens) {
		return nil, nil, fmt.Errorf("gguf %s: tokenizer.ggml.token_type has %d entries for %d tokens", g.path, len(types), len(tokens))
	}
	id := func(key string) int {
		n, err := g.number(key, false, -1)
		if err != nil || n >= len(tokens) {
			return -1
		}
		return n
	}
	bos, eos, unk := id("tokenizer.ggml.bos_token_id"), id("tokenizer.ggml.eos_token_id"), id("tokenizer.ggml.unknown_token_id")
	addBOS := kind == "llama"
	if b, ok := g.Get("tokenizer.ggml.add_bos_token"); ok {
		addBOS, _ = b.(bool)
	}
	var specials []tokjson.Special
	for i, t := range types {
		if t == tokControl || t == tokUnknown {
			specials = append(specials, tokjson.Special{ID: i, Content: tokens[i]})
		}
	}
	piece := func(i int) string {
		if i < 0 {
			return ""
		}
		return tokens[i]
	}
	bosPiece := ""
	if addBOS {
		bosPiece = piece(bos)
	}
	switch kind {
	case "llama":
		v, _ := g.Get("tokenizer.ggml.scores")
		scores, ok := v.([]float32)
		if !ok || len(scores) != len(tokens) {
			return nil, nil, fmt.Errorf("gguf %s: tokenizer.ggml.scores is missing or does not match the %d tokens", g.path, len(tokens))
		}
		sp := &tokjson.SentencePiece{Pieces: tokens, Scores: scores, Specials: specials, Unk: piece(unk), BOS: bosPiece}
		tokenizerJSON, err = sp.JSON()
	case "gpt2":
		pre := g.String("tokenizer.ggml.pre")
		split, ok := splitByPre[pre]
		if !ok {
			return nil, nil, fmt.Errorf("gguf %s: tokenizer.ggml.pre %q cannot be written as tokenizer.json (llama-bpe, qwen2, gpt-2)", g.path, pre)
		}
		v, _ := g.Get("tokenizer.ggml.merges")
		ms, _ := v.([]string)
		merges := make([][2]string, len(ms))
		for i, m := range ms {
			l, r, ok := strings.Cut(m, " ")
			if !ok {
				return nil, nil, fmt.Errorf("gguf %s: tokenizer.ggml.merges[%d] %q is not two tokens separated by a space", g.path, i, m)
			}
			merges[i] = [2]string{l, r}
		}
		bl := &tokjson.ByteLevel{Tokens: tokens, Merges: merges, Split: split, Specials: specials, BOS: bosPiece,
			IgnoreMerges: pre == "llama-bpe" || pre == "llama3"}
		tokenizerJSON, err = bl.JSON()
	default:
		return nil, nil, fmt.Errorf("gguf %s: tokenizer.ggml.model %q cannot be written as tokenizer.json (llama, gpt2)", g.path, kind)
	}
	if err != nil {
		return nil, nil, err
	}
	cfg := map[string]any{"add_bos_token": addBOS, "clean_up_tokenization_spaces": false}
	for key, i := range map[string]int{"bos_token": bos, "eos_token": eos, "unk_token": unk, "pad_token": id("tokenizer.ggml.padding_token_id")} {
		if i >= 0 {
			cfg[key] = tokens[i]
		}
	}
	if t := g.String("tokenizer.chat_template"); t != "" {
		cfg["chat_template"] = t
	}
	configJSON, err = json.MarshalIndent(cfg, "", "  ")
	return tokenizerJSON, configJSON, err
}
