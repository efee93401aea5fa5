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
	kernels.Sgemm(false, true, n, out, in, 1, x.Data, in, w.Data, in, boolF(b != nil), y.Data, out)
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		if x.RequiresGrad {
			gx, fresh := tp.gradRaw(x)
			kernels.Sgemm(false, false, n, in, out, 1, y.Grad, out, w.Data, in, boolF(!fresh), gx, in)
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
