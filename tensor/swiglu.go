package tensor

import (
	"fmt"

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
	y := tp.outputRaw(grad, gate.Shape...)
	kernels.Parallel(gate.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate.Data[i]
			y.Data[i] = g / (1 + expf(-g)) * up.Data[i]
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
		var freshG, freshU bool
		if gate.RequiresGrad {
			gg, freshG = tp.gradRaw(gate)
		}
		if up.RequiresGrad {
			gu, freshU = tp.gradRaw(up)
		}
		kernels.Parallel(gate.Len(), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				g, dy := gate.Data[i], y.Grad[i]
				s := 1 / (1 + expf(-g))
				if gu != nil {
					if freshU {
						gu[i] = dy * g * s
					} else {
						gu[i] += dy * g * s
					}
				}
				if gg != nil {
					d := dy * up.Data[i] * s * (1 + g*(1-s))
					if freshG {
						gg[i] = d
					} else {
						gg[i] += d
					}
				}
			}
		})
	})
	return y
}
