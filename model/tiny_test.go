package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/pref"
	"github.com/smaug-dev/smaug/tensor"
)

// The tiny fixture (testdata/tiny, made by testdata/gen_tiny.py with an
// independent float64 torch transcription of the Llama forward) lets the
// core correctness tests run without ../shared.
const tinyDir = "testdata/tiny"

// tinyExpected mirrors testdata/tiny/expected.json.
type tinyExpected struct {
	Sequences  [][]int     `json:"sequences"`
	Logits     [][]float64 `json:"logits"`
	Beta       float64     `json:"beta"`
	DPOPLambda float64     `json:"dpop_lambda"`
	Pairs      []struct {
		Prompt         []int   `json:"prompt"`
		Chosen         []int   `json:"chosen"`
		Rejected       []int   `json:"rejected"`
		RefChosen      float64 `json:"ref_chosen"`
		RefRejected    float64 `json:"ref_rejected"`
		PolicyChosen   float64 `json:"policy_chosen"`
		PolicyRejected float64 `json:"policy_rejected"`
	} `json:"pairs"`
	Loss float64 `json:"loss"`
}

func loadTiny(t *testing.T) (*Model, *tinyExpected) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tinyDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e tinyExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s/expected.json: %v", tinyDir, err)
	}
	return mustLoad(t, tinyDir), &e
}

// TestTinyLogitsMatchTorch: the logits of two sequences of different
// lengths, scored in one right-padded batch, within 1e-4 relative (L2 over
// each sequence's logits) of the torch reference.
func TestTinyLogitsMatchTorch(t *testing.T) {
	m, e := loadTiny(t)
	got, err := m.Logits(e.Sequences)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range e.Logits {
		w := make([]float32, len(want))
		for j, v := range want {
			w[j] = float32(v)
		}
		if len(got[i]) != len(w) {
			t.Fatalf("sequence %d: %d logits, want %d", i, len(got[i]), len(w))
		}
		r := relErr(got[i], w)
		t.Logf("sequence %d: logits relative error %.2e", i, r)
		if r > 1e-4 {
			t.Errorf("sequence %d: logits relative error %.2e > 1e-4", i, r)
		}
	}
}

// TestTinyDPOPGradientMatchesTorch: the policy's sequence log-probs (1e-4
// absolute), the mean DPOP loss of pref (β 0.3, λ 5, the penalty active in
// one pair and not the other; 1e-5 relative) and its gradient with respect
// to every parameter, through the engine's backward, within 1e-3 relative
// per tensor of torch's autograd.
func TestTinyDPOPGradientMatchesTorch(t *testing.T) {
	m, e := loadTiny(t)
	want := readTensors(t, filepath.Join(tinyDir, "grads_dpop.safetensors"))
	var items []Completion
	for _, p := range e.Pairs {
		items = append(items, Completion{p.Prompt, p.Chosen}, Completion{p.Prompt, p.Rejected})
	}
	tp := tensor.NewTape()
	s, err := m.LogProbs(tp, items)
	if err != nil {
		t.Fatal(err)
	}
	pairs := make([]pref.Pair, len(e.Pairs))
	for i, p := range e.Pairs {
		pc, pr := float64(s.Seq.Data[2*i]), float64(s.Seq.Data[2*i+1])
		if math.Abs(pc-p.PolicyChosen) > 1e-4 || math.Abs(pr-p.PolicyRejected) > 1e-4 {
			t.Errorf("pair %d: log-probs %v, %v; want %v, %v", i, pc, pr, p.PolicyChosen, p.PolicyRejected)
		}
		pairs[i] = pref.Pair{PolicyChosen: pc, PolicyRejected: pr, RefChosen: p.RefChosen, RefRejected: p.RefRejected,
			ChosenLen: len(p.Chosen), RejectedLen: len(p.Rejected)}
	}
	spec := pref.Spec{Losses: []string{"dpop"}, Beta: e.Beta, DPOPLambda: e.DPOPLambda}
	res, err := spec.Batch(pairs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Loss-e.Loss) > 1e-5*math.Abs(e.Loss) {
		t.Errorf("loss %v, want %v", res.Loss, e.Loss)
	}
	seed := make([]float32, 2*len(pairs))
	for i, g := range res.Grads {
		seed[2*i], seed[2*i+1] = float32(g.Chosen), float32(g.Rejected)
	}
	tp.Backward(s.Seq, seed)
	if len(want) != len(m.Params()) {
		t.Errorf("fixture has %d gradients, model %d parameters", len(want), len(m.Params()))
	}
	worst := 0.0
	for _, p := range m.Params() {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("no reference gradient for %s", p.Name)
			continue
		}
		r := relErr(p.Tensor.Grad, w)
		worst = math.Max(worst, r)
		if r > 1e-3 {
			t.Errorf("%s: relative gradient error %.2e > 1e-3", p.Name, r)
		}
	}
	t.Logf("worst per-tensor relative gradient error %.2e", worst)
}
