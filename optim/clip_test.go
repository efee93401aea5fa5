package optim

import (
	"math"
	"testing"
)

func TestClipGradNorm(t *testing.T) {
	// Gradients (3, 4) and (12): global norm √(9 + 16 + 144) = 13.
	tests := []struct {
		maxNorm float64
		scale   float64 // expected factor on every gradient
	}{
		{1, 1 / (13 + 1e-6)},
		{6.5, 6.5 / (13 + 1e-6)},
		{13, 13 / (13 + 1e-6)}, // coefficient < 1 by the 1e-6: torch clips by it
		{100, 1},               // coefficient > 1: untouched
		{0, 1},                 // measure only
	}
	for _, tt := range tests {
		a := &Param{Name: "a", Grad: []float32{3, 4}}
		b := &Param{Name: "b", Grad: []float32{12}}
		total := ClipGradNorm([]*Param{a, b}, tt.maxNorm)
		if total != 13 {
			t.Errorf("max %g: norm %v, want 13", tt.maxNorm, total)
		}
		for i, g := range append(a.Grad, b.Grad...) {
			want := []float64{3, 4, 12}[i] * tt.scale
			if math.Abs(float64(g)-want) > 1e-6*math.Abs(want) {
				t.Errorf("max %g: grad %d = %v, want %v", tt.maxNorm, i, g, want)
			}
		}
		if tt.maxNorm > 0 && tt.maxNorm < 13 {
			if after := ClipGradNorm([]*Param{a, b}, 0); math.Abs(after-tt.maxNorm) > 1e-5 {
				t.Errorf("max %g: norm after clipping %v", tt.maxNorm, after)
			}
		}
	}
}

func TestClipGradNormNonFinite(t *testing.T) {
	a := &Param{Name: "a", Grad: []float32{float32(math.Inf(1)), 1}}
	if total := ClipGradNorm([]*Param{a}, 1); !math.IsInf(total, 1) {
		t.Errorf("norm %v, want +Inf", total)
	}
	if a.Grad[1] != 1 {
		t.Errorf("gradient changed to %v on a non-finite norm", a.Grad[1])
	}
}

func TestNoDecay(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"model.embed_tokens.weight", false},
		{"model.layers.0.self_attn.q_proj.weight", false},
		{"model.layers.0.self_attn.q_proj.bias", true},
		{"model.layers.0.input_layernorm.weight", true},
		{"model.layers.0.post_attention_layernorm.weight", true},
		{"model.layers.0.self_attn.q_norm.weight", true},
		{"model.norm.weight", true},
		{"norm.weight", true},
		{"lm_head.weight", false},
		{"model.layers.0.mlp.down_proj.weight", false},
		{"model.normalizer.weight", false}, // "norm" must be a whole name part
		{"model.RMSNorm.weight", true},
		{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", false},
	}
	for _, tt := range tests {
		if got := NoDecay(tt.name); got != tt.want {
			t.Errorf("NoDecay(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
