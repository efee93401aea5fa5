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

// AddInPlace returns s·a+b computed in b's storage, for a b that nothing
// reads afterwards and whose value no backward needs (a projection's
// output, which only its consumer reads): a residual connection (s = 1,
// exactly a+b) or a LoRA branch added to the base projection without a
// buffer of their own. b must not be used after the call. Backward:
// da += s·dy, and db = dy without a copy when b has no gradient yet (b's
// gradient is then the output's), db += dy otherwise.
func AddInPlace(tp *Tape, a *Tensor, s float32, b *Tensor) *Tensor {
	if a.Len() != b.Len() {
		panic(fmt.Sprintf("tensor.AddInPlace: %v + %v", a.Shape, b.Shape))
	}
	grad := tp.needs(a, b)
	kernels.Parallel(a.Len(), func(lo, hi int) {
		if s == 1 {
			for i := lo; i < hi; i++ {
				b.Data[i] = a.Data[i] + b.Data[i]
			}
			return
		}
		for i := lo; i < hi; i++ {
			b.Data[i] = b.Data[i] + s*a.Data[i]
		}
	})
	y := &Tensor{Shape: append([]int(nil), a.Shape...), Data: b.Data, RequiresGrad: grad}
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		if a.RequiresGrad {
			g, fresh := tp.gradRaw(a)
			accumulateInto(g, fresh, y.Grad, s)
		}
		if b.RequiresGrad {
			if b.Grad == nil && !b.param {
				b.Grad = y.Grad
				return
			}
			g, fresh := tp.gradRaw(b)
			accumulateInto(g, fresh, y.Grad, 1)
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
