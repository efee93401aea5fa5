package train

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestReferenceOnlyForDrawnExamples: with MaxSteps, the reference
// log-probs are computed only for the examples the steps draw (3 steps ×
// 2 micro-batches × 2 examples = the first 12 of epoch 0's order, of 40),
// the log says so, and training is the same as with the reference scored
// on the fly (LoRA, adapter off) to 1e-5.
func TestReferenceOnlyForDrawnExamples(t *testing.T) {
	exs := randomPairs(40, 3, 32)
	cfg := Defaults(Preference)
	cfg.MaxSteps, cfg.BatchSize, cfg.GradAccum = 3, 2, 2
	cfg.LoRA.R, cfg.Optim.LR = 4, 1e-2
	run := func(precompute bool) (map[string][]float32, string, *Trainer) {
		c := cfg
		c.PrecomputeRef = precompute
		c.Output = t.TempDir()
		var log strings.Builder
		tr, err := New(c, Options{Train: exs, Policy: newTiny(t, 1), Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return trainedParams(tr), log.String(), tr
	}
	got, log, tr := run(true)
	want := slices.Sorted(slices.Values(tr.epochOrder(0)[:12]))
	if seen := tr.stepExamples(); !slices.Equal(seen, want) {
		t.Errorf("examples drawn by 3 steps: %v, want %v", seen, want)
	}
	if !strings.Contains(log, "only the 12 of 40 examples drawn in the run's 3 steps") || !strings.Contains(log, "computed for 12 examples") {
		t.Errorf("log does not say the reference covers 12 of 40 examples:\n%s", log)
	}
	ref, _, _ := run(false)
	for name, w := range ref {
		for i := range w {
			if d := math.Abs(float64(got[name][i] - w[i])); d > 1e-5 {
				t.Fatalf("%s[%d]: %g with the precomputed subset, %g on the fly", name, i, got[name][i], w[i])
			}
		}
	}
	// Every example drawn: no subset.
	c := cfg
	c.MaxSteps = 10
	tr2 := &Trainer{Cfg: c, train: exs}
	if s := tr2.stepExamples(); s != nil {
		t.Errorf("10 steps of 4 examples draw all 40, got the subset %v", s)
	}
}
