// Package model implements the Llama family of causal language models
// (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM — Yi and Smaug
// checkpoints are LlamaForCausalLM) on top of package tensor: loading and
// saving Hugging Face checkpoints with their tensor names unchanged, the
// batched right-padded forward and backward, per-sequence log-probs of
// completions given prompts (sequences packed without padding, common
// prefixes run once, a fused chunked output layer), KV-cache decoding
// (with Mistral's sliding window), per-layer activation
// recomputation (GradientCheckpointing), and LoRA adapters as PEFT computes,
// loads and saves them (lora.go, peft.go).
//
// Weights keep Hugging Face names end to end (load, gradients, save), so
// fixtures, adapters and checkpoints line up without translation tables.
package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// Linear is a projection with Hugging Face's [out, in] weight, an optional
// bias and an optional LoRA adapter (see AttachLoRA).
type Linear struct {
	W, B *tensor.Tensor
	// LoRA is nil for a plain projection.
	LoRA *LoRA
}

// Forward applies the projection to x [rows, in]: W·x + b, plus, with an
// enabled adapter, scaling·B·A·dropout(x) as PEFT's lora.Linear computes it
// (dropout only with a tape).
func (l *Linear) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	y := tensor.Linear(tp, x, l.W, l.B)
	a := l.LoRA
	if a == nil || a.shared.disabled {
		return y
	}
	h := tensor.Dropout(tp, x, a.Dropout, a.shared.rng)
	d := tensor.Linear(tp, tensor.Linear(tp, h, a.A, nil), a.B, nil)
	return tensor.Add(tp, y, tensor.Scale(tp, d, a.Scaling))
}

// Layer is one decoder block: pre-norm attention and pre-norm SwiGLU MLP,
// each with a residual connection.
type Layer struct {
	InputNorm, PostNorm *tensor.Tensor
	Q, K, V, O          Linear
	Gate, Up, Down      Linear
}

// Model is a Llama-family causal language model held in float32 (frozen
// matrices may be held in bfloat16: LoadFrozen, HoldFrozenBF16).
type Model struct {
	Config *hf.Config
	Embed  *tensor.Tensor // model.embed_tokens.weight [vocab, hidden]
	Layers []Layer
	Norm   *tensor.Tensor // model.norm.weight
	LMHead *tensor.Tensor // lm_head.weight, the same tensor as Embed when tied
	Rope   *tensor.RopeTable

	// GradientCheckpointing recomputes each layer's activations during the
	// backward instead of keeping them (less memory, one more forward).
	GradientCheckpointing bool
	// OutputChunk is how many positions' logits LogProbs computes at a
	// time in its fused output layer (tensor.LinearLogSoftmaxGather); 0
	// is tensor.OutputChunkRows(vocab), 16 MiB of logits.
	OutputChunk int
	// NoSharePrefix makes LogProbs run every sequence whole instead of
	// running each prefix common to several sequences once (the default;
	// the results are the same, to float32 rounding).
	NoSharePrefix bool

	names  []string // parameter names in Hugging Face order
	params map[string]*tensor.Tensor
	// mapped is the checkpoint whose memory-mapped files frozen bfloat16
	// weights read from (LoadFrozen), closed by Close.
	mapped io.Closer
}

// Param is a named parameter.
type Param struct {
	Name   string
	Tensor *tensor.Tensor
}

// Params returns every distinct parameter with its Hugging Face name, in the
// order transformers lists them (a tied output layer appears once, as
// model.embed_tokens.weight).
func (m *Model) Params() []Param {
	out := make([]Param, len(m.names))
	for i, n := range m.names {
		out[i] = Param{n, m.params[n]}
	}
	return out
}

// Param returns the parameter with the given Hugging Face name.
func (m *Model) Param(name string) (*tensor.Tensor, bool) {
	t, ok := m.params[name]
	return t, ok
}

// shapes lists every parameter the configuration calls for, with its shape.
func shapes(c *hf.Config) (names []string, shape map[string][]int) {
	shape = map[string][]int{}
	add := func(name string, s ...int) {
		names = append(names, name)
		shape[name] = s
	}
	h, inter := c.HiddenSize, c.IntermediateSize
	qd, kvd := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	add("model.embed_tokens.weight", c.VocabSize, h)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"self_attn.q_proj.weight", qd, h)
		if c.QKVBias {
			add(p+"self_attn.q_proj.bias", qd)
		}
		add(p+"self_attn.k_proj.weight", kvd, h)
		if c.QKVBias {
			add(p+"self_attn.k_proj.bias", kvd)
		}
		add(p+"self_attn.v_proj.weight", kvd, h)
		if c.QKVBias {
			add(p+"self_attn.v_proj.bias", kvd)
		}
		add(p+"self_attn.o_proj.weight", h, qd)
		if c.OBias {
			add(p+"self_attn.o_proj.bias", h)
		}
		add(p+"mlp.gate_proj.weight", inter, h)
		if c.MLPBias {
			add(p+"mlp.gate_proj.bias", inter)
		}
		add(p+"mlp.up_proj.weight", inter, h)
		if c.MLPBias {
			add(p+"mlp.up_proj.bias", inter)
		}
		add(p+"mlp.down_proj.weight", h, inter)
		if c.MLPBias {
			add(p+"mlp.down_proj.bias", h)
		}
		add(p+"input_layernorm.weight", h)
		add(p+"post_attention_layernorm.weight", h)
	}
	add("model.norm.weight", h)
	if !c.TieWordEmbeddings {
		add("lm_head.weight", c.VocabSize, h)
	}
	return names, shape
}

