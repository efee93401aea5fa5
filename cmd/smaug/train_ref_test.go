package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// TestTrainReferenceOnTheFly checks the two ways of getting reference
// log-probs against each other: cached once before training (the default)
// and computed each step with --precompute-ref=false, for the three kinds
// of reference (a --ref-model, the starting weights, and with LoRA the base
// with the adapter off). Every metric of every step must agree within 1e-4
// (the log-probs are float32 sums of up to 30 terms near −6, scored in
// differently padded batches, so a few ulps of 1e-5 may separate them;
// measured: equal). With the
// starting weights as the reference the first step's rewards are 0 within
// 1e-6.
func TestTrainReferenceOnTheFly(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 8, 5, 320, 6, 10, 30)
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"ref-model", []string{"--ref-model", filepath.Join(root, "ref")}},
		{"starting-weights", nil},
		{"lora", []string{"--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := map[string]string{}
			for _, pre := range []string{"true", "false"} {
				out := filepath.Join(dir, tc.name+"-"+pre)
				args := append([]string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
					"--precompute-ref=" + pre, "--lr", "1e-3", "--batch-size", "3", "--max-steps", "4", "--no-progress"}, tc.extra...)
				if msg, err := runCLI(t, args...); err != nil {
					t.Fatalf("--precompute-ref=%s: %v\n%s", pre, err, msg)
				}
				runs[pre] = out
			}
			cached, fly := readMetricRows(t, runs["true"]), readMetricRows(t, runs["false"])
			if len(cached) != 4 || len(fly) != 4 {
				t.Fatalf("%d and %d metric rows, want 4", len(cached), len(fly))
			}
			worst := 0.0
			for i := range cached {
				for k, v := range cached[i] {
					if timingMetrics[k] {
						continue
					}
					a, _ := v.(float64)
					b, ok := fly[i][k].(float64)
					if !ok || math.Abs(a-b) > 1e-4 {
						t.Errorf("step %d: %s = %v cached, %v on the fly", i+1, k, v, fly[i][k])
					}
					worst = math.Max(worst, math.Abs(a-b))
				}
			}
			t.Logf("largest difference cached vs on the fly: %.2g", worst)
			if tc.name != "ref-model" {
				for _, rows := range [][]map[string]any{cached, fly} {
					for _, k := range []string{"rewards/chosen", "rewards/rejected"} {
						if v := rows[0][k].(float64); math.Abs(v) > 1e-6 {
							t.Errorf("first step %s = %g; want 0 (the policy is its reference)", k, v)
						}
					}
				}
			}
		})
	}
}
