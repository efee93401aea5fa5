package contamination

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/smaug-dev/smaug/eval"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// Min-K% by hand: log-probs [-1, -5, -2, -0.5, -3]; k = 0.4 keeps ⌊2⌋ = 2
// lowest, -5 and -3: score 4; k = 0.1 keeps ⌊0.5⌋ → at least 1: 5; k = 1
// is the mean NLL, 11.5/5 = 2.3.
func TestMinKProbByHand(t *testing.T) {
	lp := []float32{-1, -5, -2, -0.5, -3}
	for _, c := range []struct{ k, want float64 }{{0.4, 4}, {0.1, 5}, {1, 2.3}} {
		if got := MinKProb(lp, c.k); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("k=%v: %v, want %v", c.k, got, c.want)
		}
	}
	if got := MeanNLL(lp); got < 2.3-1e-9 || got > 2.3+1e-9 {
		t.Errorf("mean NLL %v, want 2.3", got)
	}
}

func TestPrefixWordsAndFraction(t *testing.T) {
	for _, c := range []struct {
		text, prefix string
		n            int
	}{
		{"a b c d e", "a b", 3},           // ⌈0.4·5⌉ = 2
		{"one  two\tthree", "one two", 1}, // ⌈1.2⌉ = 2
		{"word", "word", 1},               // nothing left: at least one token
	} {
		p, n := PrefixWords(c.text, 0.4)
		if p != c.prefix || n != c.n {
			t.Errorf("%q: %q, %d; want %q, %d", c.text, p, n, c.prefix, c.n)
		}
	}
	if f := FractionBelow([]float64{1, 2, 3, 4}, 3); f != 0.5 {
		t.Errorf("fraction %v, want 0.5 (ties do not count)", f)
	}
}

// random.seed(0); random.shuffle(range(10)) is [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]
// under python3.
func TestTextsShuffle(t *testing.T) {
	var docs []eval.Doc
	for i := 0; i < 10; i++ {
		docs = append(docs, eval.Doc{Index: i, Question: "Q" + strconv.Itoa(i), Correct: "A"})
	}
	ex := Texts(docs, 4, 0)
	var got []int
	for _, e := range ex {
		got = append(got, e.Index)
	}
	if !reflect.DeepEqual(got, []int{7, 8, 1, 5}) || ex[0].Text != "Q7 A" {
		t.Errorf("got %v, %q", got, ex[0].Text)
	}
}

func tiny(t *testing.T, seed uint64) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	tok, err := tokenizer.Load(sharedtest.Path(t, "fixtures/tokenizers/llama2_hf"))
	if err != nil {
		t.Fatal(err)
	}
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: tok.VocabSize(), HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 8, MaxPositionEmbeddings: 256,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2}}
	m, err := model.NewRandom(&c, seed, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

// End to end on TruthfulQA with tiny random models: the same numbers twice
// (a seeded sampler, any number of workers), every score consistent with
// its neighbour losses, and Min-K% consistent with the per-token log-probs.
func TestRunTwiceSameNumbers(t *testing.T) {
	ts, err := eval.Load("truthfulqa_mc2", sharedtest.Path(t, "data/truthfulqa/data"), eval.LeaderboardV1, -1)
	if err != nil {
		t.Fatal(err)
	}
	target, tok := tiny(t, 1)
	ref, _ := tiny(t, 2)
	ex := Texts(ts[0].Docs, 3, 0)
	var reps []*Report
	for _, w := range []int{1, 3} {
		rep, err := Run(context.Background(), Config{Target: target, TargetTok: tok, Ref: ref, RefTok: tok,
			Examples: ex, Samples: 6, Seed: 7, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	if !reflect.DeepEqual(reps[0], reps[1]) {
		t.Fatal("two runs with the same seed differ")
	}
	flagged := 0
	for _, r := range reps[0].Results {
		if len(r.Neighbours) != 6 || r.Score != FractionBelow(r.NeighbourLosses, r.Loss) {
			t.Errorf("example %d: %d neighbours, score %v", r.Index, len(r.Neighbours), r.Score)
		}
		if r.Flagged {
			flagged++
		}
	}
	if want := float64(flagged) / 3; reps[0].Headline != want {
		t.Errorf("headline %v, want %v", reps[0].Headline, want)
	}
	other, err := Run(context.Background(), Config{Target: target, TargetTok: tok, Ref: ref, RefTok: tok,
		Examples: ex, Samples: 6, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(other.Results[0].Neighbours, reps[0].Results[0].Neighbours) {
		t.Error("another seed samples the same neighbours")
	}
	mk, err := Run(context.Background(), Config{Method: MinK, Target: target, TargetTok: tok, Examples: ex, K: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	lps, err := tokenLogProbs(target, tok, []string{ex[0].Text})
	if err != nil {
		t.Fatal(err)
	}
	if mk.Results[0].Score != MinKProb(lps[0], 0.2) || mk.Results[0].Loss != reps[0].Results[0].Loss {
		t.Errorf("min-k %v, loss %v", mk.Results[0].Score, mk.Results[0].Loss)
	}
}
