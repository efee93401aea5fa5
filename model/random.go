package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/memlimit"
)

// NewRandom builds a model with freshly initialised weights, as
// transformers' _init_weights does for Llama: every projection and the
// embedding drawn from N(0, std²) (std = initializer_range, 0.02 when
// unset), norm weights 1, biases 0. The same seed gives the same weights.
func NewRandom(c *hf.Config, seed uint64, std float64) (*Model, error) {
	if std <= 0 {
		std = 0.02
	}
	r := rand.New(rand.NewPCG(seed, 0x1a3a))
	return New(c, func(name string, shape []int) ([]float32, error) {
		need := 4.0
		for _, d := range shape {
			need *= float64(d)
		}
		if err := memlimit.Check(int64(min(need, math.MaxInt64)), fmt.Sprintf("parameter %s %v", name, shape)); err != nil {
			return nil, err
		}
		d := make([]float32, numel(shape))
		switch {
		case strings.HasSuffix(name, "norm.weight"):
			for i := range d {
				d[i] = 1
			}
		case strings.HasSuffix(name, ".bias"):
		default:
			for i := range d {
				d[i] = float32(r.NormFloat64() * std)
			}
		}
		return d, nil
	})
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}
