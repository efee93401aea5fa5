package pref

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// hfExpected is the part of fixtures/hf/*/expected.json this package checks.
type hfExpected struct {
	Beta    float64 `json:"beta"`
	Lambda  float64 `json:"lambda"`
	PerPair []struct {
		PolicyChosen   float64   `json:"policy_chosen_logp"`
		PolicyRejected float64   `json:"policy_rejected_logp"`
		RefChosen      float64   `json:"ref_chosen_logp"`
		RefRejected    float64   `json:"ref_rejected_logp"`
		RewardChosen   float64   `json:"reward_chosen"`
		RewardRejected float64   `json:"reward_rejected"`
		ChosenTokens   []float64 `json:"chosen_token_logps"`
		RejectedTokens []float64 `json:"rejected_token_logps"`
		DPO            float64   `json:"dpo"`
		DPOP           float64   `json:"dpop"`
		IPO            float64   `json:"ipo"`
		Hinge          float64   `json:"hinge"`
		SFT            float64   `json:"sft"`
	} `json:"per_pair"`
	MeanLoss map[string]float64 `json:"mean_loss"`
}

// TestHFFixtures reproduces the per-pair and mean dpo, dpop, ipo, hinge and
// sft losses that transformers + torch (float32) computed for the tiny Llama
// and Qwen2 fixtures, within 1e-5 absolute.
func TestHFFixtures(t *testing.T) {
	for _, model := range []string{"llama", "qwen2"} {
		t.Run(model, func(t *testing.T) {
			path := sharedtest.Path(t, "fixtures/hf/"+model+"/expected.json")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want hfExpected
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(want.PerPair) == 0 {
				t.Fatalf("%s: no per_pair entries", path)
			}
			pairs := make([]Pair, len(want.PerPair))
			for i, w := range want.PerPair {
				pairs[i] = Pair{
					PolicyChosen: w.PolicyChosen, PolicyRejected: w.PolicyRejected,
					RefChosen: w.RefChosen, RefRejected: w.RefRejected,
					ChosenLen: len(w.ChosenTokens), RejectedLen: len(w.RejectedTokens),
				}
			}
			for _, loss := range []string{"dpo", "dpop", "ipo", "hinge", "sft"} {
				s := Spec{Losses: []string{loss}, Beta: want.Beta}
				if loss == "dpop" {
					s.DPOPLambda = want.Lambda
				}
				res, err := s.Batch(pairs, nil)
				if err != nil {
					t.Fatalf("%s: %v", loss, err)
				}
				for i, w := range want.PerPair {
					exp := map[string]float64{"dpo": w.DPO, "dpop": w.DPOP, "ipo": w.IPO, "hinge": w.Hinge, "sft": w.SFT}[loss]
					if math.Abs(res.Losses[i]-exp) > 1e-5 {
						t.Errorf("pair %d %s: %.8g, fixture %.8g", i, loss, res.Losses[i], exp)
					}
				}
				if exp, ok := want.MeanLoss[loss]; !ok {
					t.Errorf("mean_loss.%s missing from %s", loss, path)
				} else if math.Abs(res.Loss-exp) > 1e-5 {
					t.Errorf("mean %s: %.8g, fixture %.8g", loss, res.Loss, exp)
				}
			}
			// The fixture's rewards are β·ρ, which Metrics averages.
			m := NewMetrics(Spec{Losses: []string{"dpo"}, Beta: want.Beta})
			var rc, rr float64
			for i, w := range want.PerPair {
				m.Add(pairs[i], 0)
				rc += w.RewardChosen / float64(len(pairs))
				rr += w.RewardRejected / float64(len(pairs))
			}
			v := m.Values()
			if math.Abs(v["rewards/chosen"]-rc) > 1e-5 || math.Abs(v["rewards/rejected"]-rr) > 1e-5 {
				t.Errorf("rewards %v / %v, fixture %v / %v", v["rewards/chosen"], v["rewards/rejected"], rc, rr)
			}
		})
	}
}
