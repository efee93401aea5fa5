package model

import (
	"math/rand/v2"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// benchModel is the "small" benchmark shape of smaug bench: hidden 256,
// 4 layers, 4 heads, intermediate 688, vocab 4096, 8 sequences × 256 tokens.
func benchModel(b *testing.B) (*Model, []Completion) {
	c := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 4096, HiddenSize: 256, IntermediateSize: 688, NumHiddenLayers: 4,
		NumAttentionHeads: 4, NumKeyValueHeads: 4, HeadDim: 64, MaxPositionEmbeddings: 256,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	m, err := NewRandom(c, 0, 0.02)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	items := make([]Completion, 8)
	for i := range items {
		ids := make([]int, 256)
		for j := range ids {
			ids[j] = r.IntN(c.VocabSize)
		}
		items[i] = Completion{Prompt: ids[:1], Completion: ids[1:]}
	}
	return m, items
}

// BenchmarkScoreSmall measures forward-only scoring (tokens/s reported).
func BenchmarkScoreSmall(b *testing.B) {
	m, items := benchModel(b)
	for b.Loop() {
		if _, err := m.LogProbs(nil, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*256*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkForwardBackwardSmall measures log-probs with a tape and the
// backward to every parameter.
func BenchmarkForwardBackwardSmall(b *testing.B) {
	m, items := benchModel(b)
	tp := tensor.NewTape()
	seed := []float32{1, -1, 1, -1, 1, -1, 1, -1}
	for b.Loop() {
		s, err := m.LogProbs(tp, items)
		if err != nil {
			b.Fatal(err)
		}
		tp.Backward(s.Seq, seed)
		tp.Reset()
	}
	b.ReportMetric(float64(8*256*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
