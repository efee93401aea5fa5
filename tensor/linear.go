package tensor

import (
	"fmt"

	"github.com/smaug-dev/smaug/dtype"
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
// next is widened, so the results are those of a float32 W holding the same
// values. Linear is LinearAs with float32 compute.
func Linear(tp *Tape, x, w, b *Tensor) *Tensor { return LinearAs(tp, x, w, b, dtype.F32) }

// LinearAs is Linear with its three matrix products — y = x·Wᵀ, dX = dY·W
// and dW = dYᵀ·X — computed in the compute dtype, as torch autocast computes
// linear: F32 is Linear; BF16 rounds both operands of each product to
// bfloat16 (nearest even: x, W, dY and X) and sums the exact products in
// float32 (kernels.SgemmBF16). A frozen bfloat16 W is used as stored, with
// no float32 copy. Everything else stays float32: the output and gradients
// (unlike torch on CPU, whose autocast linear returns bfloat16), the bias
// and its gradient, and the weights the optimizer updates. It panics for
// any other compute dtype.
func LinearAs(tp *Tape, x, w, b *Tensor, compute dtype.DType) *Tensor {
	checkCompute("tensor.Linear", compute)
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
	mulWt(compute, n, x.Data, w, boolF(b != nil), y.Data, out)
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		if x.RequiresGrad {
			gx, fresh := tp.gradRaw(x)
			mulW(compute, n, y.Grad, out, w, boolF(!fresh), gx)
		}
		if w.RequiresGrad {
			mulGradW(compute, n, y.Grad, out, x.Data, tp.grad(w), out, in)
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