// New builds a model from a configuration and a source of parameter values:
// get(name, shape) returns the float32 data for that parameter. Every
// parameter starts trainable (see Freeze).
func New(c *hf.Config, get func(name string, shape []int) ([]float32, error)) (*Model, error) {
	return build(c, func(name string, shape []int) (*tensor.Tensor, error) {
		data, err := get(name, shape)
		if err != nil {
			return nil, err
		}
		return tensor.NewParam(data, shape...), nil
	})
}

// build assembles a model from a source of parameter tensors.
func build(c *hf.Config, get func(name string, shape []int) (*tensor.Tensor, error)) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("head_dim %d is odd: rotary embeddings need an even head size", c.HeadDim)
	}
	inv, err := InvFreq(c)
	if err != nil {
		return nil, err
	}
	names, shape := shapes(c)
	m := &Model{Config: c, names: names, params: map[string]*tensor.Tensor{}, Rope: tensor.NewRopeTable(c.HeadDim, inv)}
	for _, n := range names {
		t, err := get(n, shape[n])
		if err != nil {
			return nil, err
		}
		m.params[n] = t
	}
	p := func(n string) *tensor.Tensor { return m.params[n] }
	m.Embed = p("model.embed_tokens.weight")
	m.Norm = p("model.norm.weight")
	if c.TieWordEmbeddings {
		m.LMHead = m.Embed
	} else {
		m.LMHead = p("lm_head.weight")
	}
	m.Layers = make([]Layer, c.NumHiddenLayers)
	for i := range m.Layers {
		pre := fmt.Sprintf("model.layers.%d.", i)
		lin := func(n string) Linear { return Linear{W: p(pre + n + ".weight"), B: p(pre + n + ".bias")} }
		m.Layers[i] = Layer{
			InputNorm: p(pre + "input_layernorm.weight"),
			PostNorm:  p(pre + "post_attention_layernorm.weight"),
			Q:         lin("self_attn.q_proj"), K: lin("self_attn.k_proj"), V: lin("self_attn.v_proj"), O: lin("self_attn.o_proj"),
			Gate: lin("mlp.gate_proj"), Up: lin("mlp.up_proj"), Down: lin("mlp.down_proj"),
		}
	}
	return m, nil
}

// Load reads a Hugging Face checkpoint folder (config.json and a single or
// sharded safetensors file, in F32, BF16 or F16) into a float32 model.
func Load(dir string) (*Model, error) {
	return load(dir, func(t *hf.Tensor, shape []int) (*tensor.Tensor, bool, error) {
		data, err := t.Float32()
		if err != nil {
			return nil, false, err
		}
		return tensor.NewParam(data, shape...), false, nil
	})
}

// LoadFrozen reads a checkpoint like Load for use without training its
// weights — a reference model, or the base under a LoRA adapter. Every
// parameter is frozen. With bf16, the matrices (embeddings, projections,
// output layer) are held as bfloat16, half the memory of float32: exactly
// the checkpoint's values when it is stored in BF16, rounded to nearest even
// otherwise. Norm weights and biases stay float32.
//
// The BF16 matrices of a BF16 checkpoint are not copied: they are read in
// place from the memory-mapped safetensors files (pages the kernel shares
// with its file cache and can drop and re-read), which stay mapped until
// Close; the files must not be rewritten in place meanwhile (writers that
// replace a file by renaming, as smaug's do, are safe).
func LoadFrozen(dir string, bf16 bool) (*Model, error) {
	return load(dir, func(t *hf.Tensor, shape []int) (*tensor.Tensor, bool, error) {
		if bf16 && len(shape) == 2 {
			if bits, ok := mappedBF16(t); ok {
				return tensor.FromBF16(bits, shape...), true, nil
			}
			// Elsewhere through float32 (exact for BF16 bits).
			data, err := t.Float32()
			if err != nil {
				return nil, false, err
			}
			return tensor.FromBF16(tensor.ToBF16(data), shape...), false, nil
		}
		data, err := t.Float32()
		if err != nil {
			return nil, false, err
		}
		return tensor.FromData(data, shape...), false, nil
	})
}

