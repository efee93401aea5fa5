package gguf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/model"
)

// Export writes a Hugging Face model folder as a GGUF file that llama.cpp
// loads: the llama.cpp metadata of convert_hf_to_gguf.py, the tensors
// under llama.cpp's names (Q and K rows permuted for the llama
// architecture), and, when the folder has a tokenizer.json, the
// tokenizer.ggml.* vocabulary and the chat template. Tensors are read,
// converted and written one at a time.
type Export struct {
	// Model is the Hugging Face folder (config.json, safetensors).
	Model string
	// Out is the .gguf file to write (atomically).
	Out string
	// Type stores the matrices: F32 (the zero value), F16, BF16 or Q8_0.
	// Vectors (norms, biases) stay F32; a matrix whose rows are not a
	// whole number of Q8_0 blocks is stored F16, as llama.cpp does.
	Type Type
	// Name is general.name; the folder's name when empty.
	Name string
	// Progress, when set, is called after each tensor with the number
	// written and the total.
	Progress func(done, total int)
}

// fileType is llama.cpp's general.file_type (enum llama_ftype) of a type.
var fileType = map[Type]uint32{F32: 0, F16: 1, Q8_0: 7, BF16: 32}

// Run writes the file.
func (e *Export) Run(ctx context.Context) error {
	if _, ok := fileType[e.Type]; !ok {
		return fmt.Errorf("export gguf: cannot write %s (F32, F16, BF16, Q8_0)", e.Type)
	}
	if e.Model == "" || e.Out == "" {
		return errors.New("export gguf: the model folder and the output file are required")
	}
	ck, err := hf.OpenCheckpoint(e.Model)
	if err != nil {
		return fmt.Errorf("export gguf: %w", err)
	}
	defer ck.Close()
	c := ck.Config
	kv, err := e.metadata(c)
	if err != nil {
		return fmt.Errorf("export gguf %s: %w", e.Model, err)
	}
	tk, err := TokenizerMetadata(e.Model, c)
	if err != nil {
		return fmt.Errorf("export gguf: %w", err)
	}
	kv = append(kv, tk...)
	arch := archOf[c.ModelType]
	var ts []WriteTensor
	written, total := 0, len(ck.Names())
	for _, name := range ck.Names() {
		gn, ok := GGUFName(name)
		if !ok {
			return fmt.Errorf("export gguf %s: tensor %s has no llama.cpp name", e.Model, name)
		}
		t, err := ck.Tensor(name)
		if err != nil {
			return fmt.Errorf("export gguf: %w", err)
		}
		typ := e.Type
		if len(t.Shape) < 2 {
			typ = F32
		} else if t.Shape[len(t.Shape)-1]%typ.BlockSize() != 0 {
			typ = F16
		}
		// Encoded while the file is written: one tensor in memory at a time.
		encode := func() ([]byte, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			data, err := t.Float32()
			if err != nil {
				return nil, err
			}
			if arch == "llama" {
				switch {
				case strings.HasSuffix(name, "q_proj.weight"), strings.HasSuffix(name, "q_proj.bias"):
					data = Permute(data, t.Shape[0], len(data)/t.Shape[0], c.NumAttentionHeads)
				case strings.HasSuffix(name, "k_proj.weight"), strings.HasSuffix(name, "k_proj.bias"):
					data = Permute(data, t.Shape[0], len(data)/t.Shape[0], c.NumKeyValueHeads)
				}
			}
			b, err := Quantize(typ, data)
			if err == nil && e.Progress != nil {
				written++
				e.Progress(written, total)
			}
			return b, err
		}
		ts = append(ts, WriteTensor{Name: gn, Shape: t.Shape, Type: typ, Encode: encode})
	}
	if c.RopeScaling != nil && c.RopeScaling.Type == "llama3" {
		f, err := ropeFreqs(c)
		if err != nil {
			return fmt.Errorf("export gguf %s: %w", e.Model, err)
		}
		b, _ := Quantize(F32, f)
		ts = append(ts, WriteTensor{Name: "rope_freqs.weight", Shape: []int{len(f)}, Type: F32, Data: b})
	}
	return atomicfile.Write(e.Out, func(w io.Writer) error { return Write(w, kv, ts) })
}

// metadata is convert_hf_to_gguf.py's model metadata for a config.
func (e *Export) metadata(c *hf.Config) ([]KV, error) {
	arch, ok := archOf[c.ModelType]
	if !ok {
		return nil, fmt.Errorf("model_type %q cannot be written as GGUF (llama, mistral, qwen2)", c.ModelType)
	}
	name := e.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(e.Model))
	}
	u := func(n int) uint32 { return uint32(n) }
	kv := []KV{
		{"general.architecture", arch},
		{"general.name", name},
		{"general.file_type", fileType[e.Type]},
	}
	if e.Type == Q8_0 {
		kv = append(kv, KV{"general.quantization_version", uint32(2)})
	}
	kv = append(kv,
		KV{arch + ".vocab_size", u(c.VocabSize)},
		KV{arch + ".context_length", u(c.MaxPositionEmbeddings)},
		KV{arch + ".embedding_length", u(c.HiddenSize)},
		KV{arch + ".block_count", u(c.NumHiddenLayers)},
		KV{arch + ".feed_forward_length", u(c.IntermediateSize)},
		KV{arch + ".rope.dimension_count", u(c.HeadDim)},
		KV{arch + ".attention.head_count", u(c.NumAttentionHeads)},
		KV{arch + ".attention.head_count_kv", u(c.NumKeyValueHeads)},
		KV{arch + ".attention.layer_norm_rms_epsilon", float32(c.RMSNormEps)},
		KV{arch + ".rope.freq_base", float32(c.RopeTheta)},
	)
	if c.HeadDim*c.NumAttentionHeads != c.HiddenSize {
		kv = append(kv, KV{arch + ".attention.key_length", u(c.HeadDim)}, KV{arch + ".attention.value_length", u(c.HeadDim)})
	}
	if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "linear":
			kv = append(kv, KV{arch + ".rope.scaling.type", "linear"}, KV{arch + ".rope.scaling.factor", float32(s.Factor)})
		case "llama3":
			// written as the rope_freqs.weight tensor (ropeFreqs)
		default:
			return nil, fmt.Errorf("rope scaling %q cannot be written as GGUF here (linear and llama3 can)", s.Type)
		}
	}
	if c.SlidingWindow > 0 {
		kv = append(kv, KV{arch + ".attention.sliding_window", u(c.SlidingWindow)})
	}
	return kv, nil
}

// exists reports whether a file exists.
func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// ropeFreqs returns llama.cpp's rope_freqs.weight for a llama3 rope
// scaling: per frequency, the factor llama.cpp divides it by (θ_i/f_i), so
// the unscaled frequencies over the scaled ones of transformers' rule
// (model.InvFreq).
func ropeFreqs(c *hf.Config) ([]float32, error) {
	scaled, err := model.InvFreq(c)
	if err != nil {
		return nil, err
	}
	plain := *c
	plain.RopeScaling = nil
	base, err := model.InvFreq(&plain)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(base))
	for i := range base {
		out[i] = float32(base[i] / scaled[i])
	}
	return out, nil
}
