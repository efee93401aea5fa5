package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/smaug-dev/smaug/tensor"
)

// ForwardBatch is Forward for several sequences at once, each with its own
// KV cache: ids[i] is appended after caches[i]'s positions, and the logits
// [vocab] of each sequence's last new token come back in order. Sequences
// may feed different numbers of tokens (a prompt being prefilled beside
// sequences decoding one token each). The projections and the MLP run once
// on the rows of every sequence together, which is what makes serving many
// streams cheaper than serving them one after another; in attention each
// sequence sees its own cache. Every cache must belong to m and appear at
// most once.
func (m *Model) ForwardBatch(caches []*KVCache, ids [][]int) ([][]float32, error) {
	if len(caches) != len(ids) {
		return nil, fmt.Errorf("forward batch: %d caches for %d sequences", len(caches), len(ids))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := m.checkIDs(ids); err != nil {
		return nil, err
	}
	seen := make(map[*KVCache]bool, len(caches))
	offsets := make([]int, len(ids)+1)
	for i, c := range caches {
		if c == nil || len(c.layers) != len(m.Layers) {
			return nil, fmt.Errorf("forward batch: cache %d does not belong to this model", i)
		}
		if seen[c] {
			return nil, fmt.Errorf("forward batch: cache %d appears twice", i)
		}
		seen[c] = true
		offsets[i+1] = offsets[i] + len(ids[i])
	}
	flat := make([]int, 0, offsets[len(ids)])
	pos := make([]int, 0, offsets[len(ids)])
	for i, s := range ids {
		flat = append(flat, s...)
		for j := range s {
			pos = append(pos, caches[i].n+j)
		}
	}
	tp := getInferenceTape()
	defer putInferenceTape(tp)
	x := tensor.Embedding(tp, m.Embed, flat)
	for li := range m.Layers {
		mark := tp.Mark()
		span := &Span{pos: pos, caches: make([]*layerCache, len(caches)), offsets: offsets}
		for i, c := range caches {
			span.caches[i] = &c.layers[li]
		}
		y := m.arch.Block(tp, m, &m.Layers[li], x, span)
		copy(x.Data, y.Data)
		tp.Release(mark)
	}
	last := make([]int, len(ids))
	for i := range ids {
		caches[i].n += len(ids[i])
		last[i] = offsets[i+1] - 1
	}
	h := tensor.RMSNorm(tp, tensor.GatherRows(tp, x, last), m.Norm, m.Config.RMSNormEps)
	logits := tensor.LinearAs(tp, h, m.LMHead, nil, m.ComputeDType)
	v := logits.Cols()
	out := make([][]float32, len(ids))
	for i := range out {
		out[i] = append([]float32(nil), logits.Data[i*v:(i+1)*v]...)
	}
	return out, nil
}

// Pick chooses the next token from logits as Generate does (see Sampling),
// drawing from rng when sampling. Callers that decode many sequences give
// each its own generator, seeded as Generate seeds it
// (rand.New(rand.NewPCG(seed, SeedStream))), so a sequence draws the same
// tokens whether it is decoded alone or in a batch.
func (s Sampling) Pick(logits []float32, rng *rand.Rand) int { return s.pick(logits, rng) }

// SeedStream is the second PCG word Generate seeds its generator with.
const SeedStream = 0x5eed
