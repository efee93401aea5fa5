package tensor

import (
	"fmt"

	"github.com/smaug-dev/smaug/kernels"
)

// Linear computes y = x·Wᵀ + b for x of shape [..., in] and W in Hugging
// Face's [out, in] layout; b may be nil. The output has x's leading shape and
// last dimension out.
//
// Backward: dX += dY·W, dW += dYᵀ·X, db += Σ_rows dY — all through the sgemm
// transpose flags, never explicit transposes.
//
// W may be a frozen bfloat16 tensor (FromBF16): it is widened to float32 a
// block of rows at a time (weightRows), each block's product done before the
// next is widened.
func Linear(tp *Tape, x, w, b *Tensor) *Tensor {
	in, out := w.Shape[1], w.Shape[0]
	if x.Cols() != in {
		panic(fmt.Sprintf("tensor.Linear: x %v with W %v", x.Shape, w.Shape))
	}
	if b != nil && b.Len() != out {
		panic(fmt.Sprintf("tensor.Linear: bias %v with W %v", b.Shape, w.Shape))
	}
	n := x.Rows()
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), out)
	grad := tp.needs(x, w, b)
	y := tp.outputRaw(grad, shape...)
	if b != nil {
		for r := 0; r < n; r++ {
			copy(y.Data[r*out:(r+1)*out], b.Data)
		}
	}
	// y[:, lo:hi] = x·W[lo:hi]ᵀ (+ b) for each block of W's rows.
	weightRows(w, func(lo, hi int, wd []float32) {
		kernels.Sgemm(false, true, n, hi-lo, in, 1, x.Data, in, wd, in, boolF(b != nil), y.Data[lo:], out)
	})
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		if x.RequiresGrad {
			gx, fresh := tp.gradRaw(x)
			// dX += dY[:, lo:hi]·W[lo:hi] for each block of W's rows.
			weightRows(w, func(lo, hi int, wd []float32) {
				kernels.Sgemm(false, false, n, in, hi-lo, 1, y.Grad[lo:], out, wd, in, boolF(!fresh || lo > 0), gx, in)
			})
		}
		if w.RequiresGrad {
			kernels.Sgemm(true, false, out, in, n, 1, y.Grad, out, x.Data, in, 1, tp.grad(w), in)
		}
		if b != nil && b.RequiresGrad {
			gb := tp.grad(b)
			for r := 0; r < n; r++ {
				row := y.Grad[r*out : (r+1)*out]
				for j, v := range row {
					gb[j] += v
				}
			}
		}
	})
	return y
}

func boolF(b bool) float32 {
	if b {
		return 1
	}
	return 0
}
