package tensor

import (
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/kernels"
)

// RMSNorm normalises each row of x [..., dim] by its root mean square and
// scales by w [dim]: y = w · x / sqrt(mean(x²) + eps), as Llama's RMSNorm
// (the mean square is accumulated in float32 like transformers; we use
// float64 for the accumulator, which is at least as accurate).
//
// Backward, with r = 1/sqrt(mean(x²)+eps) and n = x·r:
// dw += Σ_rows dy·n; dx = r·(dy·w − n·mean(dy·w·n)).
func RMSNorm(tp *Tape, x, w *Tensor, eps float64) *Tensor {
	dim := x.Cols()
	if w.Len() != dim {
		panic(fmt.Sprintf("tensor.RMSNorm: x %v with weight %v", x.Shape, w.Shape))
	}
	rows := x.Rows()
	grad := tp.needs(x, w)
	y := tp.outputRaw(grad, x.Shape...)
	var rinv []float32
	if grad {
		rinv = tp.alloc(rows)
	} else {
		rinv = make([]float32, rows)
	}
	kernels.Parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x.Data[r*dim : (r+1)*dim]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			inv := float32(1 / math.Sqrt(ss/float64(dim)+eps))
			rinv[r] = inv
			yr := y.Data[r*dim : (r+1)*dim]
			for j, v := range xr {
				yr[j] = w.Data[j] * (v * inv)
			}
		}
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
			kernels.Parallel(rows, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					xr, dy := x.Data[r*dim:(r+1)*dim], y.Grad[r*dim:(r+1)*dim]
					inv := rinv[r]
					var dot float64 // Σ dy·w·n
					for j, v := range xr {
						dot += float64(dy[j] * w.Data[j] * v * inv)
					}
					m := float32(dot / float64(dim))
					gr := gx[r*dim : (r+1)*dim]
					for j, v := range xr {
						n := v * inv
						d := inv * (dy[j]*w.Data[j] - n*m)
						if fresh {
							gr[j] = d
						} else {
							gr[j] += d
						}
					}
				}
			})
		}
		if w.RequiresGrad {
			gw := tp.grad(w)
			for r := 0; r < rows; r++ {
				xr, dy := x.Data[r*dim:(r+1)*dim], y.Grad[r*dim:(r+1)*dim]
				inv := rinv[r]
				for j, v := range xr {
					gw[j] += dy[j] * v * inv
				}
			}
		}
	})
	return y
}
