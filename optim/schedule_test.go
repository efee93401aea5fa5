package optim

import (
	"math"
	"strings"
	"testing"
)

// TestScheduleLR checks transformers' lambdas, worked out by hand for base
// 1e-3, 10 warmup steps and 110 in total (100 after warmup).
func TestScheduleLR(t *testing.T) {
	const base = 1e-3
	tests := []struct {
		kind string
		step int
		want float64
	}{
		{"constant", 0, 0},
		{"constant", 5, base * 0.5},
		{"constant", 10, base},
		{"constant", 1000, base},
		{"constant_with_warmup", 3, base * 0.3},
		{"linear", 0, 0},
		{"linear", 1, base * 0.1},
		{"linear", 10, base},
		{"linear", 35, base * 0.75}, // (110 − 35)/100
		{"linear", 110, 0},
		{"linear", 200, 0},
		{"cosine", 0, 0},
		{"cosine", 9, base * 0.9},
		{"cosine", 10, base},
		{"cosine", 35, base * 0.5 * (1 + math.Sqrt(0.5))}, // progress ¼: ½(1 + cos π/4)
		{"cosine", 60, base * 0.5},                        // half-way
		{"cosine", 85, base * 0.5 * (1 - math.Sqrt(0.5))},
		{"cosine", 110, 0},
		{"cosine", 160, base * 0.5}, // HF does not clamp progress past the end
	}
	for _, tt := range tests {
		s := Schedule{Kind: tt.kind, Warmup: 10, Total: 110, Base: base}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := s.LR(tt.step); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("%s LR(%d) = %.17g, want %.17g", tt.kind, tt.step, got, tt.want)
		}
	}
	// No warmup: constant is HF's get_constant_schedule; the decays start
	// at base.
	for _, kind := range []string{"constant", "linear", "cosine"} {
		s := Schedule{Kind: kind, Total: 4, Base: base}
		if got := s.LR(0); got != base {
			t.Errorf("%s without warmup: LR(0) = %v, want %v", kind, got, base)
		}
	}
	if got := (Schedule{Kind: "linear", Total: 4, Base: base}).LR(1); math.Abs(got-base*0.75) > 1e-15 {
		t.Errorf("linear without warmup: LR(1) = %v, want %v", got, base*0.75)
	}
}

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		s    Schedule
		want string
	}{
		{Schedule{Kind: "polynomial", Total: 10, Base: 1}, `kind "polynomial"`},
		{Schedule{Kind: "linear", Warmup: -1, Total: 10, Base: 1}, "warmup -1"},
		{Schedule{Kind: "linear", Total: 10, Base: math.Inf(1)}, "base learning rate +Inf"},
	}
	for _, tt := range tests {
		if err := tt.s.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", tt.s, err, tt.want)
		}
	}
}
