package optim

import (
	"math"
	"strings"
)

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ with the L2 norm: it returns
// the global norm of all gradients before clipping and, when
// maxNorm/(norm + 1e-6) < 1, multiplies every gradient by that coefficient.
// The norm is accumulated in float64. maxNorm ≤ 0 only measures (the HF
// Trainer does not clip then). Unlike torch, a non-finite norm leaves the
// gradients unchanged; the caller should skip the step.
func ClipGradNorm(params []*Param, maxNorm float64) (total float64) {
	var sum float64
	for _, p := range params {
		for _, g := range p.Grad {
			sum += float64(g) * float64(g)
		}
	}
	total = math.Sqrt(sum)
	if maxNorm <= 0 || math.IsNaN(total) || math.IsInf(total, 0) {
		return total
	}
	coef := maxNorm / (total + 1e-6)
	if coef < 1 {
		c := float32(coef)
		for _, p := range params {
			for i := range p.Grad {
				p.Grad[i] *= c
			}
		}
	}
	return total
}

// NoDecay reports whether the HF Trainer exempts the named parameter from
// weight decay. transformers' Trainer.get_decay_parameter_names matches the
// lower-cased name against the patterns bias, layernorm, rmsnorm,
// (?:^|\.)norm(?:$|\.) and _norm(?:$|\.): biases, the Llama family's
// input_layernorm / post_attention_layernorm weights, the final model.norm
// and q_norm / k_norm. Embeddings and lm_head are decayed.
func NoDecay(name string) bool {
	n := strings.ToLower(name)
	if strings.Contains(n, "bias") || strings.Contains(n, "layernorm") || strings.Contains(n, "rmsnorm") {
		return true
	}
	for _, part := range strings.Split(n, ".") {
		if part == "norm" || strings.HasSuffix(part, "_norm") {
			return true
		}
	}
	return false
}
