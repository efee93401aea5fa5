package llama2c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/smaug-dev/smaug/gguf"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// Conversion turns a llama2.c model and tokenizer into a Hugging Face Llama
// folder.
type Conversion struct {
	// Model is the llama2.c model file (version 0, 1 or 2).
	Model string
	// Tokenizer is the llama2.c tokenizer.bin; empty writes no tokenizer.
	Tokenizer string
	// Out is the folder to create; it must not exist or be empty.
	Out string
	// DType is the safetensors storage type: "F32" (the default), "BF16"
	// or "F16".
	DType string
}

// RMSNormEps is llama2.c's RMSNorm epsilon (run.c: ss += 1e-5f).
const RMSNormEps = 1e-5

// RopeTheta is llama2.c's rotary base (run.c: powf(10000.0f, ...)).
const RopeTheta = 10000.0

// Run reads the model (and tokenizer) and writes config.json,
// generation_config.json, model.safetensors, and with a tokenizer
// tokenizer.json and tokenizer_config.json, into a temporary folder beside
// Out that is renamed into place when complete.
func (c *Conversion) Run(ctx context.Context) error {
	if c.Model == "" || c.Out == "" {
		return errors.New("llama2c conversion: the model file and the output folder are required")
	}
	if err := emptyOrAbsent(c.Out); err != nil {
		return fmt.Errorf("llama2c conversion: %w", err)
	}
	w, err := ReadCheckpoint(c.Model)
	if err != nil {
		return err
	}
	var v *Vocab
	if c.Tokenizer != "" {
		if v, err = ReadVocab(c.Tokenizer); err != nil {
			return err
		}
		if len(v.Tokens) != w.VocabSize {
			return fmt.Errorf("llama2c conversion: tokenizer %s has %d tokens, model %s has vocab_size %d", c.Tokenizer, len(v.Tokens), c.Model, w.VocabSize)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := w.HFConfig()
	if err != nil {
		return fmt.Errorf("llama2c conversion: %w", err)
	}
	dt := c.DType
	if dt == "" {
		dt = "F32"
	}
	parent := filepath.Dir(filepath.Clean(c.Out))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(c.Out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("llama2c conversion: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := hf.SaveCheckpoint(tmp, cfg, w.HFTensors(dt), 0); err != nil {
		return fmt.Errorf("llama2c conversion: %w", err)
	}
	if v != nil {
		tj, err := v.TokenizerJSON()
		if err != nil {
			return fmt.Errorf("llama2c conversion: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, "tokenizer.json"), tj); err != nil {
			return fmt.Errorf("llama2c conversion: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, "tokenizer_config.json"), v.TokenizerConfigJSON()); err != nil {
			return fmt.Errorf("llama2c conversion: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("llama2c conversion: %w", err)
	}
	os.Remove(c.Out) // an empty folder given as the destination
	if err := os.Rename(tmp, c.Out); err != nil {
		return fmt.Errorf("llama2c conversion: %w", err)
	}
	ok = true
	return nil
}

// emptyOrAbsent refuses to overwrite a folder that holds files.
func emptyOrAbsent(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("output folder %s is not empty; remove it or choose another", dir)
	}
	return nil
}

// HFConfig returns the transformers LlamaConfig equivalent of the header.
func (w *Weights) HFConfig() (*hf.Config, error) {
	c := w.Config
	b, err := json.Marshal(map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"vocab_size":              c.VocabSize,
		"hidden_size":             c.Dim,
		"intermediate_size":       c.HiddenDim,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.KVHeads,
		"head_dim":                c.HeadDim(),
		"max_position_embeddings": c.SeqLen,
		"rms_norm_eps":            RMSNormEps,
		"rope_theta":              RopeTheta,
		"hidden_act":              "silu",
		"tie_word_embeddings":     c.SharedClassifier,
		"attention_bias":          false,
		"mlp_bias":                false,
		"bos_token_id":            bosID,
		"eos_token_id":            eosID,
		"torch_dtype":             "float32",
	})
	if err != nil {
		return nil, err
	}
	return hf.ParseConfig(b)
}

// HFTensors returns the weights under transformers' Llama names, Q and K
// rows permuted from llama2.c's interleaved rotary pairs (2i, 2i+1) —
// llama.cpp's layout too — to transformers' halves (i, i+d/2), stored as
// dtype.
func (w *Weights) HFTensors(dtype string) []hf.WriteTensor {
	c := w.Config
	dim, kv, hid := c.Dim, c.KVHeads*c.HeadDim(), c.HiddenDim
	var ts []hf.WriteTensor
	add := func(name string, data []float32, shape ...int) {
		ts = append(ts, hf.WriteTensor{Name: name, Shape: shape, Data: data, DType: dtype})
	}
	add("model.embed_tokens.weight", w.Embed, c.VocabSize, dim)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", w.AttnNorm[i], dim)
		add(p+"self_attn.q_proj.weight", gguf.Unpermute(w.WQ[i], dim, dim, c.Heads), dim, dim)
		add(p+"self_attn.k_proj.weight", gguf.Unpermute(w.WK[i], kv, dim, c.KVHeads), kv, dim)
		add(p+"self_attn.v_proj.weight", w.WV[i], kv, dim)
		add(p+"self_attn.o_proj.weight", w.WO[i], dim, dim)
		add(p+"post_attention_layernorm.weight", w.FFNNorm[i], dim)
		add(p+"mlp.gate_proj.weight", w.W1[i], hid, dim)
		add(p+"mlp.down_proj.weight", w.W2[i], dim, hid)
		add(p+"mlp.up_proj.weight", w.W3[i], hid, dim)
	}
	add("model.norm.weight", w.FinalNorm, dim)
	if !c.SharedClassifier {
		add("lm_head.weight", w.Classifier, c.VocabSize, dim)
	}
	return ts
}
