package model

import (
	"math"
	"testing"

	"github.com/smaug-dev/smaug/hf"
)

// A prefix computed once and continued in several ways (Truncate between
// them) gives the logits of full forwards without a cache (Logits), within
// 1e-4 absolute (float32 sums in a different order).
func TestForwardFromTruncateMatchesLogits(t *testing.T) {
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 40, HiddenSize: 16, IntermediateSize: 24, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	m, err := NewRandom(&c, 7, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []int{5, 9, 2, 7, 1}
	conts := [][]int{{3, 4, 8}, {6}, {3, 4, 9, 11}}
	cache := m.NewKVCache()
	if _, err = m.Forward(cache, prefix[:len(prefix)-1]); err != nil {
		t.Fatal(err)
	}
	base := cache.Len()
	vocab := m.Config.VocabSize
	for _, c := range conts {
		cache.Truncate(base)
		feed := append([]int{prefix[len(prefix)-1]}, c...)
		got, err := m.ForwardFrom(cache, feed, 1)
		if err != nil {
			t.Fatal(err)
		}
		if cache.Len() != base+len(feed) {
			t.Fatalf("cache holds %d positions, want %d", cache.Len(), base+len(feed))
		}
		full := append(append([]int(nil), prefix...), c...)
		ref, err := m.Logits([][]int{full})
		if err != nil {
			t.Fatal(err)
		}
		want := ref[0][len(prefix)*vocab:]
		if len(got) != len(want) {
			t.Fatalf("%d logits, want %d", len(got), len(want))
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 {
				t.Fatalf("continuation %v logit %d: %v vs %v", c, i, got[i], want[i])
			}
		}
	}
	if _, err := m.ForwardFrom(cache, []int{1}, 1); err == nil {
		t.Error("from past the fed tokens accepted")
	}
}
