package model

import (
	"fmt"

	"github.com/smaug-dev/smaug/tensor"
)

// ForwardFrom feeds ids after the cached positions, as Forward does, and
// returns the logits of the fed positions from index from on:
// [len(ids)−from, vocab] row-major. Only those positions go through the
// final norm and the output layer, so a caller scoring a continuation after
// a long context pays the output layer for the continuation alone.
func (m *Model) ForwardFrom(cache *KVCache, ids []int, from int) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("no tokens to feed")
	}
	if err := m.checkIDs([][]int{ids}); err != nil {
		return nil, err
	}
	if from < 0 || from >= len(ids) {
		return nil, fmt.Errorf("logits from position %d of %d fed tokens", from, len(ids))
	}
	pos := make([]int, len(ids))
	for i := range pos {
		pos[i] = cache.n + i
	}
	tp := getInferenceTape()
	defer putInferenceTape(tp)
	x := tensor.Embedding(tp, m.Embed, ids)
	for i := range m.Layers {
		mark := tp.Mark()
		y := m.arch.Block(tp, m, &m.Layers[i], x, &Span{pos: pos, caches: []*layerCache{&cache.layers[i]}, offsets: []int{0, len(ids)}})
		copy(x.Data, y.Data)
		tp.Release(mark)
	}
	cache.n += len(ids)
	rows := make([]int, len(ids)-from)
	for i := range rows {
		rows[i] = from + i
	}
	h := tensor.RMSNorm(tp, tensor.GatherRows(tp, x, rows), m.Norm, m.Config.RMSNormEps)
	return append([]float32(nil), tensor.LinearAs(tp, h, m.LMHead, nil, m.ComputeDType).Data...), nil
}

// Truncate keeps the first n cached positions and drops the rest, so that a
// shared prefix computed once can be continued in several ways: feed one
// continuation, truncate back to the prefix, feed the next. It returns the
// number of positions kept: n, or 0 (an empty cache) when a sliding window
// already dropped keys that positions after n would attend to, which
// happens once more than window − 1 positions were fed after n in several
// forwards.
func (c *KVCache) Truncate(n int) int {
	if n < 0 || n > c.n {
		panic(fmt.Sprintf("model: truncate a KV cache of %d positions to %d", c.n, n))
	}
	for i := range c.layers {
		l := &c.layers[i]
		first := c.n - len(l.k)/l.dim // position of the first row held
		if l.window > 0 && first > max(0, n-(l.window-1)) {
			c.clear()
			return 0
		}
		l.k, l.v = l.k[:(n-first)*l.dim], l.v[:(n-first)*l.dim]
	}
	c.n = n
	return n
}

// clear empties every layer's cache.
func (c *KVCache) clear() {
	for i := range c.layers {
		l := &c.layers[i]
		l.k, l.v = l.k[:0], l.v[:0]
	}
	c.n = 0
}
