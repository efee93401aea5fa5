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
// streams cheaper than serving them one after another; attention runs per
// sequence over its own cache. Every cache must belong to m and appear at
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
		y := m.raggedBlock(tp, li, x, pos, offsets, caches)
		copy(x.Data, y.Data)
		tp.Release(mark)
	}
	last := make([]int, len(ids))
	for i := range ids {
		caches[i].n += len(ids[i])
		last[i] = offsets[i+1] - 1
	}
	h := tensor.RMSNorm(tp, tensor.GatherRows(tp, x, last), m.Norm, m.Config.RMSNormEps)
	logits := tensor.Linear(tp, h, m.LMHead, nil)
	v := logits.Cols()
	out := make([][]float32, len(ids))
	for i := range out {
		out[i] = append([]float32(nil), logits.Data[i*v:(i+1)*v]...)
	}
	return out, nil
}

// raggedBlock is block for rows of several sequences laid end to end
// (sequence i owns rows offsets[i]..offsets[i+1]), each attending to its own
// cache.
func (m *Model) raggedBlock(tp *tensor.Tape, li int, x *tensor.Tensor, pos, offsets []int, caches []*KVCache) *tensor.Tensor {
	c := m.Config
	l := &m.Layers[li]
	eps := c.RMSNormEps
	h := tensor.RMSNorm(tp, x, l.InputNorm, eps)
	q := tensor.RoPE(tp, l.Q.Forward(tp, h), c.NumAttentionHeads, m.Rope, pos)
	k := tensor.RoPE(tp, l.K.Forward(tp, h), c.NumKeyValueHeads, m.Rope, pos)
	v := l.V.Forward(tp, h)
	qc, kc := q.Cols(), k.Cols()
	a := tensor.New(q.Rows(), qc)
	for i, cache := range caches {
		lo, hi := offsets[i], offsets[i+1]
		n := hi - lo
		ki, vi := cache.layers[li].append(
			tensor.FromData(k.Data[lo*kc:hi*kc], n, kc),
			tensor.FromData(v.Data[lo*kc:hi*kc], n, kc))
		qi := tensor.FromData(q.Data[lo*qc:hi*qc], n, qc)
		ai := tensor.CausalAttention(tp, qi, ki, vi, 1, c.NumAttentionHeads, c.NumKeyValueHeads, []int{ki.Rows()})
		copy(a.Data[lo*qc:hi*qc], ai.Data)
	}
	x = tensor.Add(tp, x, l.O.Forward(tp, a))
	h = tensor.RMSNorm(tp, x, l.PostNorm, eps)
	mlp := l.Down.Forward(tp, tensor.SwiGLU(tp, l.Gate.Forward(tp, h), l.Up.Forward(tp, h)))
	return tensor.Add(tp, x, mlp)
}

// Pick chooses the next token from logits as Generate does (see Sampling),
// drawing from rng when sampling. Callers that decode many sequences give
// each its own generator, seeded as Generate seeds it
// (rand.New(rand.NewPCG(seed, SeedStream))), so a sequence draws the same
// tokens whether it is decoded alone or in a batch.
func (s Sampling) Pick(logits []float32, rng *rand.Rand) int { return s.pick(logits, rng) }

// SeedStream is the second PCG word Generate seeds its generator with.
const SeedStream = 0x5eed
