package pref

import (
	"math"
	"strings"
	"testing"
)

func TestBatchMeanAndGrads(t *testing.T) {
	s := Spec{Losses: []string{"dpop", "sft"}, Weights: []float64{1, 0.1}, Beta: 0.3, DPOPLambda: 50}
	res, err := s.Batch(testPairs, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(testPairs))
	var mean float64
	for i, p := range testPairs {
		want := refLoss("dpop", s, p) + 0.1*refLoss("sft", s, p)
		mean += want / n
		if math.Abs(res.Losses[i]-want) > 1e-12*math.Max(1, want) {
			t.Errorf("pair %d: loss %v, want %v", i, res.Losses[i], want)
		}
		// The gradient of the mean is the pair's gradient over n; check it
		// against finite differences of the mean loss.
		fd := finiteDiff(s, p, 1e-5)
		if math.Abs(res.Grads[i].Chosen-fd.Chosen/n) > 1e-6*math.Max(1, math.Abs(fd.Chosen/n)) ||
			math.Abs(res.Grads[i].Rejected-fd.Rejected/n) > 1e-6*math.Max(1, math.Abs(fd.Rejected/n)) {
			t.Errorf("pair %d: grad %v, finite differences / n %v %v", i, res.Grads[i], fd.Chosen/n, fd.Rejected/n)
		}
	}
	if math.Abs(res.Loss-mean) > 1e-12*mean {
		t.Errorf("mean loss %v, want %v", res.Loss, mean)
	}
}

func TestBatchErrors(t *testing.T) {
	good := testPairs[0]
	nan := good
	nan.RefRejected = math.NaN()
	noLen := good
	noLen.RejectedLen = 0
	posLogp := good
	posLogp.PolicyChosen, posLogp.ChosenLen = 0, 3
	tests := []struct {
		name  string
		spec  Spec
		pairs []Pair
		want  string
	}{
		{"empty", Spec{Losses: []string{"dpo"}, Beta: 0.1}, nil, "no pairs"},
		{"invalid spec", Spec{Losses: []string{"dpo"}}, testPairs, "Beta = 0"},
		{"NaN reference", Spec{Losses: []string{"dpo"}, Beta: 0.1}, []Pair{good, nan}, "pair 1: RefRejected = NaN"},
		{"missing length", Spec{Losses: []string{"ipo"}, Beta: 0.1}, []Pair{noLen}, "pair 0: RejectedLen = 0"},
		{"orpo at log-prob 0", Spec{Losses: []string{"orpo"}, Beta: 0.1}, []Pair{good, good, posLogp}, "pair 2: PolicyChosen = 0"},
		{"bco without state", Spec{Losses: []string{"bco_pair"}, Beta: 0.1}, testPairs, "needs a RunningMean"},
	}
	for _, tt := range tests {
		_, err := tt.spec.Batch(tt.pairs, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	// Reference-free losses accept missing reference log-probs, and sft
	// needs only the chosen length.
	free := good
	free.RefChosen, free.RefRejected, free.RejectedLen = math.NaN(), math.NaN(), 0
	if _, err := (Spec{Losses: []string{"sft"}, Beta: 0.1}).Batch([]Pair{free}, nil); err != nil {
		t.Errorf("sft without reference or rejected length: %v", err)
	}
}

// TestBatchBCORunningMean follows TRL's order: the running mean is updated
// with the batch's mean reward (over β·ρ_w and β·ρ_l of all pairs) before the
// loss uses it, and averages the batch means with weight 1 each.
func TestBatchBCORunningMean(t *testing.T) {
	s := Spec{Losses: []string{"bco_pair"}, Beta: 0.3}
	var run RunningMean
	batches := [][]Pair{testPairs[:2], testPairs[2:]}
	var means []float64
	for _, b := range batches {
		var sum float64
		for _, p := range b {
			sum += 0.3*(p.PolicyChosen-p.RefChosen) + 0.3*(p.PolicyRejected-p.RefRejected)
		}
		means = append(means, sum/float64(2*len(b)))
	}
	// Batch 1: ρ = (−0.5, −1.2), (0.9, −0.5): mean reward 0.3·(−1.3)/4.
	if math.Abs(means[0]-0.3*(-1.3)/4) > 1e-12 {
		t.Fatalf("hand value of batch 1's mean reward: %v", means[0])
	}
	for k, b := range batches {
		res, err := s.Batch(b, &run)
		if err != nil {
			t.Fatal(err)
		}
		wantDelta := means[0]
		if k == 1 {
			wantDelta = (means[0] + means[1]) / 2
		}
		if run.Count != k+1 || math.Abs(run.Mean-wantDelta) > 1e-12 {
			t.Errorf("after batch %d: running mean %+v, want mean %v count %d", k, run, wantDelta, k+1)
		}
		withDelta := s
		withDelta.BCODelta = wantDelta
		for i, p := range b {
			if want := refLoss("bco_pair", withDelta, p); math.Abs(res.Losses[i]-want) > 1e-12 {
				t.Errorf("batch %d pair %d: %v, want %v", k, i, res.Losses[i], want)
			}
		}
	}
}