// mappedBF16 views a BF16 tensor's bytes in the mapped file as bfloat16
// bits, where the machine is little-endian and the bytes are 2-aligned.
func mappedBF16(t *hf.Tensor) ([]uint16, bool) {
	n := t.NumElements()
	if t.DType != "BF16" || n == 0 || len(t.Data) != 2*n || !littleEndian ||
		uintptr(unsafe.Pointer(&t.Data[0]))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), n), true
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// load builds a model from a checkpoint folder, each tensor made by
// convert, which reports whether the tensor reads the mapped file in place
// (the checkpoint then stays open, for Close).
func load(dir string, convert func(t *hf.Tensor, shape []int) (*tensor.Tensor, bool, error)) (*Model, error) {
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	mapped := false
	m, err := build(ck.Config, func(name string, shape []int) (*tensor.Tensor, error) {
		t, err := ck.Tensor(name)
		if err != nil {
			return nil, err
		}
		if !sameShape(t.Shape, shape) {
			return nil, fmt.Errorf("load %s: tensor %s has shape %v, config.json implies %v", dir, name, t.Shape, shape)
		}
		out, inPlace, err := convert(t, shape)
		if err != nil {
			return nil, fmt.Errorf("load %s: tensor %s: %w", dir, name, err)
		}
		mapped = mapped || inPlace
		return out, nil
	})
	if err != nil {
		ck.Close()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if mapped {
		m.mapped = ck
	} else {
		ck.Close()
	}
	return m, nil
}

// Close releases the checkpoint files that LoadFrozen's bfloat16 weights
// read from; the model must not be used afterwards. It does nothing for a
// model that reads no file.
func (m *Model) Close() error {
	if m.mapped == nil {
		return nil
	}
	err := m.mapped.Close()
	m.mapped = nil
	return err
}

// HoldFrozenBF16 converts every frozen matrix (embeddings, projections,
// output layer; not LoRA matrices) to bfloat16 storage, rounding to nearest
// even: LoadFrozen's bf16 layout for a model built in memory.
func (m *Model) HoldFrozenBF16() {
	for _, t := range m.params {
		if !t.RequiresGrad && t.BF16 == nil && len(t.Shape) == 2 {
			t.BF16, t.Data = tensor.ToBF16(t.Data), nil
		}
	}
}

// Save writes the model as a Hugging Face checkpoint folder (config.json,
// safetensors with HF tensor names, sharded past maxShardBytes when that is
// positive) in the given storage dtype ("F32", "BF16" or "F16").
func (m *Model) Save(dir, dtype string, maxShardBytes int64) error {
	ts := make([]hf.WriteTensor, 0, len(m.names))
	for _, p := range m.Params() {
		ts = append(ts, hf.WriteTensor{Name: p.Name, Shape: p.Tensor.Shape, Data: p.Tensor.Float32(), DType: dtype})
	}
	return hf.SaveCheckpoint(dir, m.Config, ts, maxShardBytes)
}

// Freeze marks every parameter as not trainable (a reference model, or the
// base of a LoRA adapter).
func (m *Model) Freeze() {
	for _, t := range m.params {
		t.Freeze()
	}
}

// ZeroGrad clears every parameter's gradient.
func (m *Model) ZeroGrad() {
	for _, t := range m.params {
		t.ZeroGrad()
	}
}

// NumParams is the number of distinct parameter values.
func (m *Model) NumParams() int64 {
	var n int64
	for _, t := range m.params {
		n += int64(t.Len())
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// InvFreq returns the rotary inverse frequencies of the configuration:
// θ^(−2i/d) for i < d/2, then rescaled for rope_scaling "linear" (÷ factor)
// or "llama3" (Llama 3.1's piecewise rule: long wavelengths ÷ factor, short
// ones kept, smooth interpolation between), as transformers computes them.
func InvFreq(c *hf.Config) ([]float64, error) {
	d := c.HeadDim
	inv := make([]float64, d/2)
	for i := range inv {
		// transformers: 1 / base**(arange(0, d, 2).float() / d), in float32.
		e := float32(float32(2*i) / float32(d))
		inv[i] = float64(float32(1 / float32(math.Pow(c.RopeTheta, float64(e)))))
	}
	s := c.RopeScaling
	if s == nil {
		return inv, nil
	}
	switch s.Type {
	case "linear":
		if s.Factor <= 0 {
			return nil, fmt.Errorf("rope_scaling linear: factor %v must be positive", s.Factor)
		}
		for i := range inv {
			inv[i] = float64(float32(inv[i] / s.Factor))
		}
	case "llama3":
		if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositionEmbeddings <= 0 {
			return nil, fmt.Errorf("rope_scaling llama3: need factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0 (got %v, %v, %v, %d)",
				s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositionEmbeddings)
		}
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
				// high frequency: unchanged
			case wave > lowWave:
				inv[i] = f / s.Factor
			default:
				smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
			inv[i] = float64(float32(inv[i]))
		}
	default:
		return nil, fmt.Errorf("rope_scaling type %q is not supported (supported: default, linear, llama3)", s.Type)
	}
	return inv, nil
}
