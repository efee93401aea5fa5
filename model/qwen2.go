package model

import "github.com/smaug-dev/smaug/hf"

func init() { Register("Qwen2ForCausalLM", qwen2{}) }

// qwen2 is Qwen2ForCausalLM: Llama's parameter names and block, with biases
// on the q/k/v projections (always) and none on o_proj or the MLP.
type qwen2 struct{ llama }

// CheckConfig: a SwiGLU MLP, q/k/v biases and no others, and no sliding
// window (use_sliding_window true is refused).
func (qwen2) CheckConfig(c *hf.Config, _ func(string)) error {
	if err := checkSwiGLU(c); err != nil {
		return err
	}
	if !c.QKVBias || c.OBias {
		return c.FieldError("attention_bias", "Qwen2 always has q/k/v biases and no o bias; got q/k/v %v, o %v", c.QKVBias, c.OBias)
	}
	if c.MLPBias {
		return c.FieldError("mlp_bias", "Qwen2 has no MLP biases")
	}
	if on, _ := c.Raw["use_sliding_window"].(bool); on {
		return c.FieldError("use_sliding_window", "sliding-window attention is not supported for Qwen2")
	}
	if c.SlidingWindow != 0 {
		return c.FieldError("sliding_window", "sliding-window attention is not supported for Qwen2")
	}
	return nil
}
