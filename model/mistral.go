package model

import (
	"fmt"

	"github.com/smaug-dev/smaug/hf"
)

func init() { Register("MistralForCausalLM", mistral{}) }

// mistral is MistralForCausalLM: Llama's parameter names and block, without
// any bias, and with sliding_window (hf.Config.SlidingWindow, 0 = none):
// each position attends to at most the last sliding_window positions.
type mistral struct{ llama }

// CheckConfig: a SwiGLU MLP and no biases. A sliding window shorter than the
// context is not applied by attention yet; warn says so, since sequences
// longer than the window then differ from transformers.
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
	if w := c.SlidingWindow; w > 0 && w < c.MaxPositionEmbeddings {
		warn(fmt.Sprintf("config.json: sliding_window %d is not applied: every position attends to all earlier ones, so sequences longer than %d tokens differ from transformers", w, w))
	}
	return nil
}
