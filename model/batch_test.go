package model

import (
	"math"
	"testing"

	"github.com/smaug-dev/smaug/hf"
)

// TestForwardBatchMatchesForward checks the ragged batched step against
// Forward run on each sequence alone (itself checked against transformers'
// greedy generation in fixture_test.go, and with a sliding window against
// naiveLogits in TestSlidingWindowDecoding): a prefill of prompts of
// different lengths, then a step mixing one-token decodes with a new prompt
// joining, for Llama and for Mistral with a window of 3 positions (shorter
// than the sequences). Tolerance 1e-5 absolute on logits of magnitude ~1:
// only the summation order inside the batched matrix products may differ.
func TestForwardBatchMatchesForward(t *testing.T) {
	llama := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 97, HiddenSize: 64, IntermediateSize: 96, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	mistral := llama
	mistral.Architectures, mistral.ModelType, mistral.SlidingWindow = []string{"MistralForCausalLM"}, "mistral", 3
	for name, c := range map[string]hf.Config{"llama": llama, "mistral_window3": mistral} {
		t.Run(name, func(t *testing.T) { testForwardBatch(t, &c) })
	}
}

func testForwardBatch(t *testing.T, c *hf.Config) {
	m, err := NewRandom(c, 5, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		feed [][]int // per sequence; nil: the sequence sits this step out
	}{
		{"prefill", [][]int{{1, 2, 3, 4, 5}, {7}, {9, 8, 7}, nil}},
		{"decode+join", [][]int{{6}, {10}, {11}, {40, 41, 42, 43}}},
		{"decode", [][]int{{12}, nil, {13}, {44}}},
		{"multi", [][]int{{14, 15}, {16}, nil, {45, 46, 47}}},
	}
	overall := 0.0
	alone := make([]*KVCache, 4)
	together := make([]*KVCache, 4)
	for i := range alone {
		alone[i], together[i] = m.NewKVCache(), m.NewKVCache()
	}
	for _, st := range steps {
		var caches []*KVCache
		var ids [][]int
		var which []int
		for i, f := range st.feed {
			if f != nil {
				caches, ids, which = append(caches, together[i]), append(ids, f), append(which, i)
			}
		}
		got, err := m.ForwardBatch(caches, ids)
		if err != nil {
			t.Fatal(err)
		}
		for j, i := range which {
			want, err := m.Forward(alone[i], ids[j])
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for k := range want {
				worst = math.Max(worst, math.Abs(float64(got[j][k]-want[k])))
			}
			overall = math.Max(overall, worst)
			if worst > 1e-5 {
				t.Errorf("%s: sequence %d: max |Δlogit| %.3g > 1e-5", st.name, i, worst)
			}
			if together[i].Len() != alone[i].Len() {
				t.Errorf("%s: sequence %d: cache length %d, want %d", st.name, i, together[i].Len(), alone[i].Len())
			}
		}
	}
	t.Logf("max |Δlogit| batched vs alone: %.3g", overall)
}

func TestForwardBatchErrors(t *testing.T) {
	c := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 11, HiddenSize: 16, IntermediateSize: 16, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 8, MaxPositionEmbeddings: 16,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	m, err := NewRandom(c, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	a := m.NewKVCache()
	for name, tc := range map[string]struct {
		caches []*KVCache
		ids    [][]int
	}{
		"count":      {[]*KVCache{a}, [][]int{{1}, {2}}},
		"twice":      {[]*KVCache{a, a}, [][]int{{1}, {2}}},
		"nil cache":  {[]*KVCache{nil}, [][]int{{1}}},
		"empty":      {[]*KVCache{a}, [][]int{{}}},
		"vocabulary": {[]*KVCache{a}, [][]int{{11}}},
	} {
		if _, err := m.ForwardBatch(tc.caches, tc.ids); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if a.Len() != 0 {
		t.Errorf("failed calls changed the cache: length %d", a.Len())
	}
}
