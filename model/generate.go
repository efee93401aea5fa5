package model

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/smaug-dev/smaug/tensor"
)

// layerCache holds one layer's keys and values for the latest positions:
// all of them, or with a sliding window only those a new query can still
// see.
type layerCache struct {
	k, v   []float32 // [rows, kvHeads·headDim]
	dim    int
	window int // the model's sliding window, 0 for none
}

// append adds the new rows of k and v and returns tensors over all rows.
// With a window it first drops the rows older than the window − 1 latest,
// which no new query sees (their RoPE rotation is already applied, so the
// kept rows need no renumbering).
func (c *layerCache) append(k, v *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	if c.window > 0 {
		if drop := len(c.k)/c.dim - (c.window - 1); drop > 0 {
			c.k, c.v = c.k[drop*c.dim:], c.v[drop*c.dim:]
		}
	}
	c.k = append(c.k, k.Data...)
	c.v = append(c.v, v.Data...)
	n := len(c.k) / c.dim
	return tensor.FromData(c.k, n, c.dim), tensor.FromData(c.v, n, c.dim)
}

// KVCache holds the keys and values of every layer for one sequence, so each
// new token costs one position's work.
type KVCache struct {
	layers []layerCache
	n      int
}

// NewKVCache returns an empty cache for m.
func (m *Model) NewKVCache() *KVCache {
	c := &KVCache{layers: make([]layerCache, len(m.Layers))}
	for i := range c.layers {
		c.layers[i].dim = m.Config.NumKeyValueHeads * m.Config.HeadDim
		c.layers[i].window = m.Config.SlidingWindow
	}
	return c
}

// Len is the number of positions in the cache.
func (c *KVCache) Len() int { return c.n }

// Forward feeds ids (appended after the cached positions) and returns the
// logits [vocab] of the last one (ForwardFrom for the last position).
func (m *Model) Forward(cache *KVCache, ids []int) ([]float32, error) {
	return m.ForwardFrom(cache, ids, len(ids)-1)
}

// Sampling chooses the next token. Temperature 0 is greedy (argmax, first
// index on ties). Otherwise logits are divided by Temperature, then the
// TopK most likely tokens are kept (0: all), then the smallest set whose
// probability reaches TopP (1 or 0: all), as transformers' warpers do, and a
// token is drawn with a generator seeded by Seed.
type Sampling struct {
	Temperature float64
	TopK        int
	TopP        float64
	Seed        uint64
}

// GenerateOptions configures Generate.
type GenerateOptions struct {
	MaxNewTokens int
	Sampling
	// StopIDs end generation when produced (the stop token is included).
	StopIDs []int
	// OnToken, when set, is called with each new token as it is chosen
	// (for streaming); returning false ends generation after that token.
	OnToken func(id int) bool
}

// Generate continues prompt with up to MaxNewTokens tokens using a KV cache
// and returns the new tokens.
//
// Options out of range (see Sampling.Validate) and logits that are not
// finite (a model with NaN or infinite weights) are errors.
func (m *Model) Generate(prompt []int, opt GenerateOptions) ([]int, error) {
	if err := opt.Sampling.Validate(); err != nil {
		return nil, err
	}
	cache := m.NewKVCache()
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	logits, err := m.Forward(cache, prompt)
	if err != nil {
		return nil, err
	}
	var out []int
	for len(out) < opt.MaxNewTokens {
		if err := finiteLogits(logits, len(prompt)+len(out)); err != nil {
			return nil, err
		}
		next := opt.Sampling.pick(logits, rng)
		out = append(out, next)
		if opt.OnToken != nil && !opt.OnToken(next) {
			break
		}
		stop := false
		for _, s := range opt.StopIDs {
			stop = stop || s == next
		}
		if stop || len(out) == opt.MaxNewTokens {
			break
		}
		if logits, err = m.Forward(cache, []int{next}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s Sampling) pick(logits []float32, rng *rand.Rand) int {
	if s.Temperature <= 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if s.TopK > 0 && s.TopK < len(idx) {
		idx = idx[:s.TopK]
	}
	p := make([]float64, len(idx))
	maxL := float64(logits[idx[0]]) / s.Temperature
	var z float64
	for i, j := range idx {
		p[i] = math.Exp(float64(logits[j])/s.Temperature - maxL)
		z += p[i]
	}
	if s.TopP > 0 && s.TopP < 1 {
		var cum float64
		for i := range p {
			cum += p[i] / z
			if cum >= s.TopP {
				idx, p = idx[:i+1], p[:i+1]
				break
			}
		}
		z = 0
		for _, v := range p {
			z += v
		}
	}
	u := rng.Float64() * z
	for i, v := range p {
		u -= v
		if u < 0 {
			return idx[i]
		}
	}
	return idx[len(idx)-1]
}
