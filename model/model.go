// Package model implements the Llama family of causal language models on
// top of package tensor: loading and saving Hugging Face checkpoints with
// their tensor names unchanged, the batched right-padded forward and
// backward, per-sequence log-probs of completions given prompts (sequences
// packed without padding, common prefixes run once, a fused chunked output
// layer), KV-cache decoding (with Mistral's sliding window), per-layer
// activation recomputation (GradientCheckpointing), and LoRA adapters as
// PEFT computes, loads and saves them (lora.go, peft.go).
//
// Each architecture lives in its own file behind a registry (Register,
// Arch): llama.go (LlamaForCausalLM — Yi and Smaug checkpoints are Llama),
// mistral.go (MistralForCausalLM) and qwen2.go (Qwen2ForCausalLM), each
// with its config rules, parameter names and decoder block. CheckConfig is
// the one check that a config.json is one the model can run; Load runs it,
// and compares the checkpoint's tensor table with the config, before
// allocating anything (load.go).
//
// Weights keep Hugging Face names end to end (load, gradients, save), so
// fixtures, adapters and checkpoints line up without translation tables.
package model

import (
	"fmt"
	"io"
	"math"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// Linear is a projection with Hugging Face's [out, in] weight, an optional
// bias and an optional LoRA adapter (see AttachLoRA).
type Linear struct {
	W, B *tensor.Tensor
	// LoRA is nil for a plain projection.
	LoRA *LoRA

	// compute points at the owning model's ComputeDType (nil: float32).
	compute *dtype.DType
}

// Forward applies the projection to x [rows, in]: W·x + b, plus, with an
// enabled adapter, scaling·B·A·dropout(x) as PEFT's lora.Linear computes it
// (dropout only with a tape). Its matrix products, the adapter's included,
// run in the model's ComputeDType.
func (l *Linear) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	c := dtype.F32
	if l.compute != nil {
		c = *l.compute
	}
	y := tensor.LinearAs(tp, x, l.W, l.B, c)
	a := l.LoRA
	if a == nil || a.shared.disabled {
		return y
	}
	h := tensor.Dropout(tp, x, a.Dropout, a.shared.rng)
	d := tensor.LinearAs(tp, tensor.LinearAs(tp, h, a.A, nil, c), a.B, nil, c)
	return tensor.AddInPlace(tp, d, a.Scaling, y) // y: read by nothing else
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
	// Padded makes LogProbs lay the sequences out as trainers without
	// packing do (TRL's default): each whole in a row of its own,
	// right-padded to the batch's longest, the padding positions run
	// through every layer (attention gives them a zero output and no
	// query sees them). It takes effect with NoSharePrefix only: shared
	// prefixes are laid out packed, as a prefix tree. Same results, more
	// work; for measuring what packing saves.
	Padded bool
	// UnfusedOutput makes LogProbs compute the output layer as trainers
	// without a fused one do (TRL): the logits of every position run, all
	// at once (tensor.Linear), then the log-softmax of the target tokens
	// (tensor.LogSoftmaxGather), so the whole [positions × vocab] logits
	// and their gradient exist. Same results, more work and memory; for
	// measuring what the fused layer saves. OutputChunk is then unused.
	UnfusedOutput bool
	// ComputeDType is the precision of the matrix products of every
	// projection (attention, MLP, LoRA adapters) and of the output layer,
	// forward and backward, as torch autocast sets it: F32 (the zero value)
	// or BF16, whose products take bfloat16-rounded operands and sum in
	// float32 (tensor.LinearAs). Weights, gradients, norms, RoPE,
	// attention scores and softmax, log-softmax and every activation stay
	// float32. Frozen bfloat16 weights go to the bfloat16 product as
	// stored. Any other value panics at the first forward (CheckCompute
	// reports it as an error).
	ComputeDType dtype.DType

	arch   Arch
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

// New builds a model from a configuration and a source of parameter values:
// get(name, shape) returns the float32 data for that parameter. Every
// parameter starts trainable (see Freeze). The configuration must pass
// CheckConfig.
func New(c *hf.Config, get func(name string, shape []int) ([]float32, error)) (*Model, error) {
	a, err := checkConfig(c, nil)
	if err != nil {
		return nil, err
	}
	return build(c, a, a.Params(c), func(name string, shape []int) (*tensor.Tensor, error) {
		data, err := get(name, shape)
		if err != nil {
			return nil, err
		}
		if len(data) != numel(shape) {
			return nil, fmt.Errorf("parameter %s: got %d values, shape %v needs %d", name, len(data), shape, numel(shape))
		}
		return tensor.NewParam(data, shape...), nil
	})
}

// build assembles a model of architecture a from its parameters ps (a's
// Params for c, c checked), each made by get.
func build(c *hf.Config, a Arch, ps []ParamShape, get func(name string, shape []int) (*tensor.Tensor, error)) (*Model, error) {
	inv, err := InvFreq(c)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: c, arch: a, params: map[string]*tensor.Tensor{}, Rope: tensor.NewRopeTable(c.HeadDim, inv)}
	for _, ps := range ps {
		t, err := get(ps.Name, ps.Shape)
		if err != nil {
			return nil, err
		}
		m.names = append(m.names, ps.Name)
		m.params[ps.Name] = t
	}
	wireLlama(m)
	return m, nil
}

// CheckCompute reports whether d is a compute dtype a model runs in
// (ComputeDType): F32 or BF16.
func CheckCompute(d dtype.DType) error {
	if d != dtype.F32 && d != dtype.BF16 {
		return fmt.Errorf("compute dtype %v: want F32 or BF16", d)
	}
	return nil
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
