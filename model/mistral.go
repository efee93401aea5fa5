package model

import "github.com/smaug-dev/smaug/hf"

func init() { Register("MistralForCausalLM", mistral{}) }

// mistral is MistralForCausalLM: Llama's parameter names and block, without
// any bias, and with sliding_window (hf.Config.SlidingWindow, 0 = none):
// each position attends to at most the last sliding_window positions.
type mistral struct{ llama }

// CheckConfig: a SwiGLU MLP and no biases. The sliding window is applied by
// attention (Span.Attention), in training and in KV-cache decoding.
func (mistral) CheckConfig(c *hf.Config, warn func(string)) error {
	if err := checkSwiGLU(c); err != nil {
		return err
	}
	if c.QKVBias || c.OBias {
		return c.FieldError("attention_bias", "Mistral attention has no biases")
	}
	if c.MLPBias {
		return c.FieldError("mlp_bias", "Mistral has no MLP biases")
	}
	return nil
}
