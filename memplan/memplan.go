// Package memplan estimates the peak memory of a training run before
// anything is loaded, from the model's config.json and the shape of the
// largest micro-batch alone, and reads how much memory the machine (or the
// container's cgroup) has available. It owns the accounting of what the
// engine keeps in memory while it trains — weights by dtype, gradients,
// AdamW moments, the reference, the activations on the tape (all of them,
// or with gradient checkpointing one tensor a layer plus one layer's
// recomputation), and the fused output layer's chunks of logits — and the
// list of cheaper configurations ([Plan.Suggestions]) offered when a run
// will not fit.
//
// The formula counts the tensors the engine allocates (package tensor's
// tape keeps the outputs a backward needs until the step ends, and one
// decoder layer's gradients at a time; see [Plan.Estimate]); it was
// checked against the peak resident memory (VmHWM) of smaug bench train on
// the small and smol135m shapes, full and LoRA, with and without
// checkpointing (README: "Memory estimate").
package memplan

import (
	"fmt"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// Reference is how the reference model of a preference loss is held.
type Reference int

// The ways of holding the reference.
const (
	// RefNone: no reference (SFT, or a reference-free loss).
	RefNone Reference = iota
	// RefCached: its log-probs are computed once before training (by the
	// starting weights, or the base with the adapter off) and read from
	// the run folder; no reference weights while training.
	RefCached
	// RefFrozenCopy: a second model held in memory (in bfloat16 with
	// BaseBF16) and scored at every step.
	RefFrozenCopy
	// RefAdapterOff: with LoRA, the base with the adapter switched off,
	// scored at every step (no second copy of the weights).
	RefAdapterOff
)

func (r Reference) String() string {
	return [...]string{"none", "cached log-probs", "frozen copy", "adapter off"}[r]
}

// Plan is what decides a run's memory: the model's shape, what is trained
// and how, and the largest micro-batch.
type Plan struct {
	// Model is the model's config.json.
	Model *hf.Config
	// LoRARank is the adapter's rank (0: full fine-tuning) and LoRATargets
	// the adapted projections (PEFT names, or "all-linear").
	LoRARank    int
	LoRATargets []string
	// BaseBF16 holds frozen weights (the base under LoRA, a reference
	// copy) in bfloat16.
	BaseBF16 bool
	// Reference is how the reference is held.
	Reference Reference
	// GradientCheckpointing recomputes each layer's activations in the
	// backward.
	GradientCheckpointing bool
	// Sequences is the number of sequences in a micro-batch (two per
	// preference pair, one per SFT example).
	Sequences int
	// PerExample is the number of sequences of one example: 2 for
	// preference pairs, 1 for SFT (0 counts as 1).
	PerExample int
	// SeqLen is the padded length, in tokens, of the longest micro-batch.
	SeqLen int
	// CompletionTokens is the number of tokens of the largest micro-batch
	// that go through the output layer (the completions' tokens).
	CompletionTokens int
}

// Estimate is a peak-memory estimate in bytes, by part.
type Estimate struct {
	// Weights are the policy's weights (F32; with LoRA the base as held,
	// plus the adapter).
	Weights int64
	// Gradients are the trainable parameters' gradient buffers (F32).
	Gradients int64
	// Optimizer is AdamW's two moments per trainable parameter (F32).
	Optimizer int64
	// Reference is a frozen reference copy, and the inference arena that
	// scores the reference at every step.
	Reference int64
	// Activations are what the tape keeps through the decoder layers
	// between the forward and the backward, and the gradients the
	// backward makes.
	Activations int64
	// Logits are the fused output layer's chunks of logits and what it
	// keeps per completion token.
	Logits int64
	// Runtime is the program, the Go runtime and the kernels' work buffers.
	Runtime int64
}

// Total is the estimated peak in bytes.
func (e Estimate) Total() int64 {
	return e.Weights + e.Gradients + e.Optimizer + e.Reference + e.Activations + e.Logits + e.Runtime
}

// String gives the total and its parts in GiB.
func (e Estimate) String() string {
	parts := []struct {
		name string
		v    int64
	}{{"weights", e.Weights}, {"gradients", e.Gradients}, {"AdamW", e.Optimizer}, {"reference", e.Reference},
		{"activations", e.Activations}, {"logits", e.Logits}, {"runtime", e.Runtime}}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (", GiB(e.Total()))
	first := true
	for _, p := range parts {
		if p.v == 0 {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s %s", p.name, GiB(p.v))
	}
	b.WriteString(")")
	return b.String()
}

// GiB formats a byte count in GiB (MiB under 1 GiB).
func GiB(n int64) string {
	if n < 1<<30 {
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// runtimeBytes is the resident memory of the program before any model is
// loaded, with the Go runtime's and the kernels' work buffers, measured as
// the small shape's VmHWM minus its counted tensors.
const runtimeBytes = 48 << 20

// shape are the sizes the estimate needs, from the config.
type shape struct {
	h, inter, layers, vocab, qd, kvd, heads int
	params, linear                          int64 // all parameters; those of 2-D matrices
}

func shapeOf(c *hf.Config) shape {
	hd := c.HeadDim
	if hd == 0 && c.NumAttentionHeads > 0 {
		hd = c.HiddenSize / c.NumAttentionHeads
	}
	kvh := c.NumKeyValueHeads
	if kvh == 0 {
		kvh = c.NumAttentionHeads
	}
	s := shape{h: c.HiddenSize, inter: c.IntermediateSize, layers: c.NumHiddenLayers, vocab: c.VocabSize,
		qd: c.NumAttentionHeads * hd, kvd: kvh * hd, heads: c.NumAttentionHeads}
	h, i := int64(s.h), int64(s.inter)
	perLayer := h*int64(s.qd) + 2*h*int64(s.kvd) + int64(s.qd)*h + 3*h*i
	s.linear = int64(s.layers)*perLayer + int64(s.vocab)*h
	if !c.TieWordEmbeddings {
		s.linear += int64(s.vocab) * h
	}
	s.params = s.linear + int64(s.layers)*2*h + h
	return s
}

// targets returns the output sizes of the projections a LoRA adapter is
// attached to in one layer, and their input sizes.
func (s shape) targets(names []string) (outs, ins []int) {
	dims := map[string][2]int{
		"q_proj": {s.qd, s.h}, "k_proj": {s.kvd, s.h}, "v_proj": {s.kvd, s.h}, "o_proj": {s.h, s.qd},
		"gate_proj": {s.inter, s.h}, "up_proj": {s.inter, s.h}, "down_proj": {s.h, s.inter},
	}
	order := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	want := map[string]bool{}
	for _, n := range names {
		if n == "all-linear" {
			for _, o := range order {
				want[o] = true
			}
			continue
		}
		// "layers.0.mlp.up_proj" and "up_proj" both count as up_proj in every
		// layer: an upper bound for targets naming single layers.
		if k := strings.LastIndex(n, "."); k >= 0 {
			n = n[k+1:]
		}
		want[n] = true
	}
	for _, o := range order {
		if want[o] {
			outs = append(outs, dims[o][0])
			ins = append(ins, dims[o][1])
		}
	}
	return outs, ins
}

// Estimate counts the bytes the engine holds at the peak of a training
// step, the start of the backward (float32 values unless said otherwise):
//
//   - weights: every parameter (2 bytes a value for 2-D matrices held in
//     bfloat16 under LoRA), plus the adapter's A and B;
//   - gradients and AdamW: 4 and 8 bytes per trainable parameter;
//   - reference: a frozen copy's weights, plus the inference arena that
//     scores it (one layer's temporaries, the embedding and the final
//     norm);
//   - activations: per token and layer, the tensors a decoder layer keeps
//     for its backward (the two RMSNorms' outputs, q and k rotated in
//     place, v, attention's output, the two residual sums made in the o
//     and down projections' outputs, gate, up and SwiGLU:
//     4h + 2·q + 2·kv + 3·inter, plus out + r per LoRA target), each
//     layer's input
//     gradient (h), and one layer's gradients (the backward recycles a
//     layer's gradients once it is done: tensor.Segment); with gradient
//     checkpointing, each layer's output and its gradient plus one layer's
//     recomputation with its gradients;
//   - logits: the fused output layer's chunks (tensor.OutputChunkRows rows
//     of logits, the forward's and the backward's), and per completion
//     token its log-prob and log-sum-exp, plus with a frozen output layer
//     (LoRA) the hidden-size row of its gradient;
//   - a fixed runtime overhead.
func (p Plan) Estimate() Estimate {
	s := shapeOf(p.Model)
	var e Estimate
	e.Runtime = runtimeBytes
	lora := p.LoRARank > 0
	outs, ins := s.targets(p.LoRATargets)
	var adapter int64
	if lora {
		for i := range outs {
			adapter += int64(p.LoRARank) * int64(outs[i]+ins[i])
		}
		adapter *= int64(s.layers)
	}
	frozen := 4 * s.params
	if p.BaseBF16 {
		frozen = 4*(s.params-s.linear) + 2*s.linear
	}
	trainable := s.params
	if lora {
		trainable = adapter
		e.Weights = frozen + 4*adapter
	} else {
		e.Weights = 4 * s.params
	}
	e.Gradients = 4 * trainable
	e.Optimizer = 8 * trainable

	tokens := int64(p.Sequences) * int64(p.SeqLen)
	h, layers := int64(s.h), int64(s.layers)
	baseVals := int64(4*s.h + 2*s.qd + 2*s.kvd + 3*s.inter)
	layerVals := baseVals
	if lora {
		for _, o := range outs {
			layerVals += int64(o + p.LoRARank)
		}
	}
	if p.GradientCheckpointing {
		e.Activations = 2*4*tokens*h*layers + 2*4*tokens*layerVals
	} else {
		e.Activations = 4 * tokens * (layers*layerVals + layers*h + layerVals)
	}
	e.Activations += 2 * 4 * tokens * h * 2 // embedding and final norm, with gradients

	comp := int64(p.CompletionTokens)
	chunk := min(int64(tensor.OutputChunkRows(s.vocab)), max(comp, 1))
	e.Logits = 4*chunk*(3*h+2*int64(s.vocab)) + 4*comp*2
	if lora {
		e.Logits += 4 * comp * h
	}

	switch p.Reference {
	case RefFrozenCopy, RefAdapterOff:
		e.Reference = 4 * tokens * (baseVals + 2*h)
		if p.Reference == RefFrozenCopy {
			e.Reference += frozen
		}
	}
	return e
}
