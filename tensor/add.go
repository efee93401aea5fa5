package tensor

import (
	"fmt"

	"github.com/smaug-dev/smaug/kernels"
)

// Add returns a+b elementwise (the residual connection). Backward passes the
// output gradient to both inputs.
func Add(tp *Tape, a, b *Tensor) *Tensor {
	if a.Len() != b.Len() {
		panic(fmt.Sprintf("tensor.Add: %v + %v", a.Shape, b.Shape))
	}
	grad := tp.needs(a, b)
	y := tp.outputRaw(grad, a.Shape...)
	kernels.Parallel(a.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.Data[i] = a.Data[i] + b.Data[i]
		}
	})
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		for _, t := range []*Tensor{a, b} {
			if t.RequiresGrad {
				g, fresh := tp.gradRaw(t)
				accumulateInto(g, fresh, y.Grad, 1)
			}
		}
	})
	return y
}

// Scale returns s·x. Backward: dx += s·dy.
func Scale(tp *Tape, x *Tensor, s float32) *Tensor {
	grad := tp.needs(x)
	y := tp.outputRaw(grad, x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = s * v
	}
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad != nil {
			g, fresh := tp.gradRaw(x)
			accumulateInto(g, fresh, y.Grad, s)
		}
	})
	return y
}
