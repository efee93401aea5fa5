package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// TestTrainMetricsMatchFixture runs `smaug train` for one step on the
// fixture's three pairs as one batch (policy/ and ref/, β 0.3, λ 50) with
// each loss the fixture has, and compares the first metrics row (computed
// before the update) with expected.json: loss = mean_loss within 1e-5
// (1.6e-4 for dpop, whose loss moves by up to βλ = 15 times the float32
// rounding of the log-probs); rewards, margins, accuracies, log-probs and
// the DPOP penalty and its active fraction from per_pair within 1e-5 (for
// sft, reference-free, the log-probs only); and for dpo and dpop the
// grad_norm (before clipping) with the L2 norm of grads_<loss>.safetensors
// within 1e-4 relative.
func TestTrainMetricsMatchFixture(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		root := sharedtest.Path(t, "fixtures/hf/"+fam)
		b, err := os.ReadFile(filepath.Join(root, "expected.json"))
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			PerPair []struct {
				PolicyChosen   float64 `json:"policy_chosen_logp"`
				PolicyRejected float64 `json:"policy_rejected_logp"`
				RefChosen      float64 `json:"ref_chosen_logp"`
				RewardChosen   float64 `json:"reward_chosen"`
				RewardRejected float64 `json:"reward_rejected"`
			} `json:"per_pair"`
			MeanLoss map[string]float64 `json:"mean_loss"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		n := float64(len(e.PerPair))
		want := map[string]float64{}
		for _, p := range e.PerPair {
			want["rewards/chosen"] += p.RewardChosen / n
			want["rewards/rejected"] += p.RewardRejected / n
			want["rewards/margins"] += (p.RewardChosen - p.RewardRejected) / n
			if p.RewardChosen > p.RewardRejected {
				want["rewards/accuracies"] += 1 / n
			}
			want["logps/chosen"] += p.PolicyChosen / n
			want["logps/rejected"] += p.PolicyRejected / n
			if rho := p.PolicyChosen - p.RefChosen; rho <= 0 {
				want["dpop/penalty"] -= rho / n
				want["dpop/active_fraction"] += 1 / n
			}
		}
		dir := t.TempDir()
		data := filepath.Join(dir, "pairs.jsonl")
		writeFixturePairs(t, root, data)
		for _, loss := range []string{"dpop", "dpo", "ipo", "hinge", "sft"} {
			t.Run(fam+"/"+loss, func(t *testing.T) {
				out := filepath.Join(dir, loss)
				if msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--ref-model", filepath.Join(root, "ref"),
					"--data", data, "--output", out, "--loss", loss, "--beta", "0.3", "--batch-size", "3", "--max-steps", "1", "--no-progress"); err != nil {
					t.Fatalf("smaug train: %v\n%s", err, msg)
				}
				row := readMetricRows(t, out)[0]
				check := func(key string, want, tol float64) {
					got, ok := row[key].(float64)
					if !ok {
						t.Errorf("no %s in the metrics", key)
					} else if math.Abs(got-want) > tol {
						t.Errorf("%s = %.7g, fixture %.7g", key, got, want)
					}
				}
				tol := 1e-5
				if loss == "dpop" {
					tol *= 1 + 0.3*50 // ∂loss/∂logp reaches βλ: float32 log-prob rounding, ×15
				}
				check("loss", e.MeanLoss[loss], tol)
				for k, v := range want {
					if loss == "sft" && k != "logps/chosen" && k != "logps/rejected" {
						continue // sft alone is reference-free: its rewards are β·log π/|y|
					}
					if k == "dpop/penalty" || k == "dpop/active_fraction" {
						if loss != "dpop" {
							if _, ok := row[k]; ok {
								t.Errorf("%s logged for loss %s", k, loss)
							}
							continue
						}
					}
					check(k, v, 1e-5)
				}
				if loss == "dpo" || loss == "dpop" {
					var sq float64
					for _, g := range readAll(t, filepath.Join(root, "grads_"+loss+".safetensors")) {
						for _, v := range g {
							sq += float64(v) * float64(v)
						}
					}
					norm := math.Sqrt(sq)
					check("grad_norm", norm, 1e-4*norm)
				}
			})
		}
	}
}
