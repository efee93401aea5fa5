package model

import (
	"math"
	"strings"
	"testing"
)

// TestSamplingValidate checks every out-of-range sampling setting is an
// error naming the setting, and that the documented edge values pass.
func TestSamplingValidate(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		s    Sampling
		want string // "" for valid
	}{
		{Sampling{}, ""},
		{Sampling{Temperature: 0.7, TopK: 40, TopP: 0.9}, ""},
		{Sampling{Temperature: 1, TopP: 1}, ""},
		{Sampling{Temperature: -0.1}, "temperature must be a finite number ≥ 0 (0 is greedy), got -0.1"},
		{Sampling{Temperature: nan}, "temperature must be a finite number ≥ 0 (0 is greedy), got NaN"},
		{Sampling{Temperature: inf}, "temperature must be a finite number ≥ 0 (0 is greedy), got +Inf"},
		{Sampling{TopK: -1}, "top-k must be ≥ 0 (0 keeps every token), got -1"},
		{Sampling{TopP: 1.5}, "top-p must be in [0, 1], got 1.5"},
		{Sampling{TopP: -0.5}, "top-p must be in [0, 1], got -0.5"},
		{Sampling{TopP: nan}, "top-p must be in [0, 1], got NaN"},
	} {
		err := c.s.Validate()
		if (c.want == "") != (err == nil) || err != nil && err.Error() != c.want {
			t.Errorf("%+v: got %v, want %q", c.s, err, c.want)
		}
	}
	if err := finiteLogits([]float32{0, 1, float32(math.Inf(-1))}, 7); err == nil ||
		!strings.Contains(err.Error(), "non-finite logit (-Inf for token 2) at position 7") {
		t.Errorf("finiteLogits: got %v", err)
	}
	if err := finiteLogits([]float32{0, -1e30, 3}, 0); err != nil {
		t.Errorf("finite logits refused: %v", err)
	}
}
