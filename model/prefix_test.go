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

// With a sliding window the cache keeps only the last window − 1 positions'
// keys, so Truncate back to a prefix works while the continuation was fed
// in one forward (the prefix's last window − 1 rows are still there) and
// empties the cache (returns 0) once later forwards dropped them. Either
// way, feeding from the position Truncate returns gives naiveLogits, the
// float64 reference that masks by the window (1e-4 relative per row).
func TestTruncateSlidingWindow(t *testing.T) {
	c := hf.Config{Architectures: []string{"MistralForCausalLM"}, ModelType: "mistral",
		VocabSize: 40, HiddenSize: 16, IntermediateSize: 24, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1, SlidingWindow: 4}
	m, err := NewRandom(&c, 9, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []int{5, 9, 2, 7, 1, 3}
	tests := []struct {
		name   string
		pieces [][]int // continuations fed before truncating back to the prefix
		want   int     // what Truncate returns
	}{
		{"one forward", [][]int{{3, 4, 8, 12, 13, 14}}, len(prefix)},
		{"one token", [][]int{{3}}, len(prefix)},
		{"two forwards", [][]int{{3}, {4}}, 0},
		{"past the window", [][]int{{3, 4}, {8, 12}, {13}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := m.NewKVCache()
			if _, err := m.Forward(cache, prefix); err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.pieces {
				if _, err := m.Forward(cache, p); err != nil {
					t.Fatal(err)
				}
			}
			keep := cache.Truncate(len(prefix))
			if keep != tt.want || cache.Len() != keep {
				t.Fatalf("Truncate(%d) = %d with %d positions held, want %d", len(prefix), keep, cache.Len(), tt.want)
			}
			full := append(append([]int(nil), prefix...), 6, 10, 11, 2, 5)
			got, err := m.ForwardFrom(cache, full[keep:], len(prefix)-keep)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveLogits(m, full)
			vocab := c.VocabSize
			for i := len(prefix); i < len(full); i++ {
				row := got[(i-len(prefix))*vocab : (i-len(prefix)+1)*vocab]
				if rel := relErr64(row, want[i]); rel > 1e-4 {
					t.Errorf("position %d: relative error %.2e > 1e-4", i, rel)
				}
			}
		})
	}
}
