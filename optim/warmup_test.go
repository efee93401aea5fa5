package optim

import "testing"

// TestWarmup: WarmupSteps wins; otherwise ⌈WarmupRatio × total⌉, as the HF
// Trainer's get_warmup_steps (hand-computed).
func TestWarmup(t *testing.T) {
	for _, tc := range []struct {
		steps int
		ratio float64
		total int
		want  int
	}{
		{0, 0, 100, 0}, {4, 0.5, 100, 4}, {0, 0.1, 25, 3}, {0, 0.1, 30, 3}, {0, 0.5, 3, 2}, {0, 1, 7, 7},
	} {
		if got := (Settings{WarmupSteps: tc.steps, WarmupRatio: tc.ratio}).Warmup(tc.total); got != tc.want {
			t.Errorf("WarmupSteps %d, WarmupRatio %g, %d steps: %d warm-up steps, want %d", tc.steps, tc.ratio, tc.total, got, tc.want)
		}
	}
	s := DefaultSettings(1e-3)
	for _, r := range []float64{-0.1, 1.5} {
		s.WarmupRatio = r
		if s.Validate() == nil {
			t.Errorf("WarmupRatio %g accepted", r)
		}
	}
}
