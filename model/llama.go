package model

import (
	"fmt"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

func init() { Register("LlamaForCausalLM", llama{}) }

// llama is LlamaForCausalLM (Llama 1–3, Yi, Smaug): pre-norm blocks of
// grouped-query attention with RoPE and a SwiGLU MLP, optional biases on
// all four attention projections together (attention_bias) and on the MLP
// (mlp_bias). Mistral and Qwen2 reuse its parameter names and block.
type llama struct{}

// layerPrefix starts the names of decoder layer i's parameters.
const layerPrefix = "model.layers."

// checkSwiGLU refuses an MLP activation other than silu: the block of the
// Llama family is SwiGLU.
func checkSwiGLU(c *hf.Config) error {
	if c.HiddenAct != "silu" {
		return c.FieldError("hidden_act", "unsupported activation %q (only silu)", c.HiddenAct)
	}
	return nil
}

// CheckConfig: the MLP is SwiGLU (silu), attention_bias sets the q/k/v and o
// biases together, and there is no sliding window.
func (llama) CheckConfig(c *hf.Config, _ func(string)) error {
	if err := checkSwiGLU(c); err != nil {
		return err
	}
	if c.QKVBias != c.OBias {
		return c.FieldError("attention_bias", "Llama sets q/k/v and o biases together; got q/k/v %v, o %v", c.QKVBias, c.OBias)
	}
	if c.SlidingWindow != 0 {
		return c.FieldError("sliding_window", "Llama has no sliding window (got %d)", c.SlidingWindow)
	}
	return nil
}

// Params lists the Llama-family parameters with c's biases: the embedding,
// per layer the attention and MLP projections and the two norms, the
// final norm and, untied, lm_head.
func (llama) Params(c *hf.Config) []ParamShape {
	var out []ParamShape
	add := func(name string, shape ...int) { out = append(out, ParamShape{name, shape}) }
	h, inter := c.HiddenSize, c.IntermediateSize
	qd, kvd := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	proj := func(p string, out, in int, bias bool) {
		add(p+".weight", out, in)
		if bias {
			add(p+".bias", out)
		}
	}
	add("model.embed_tokens.weight", c.VocabSize, h)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("%s%d.", layerPrefix, i)
		proj(p+"self_attn.q_proj", qd, h, c.QKVBias)
		proj(p+"self_attn.k_proj", kvd, h, c.QKVBias)
		proj(p+"self_attn.v_proj", kvd, h, c.QKVBias)
		proj(p+"self_attn.o_proj", h, qd, c.OBias)
		proj(p+"mlp.gate_proj", inter, h, c.MLPBias)
		proj(p+"mlp.up_proj", inter, h, c.MLPBias)
		proj(p+"mlp.down_proj", h, inter, c.MLPBias)
		add(p+"input_layernorm.weight", h)
		add(p+"post_attention_layernorm.weight", h)
	}
	add("model.norm.weight", h)
	if !c.TieWordEmbeddings {
		add("lm_head.weight", c.VocabSize, h)
	}
	return out
}

// wireLlama points m's Embed, Layers, Norm and LMHead at its parameters,
// by their Llama-family names.
func wireLlama(m *Model) {
	p := func(n string) *tensor.Tensor { return m.params[n] }
	m.Embed = p("model.embed_tokens.weight")
	m.Norm = p("model.norm.weight")
	if m.Config.TieWordEmbeddings {
		m.LMHead = m.Embed
	} else {
		m.LMHead = p("lm_head.weight")
	}
	m.Layers = make([]Layer, m.Config.NumHiddenLayers)
	for i := range m.Layers {
		pre := fmt.Sprintf("%s%d.", layerPrefix, i)
		lin := func(n string) Linear {
			return Linear{W: p(pre + n + ".weight"), B: p(pre + n + ".bias"), compute: &m.ComputeDType}
		}
		m.Layers[i] = Layer{
			InputNorm: p(pre + "input_layernorm.weight"),
			PostNorm:  p(pre + "post_attention_layernorm.weight"),
			Q:         lin("self_attn.q_proj"), K: lin("self_attn.k_proj"), V: lin("self_attn.v_proj"), O: lin("self_attn.o_proj"),
			Gate: lin("mlp.gate_proj"), Up: lin("mlp.up_proj"), Down: lin("mlp.down_proj"),
		}
	}
}

// Block is LlamaDecoderLayer: x + attention(RMSNorm(x)), then
// x + down(silu(gate(h))·up(h)) with h = RMSNorm(x).
func (llama) Block(tp *tensor.Tape, m *Model, l *Layer, x *tensor.Tensor, s *Span) *tensor.Tensor {
	eps := m.Config.RMSNormEps
	// The residual sums are made in the projections' outputs, which
	// nothing else reads.
	x = tensor.AddInPlace(tp, x, 1, s.Attention(tp, m, l, tensor.RMSNorm(tp, x, l.InputNorm, eps)))
	h := tensor.RMSNorm(tp, x, l.PostNorm, eps)
	mlp := l.Down.Forward(tp, tensor.SwiGLU(tp, l.Gate.Forward(tp, h), l.Up.Forward(tp, h)))
	return tensor.AddInPlace(tp, x, 1, mlp)
}
