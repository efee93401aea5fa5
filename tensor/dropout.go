package tensor

import (
	"fmt"
	"math/rand/v2"
)

// Dropout is torch's inverted dropout in training mode: each element of x is
// kept with probability 1−p and scaled by 1/(1−p), or zeroed (p = 1 zeroes
// everything). It returns x itself when p == 0 or tp is nil (no tape means
// no training, so no dropout). The mask comes from rng, one uniform 32-bit
// draw per element in order, so the same generator state gives the same
// mask. Backward: dx += mask·dy with the same scaled mask.
func Dropout(tp *Tape, x *Tensor, p float64, rng *rand.Rand) *Tensor {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("tensor.Dropout: probability %v outside [0, 1]", p))
	}
	if !tp.Recording() || p == 0 {
		return x
	}
	mask := tp.alloc(x.Len())
	if p < 1 {
		// Keep when u ≥ p·2³², u uniform on [0, 2³²): probability 1−p up to
		// 2⁻³², the resolution torch's float32 bernoulli draw has too.
		threshold := uint64(p * (1 << 32))
		scale := float32(1 / (1 - p))
		for i := 0; i < len(mask); i += 2 {
			u := rng.Uint64()
			if u&0xffffffff >= threshold {
				mask[i] = scale
			}
			if i+1 < len(mask) && u>>32 >= threshold {
				mask[i+1] = scale
			}
		}
	}
	return applyMask(tp, x, mask)
}

// applyMask returns mask⊙x, recording dx += mask⊙dy.
func applyMask(tp *Tape, x *Tensor, mask []float32) *Tensor {
	grad := tp.needs(x)
	y := tp.outputRaw(grad, x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = mask[i] * v
	}
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		g := tp.grad(x)
		for i, m := range mask {
			g[i] += m * y.Grad[i]
		}
	})
	return y
}
