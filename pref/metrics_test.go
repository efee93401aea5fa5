package pref

import (
	"math"
	"testing"
)

func TestMetrics(t *testing.T) {
	// Two pairs, β = 0.5: ρ_w = −1, ρ_l = −3 (reward −0.5 > −1.5, penalty 1)
	// and ρ_w = 2, ρ_l = 4 (reward 1 < 2, no penalty).
	pairs := []Pair{
		{PolicyChosen: -11, PolicyRejected: -13, RefChosen: -10, RefRejected: -10,
			ChosenLen: 2, RejectedLen: 4, ChosenLogitsMean: 1, RejectedLogitsMean: 3},
		{PolicyChosen: -6, PolicyRejected: -4, RefChosen: -8, RefRejected: -8,
			ChosenLen: 6, RejectedLen: 4, ChosenLogitsMean: 5, RejectedLogitsMean: -1},
	}
	losses := []float64{0.25, 0.75}
	tests := []struct {
		name string
		spec Spec
		want map[string]float64
	}{
		{"dpop", Spec{Losses: []string{"dpop"}, Beta: 0.5, DPOPLambda: 50}, map[string]float64{
			"loss":                 0.5,
			"rewards/chosen":       (-0.5 + 1) / 2,
			"rewards/rejected":     (-1.5 + 2) / 2,
			"rewards/margins":      (1 + -1) / 2.0,
			"rewards/accuracies":   0.5,
			"logps/chosen":         -8.5,
			"logps/rejected":       -8.5,
			"logits/chosen":        (2*1 + 6*5) / 8.0,
			"logits/rejected":      (4*3 + 4*-1) / 8.0,
			"dpop/penalty":         0.5,
			"dpop/active_fraction": 0.5,
		}},
		{"simpo (reference-free rewards β·log π/|y|)", Spec{Losses: []string{"simpo"}, Beta: 0.5}, map[string]float64{
			"loss":               0.5,
			"rewards/chosen":     (0.5*-11/2 + 0.5*-6/6) / 2,
			"rewards/rejected":   (0.5*-13/4 + 0.5*-4/4) / 2,
			"rewards/margins":    ((0.5*-11/2 + 0.5*-6/6) - (0.5*-13/4 + 0.5*-4/4)) / 2,
			"rewards/accuracies": 0, // −2.75 < −1.625 and −0.5 = −0.5
			"logps/chosen":       -8.5,
			"logps/rejected":     -8.5,
			"logits/chosen":      4,
			"logits/rejected":    1,
		}},
	}
	for _, tt := range tests {
		m := NewMetrics(tt.spec)
		if v := m.Values(); len(v) != 0 {
			t.Errorf("%s: empty accumulator gives %v", tt.name, v)
		}
		for i, p := range pairs {
			m.Add(p, losses[i])
		}
		got := m.Values()
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d metrics %v, want %d", tt.name, len(got), got, len(tt.want))
		}
		for k, w := range tt.want {
			if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-12 {
				t.Errorf("%s: %s = %v (present %v), want %v", tt.name, k, g, ok, w)
			}
		}
		m.Reset()
		m.Add(pairs[0], 1)
		if v := m.Values(); v["loss"] != 1 || v["logps/chosen"] != -11 {
			t.Errorf("%s: after Reset and one pair: %v", tt.name, v)
		}
	}
}

// TestMetricsKinkIsActive: at ρ_w = 0 the penalty is 0 but its gradient is
// on, so the pair counts as active.
func TestMetricsKinkIsActive(t *testing.T) {
	m := NewMetrics(Spec{Losses: []string{"dpo"}, Beta: 0.1, DPOPLambda: 5})
	m.Add(Pair{PolicyChosen: -3, PolicyRejected: -4, RefChosen: -3, RefRejected: -4, ChosenLen: 1, RejectedLen: 1}, 0)
	v := m.Values()
	if v["dpop/penalty"] != 0 || v["dpop/active_fraction"] != 1 {
		t.Errorf("penalty %v, active %v, want 0 and 1", v["dpop/penalty"], v["dpop/active_fraction"])
	}
}
