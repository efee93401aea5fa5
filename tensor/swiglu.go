package tensor

import (
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/kernels"
)

// SwiGLU returns silu(gate)·up elementwise, the gated activation of Llama's
// MLP (down_proj(silu(gate_proj(x)) · up_proj(x))).
//
// Backward, with σ = sigmoid(gate): d_up = dy·silu(gate);
// d_gate = dy·up·σ·(1 + gate·(1−σ)).
func SwiGLU(tp *Tape, gate, up *Tensor) *Tensor {
	if gate.Len() != up.Len() {
		panic(fmt.Sprintf("tensor.SwiGLU: gate %v, up %v", gate.Shape, up.Shape))
	}
	grad := tp.needs(gate, up)
	y := tp.output(grad, gate.Shape...)
	kernels.Parallel(gate.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate.Data[i]
			y.Data[i] = g / (1 + float32(math.Exp(float64(-g)))) * up.Data[i]
		}
	})
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		var gg, gu []float32
		if gate.RequiresGrad {
			gg = tp.grad(gate)
		}
		if up.RequiresGrad {
			gu = tp.grad(up)
		}
		kernels.Parallel(gate.Len(), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				g, dy := gate.Data[i], y.Grad[i]
				s := 1 / (1 + float32(math.Exp(float64(-g))))
				if gu != nil {
					gu[i] += dy * g * s
				}
				if gg != nil {
					gg[i] += dy * up.Data[i] * s * (1 + g*(1-s))
				}
			}
		})
	})
	return y
}
