package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fma32 is a·b + c with one rounding to float64 and one to float32. The
// product of two float32 values is exact in float64, so this differs from a
// hardware float32 FMA only when the exact sum lies within 2⁻⁵³ (relative)
// of a float32 rounding midpoint.
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// modelKernel is the Go model of an mr×nr assembly micro-kernel: the same
// packed layouts, the same accumulation order (k outer; one FMA per element
// and k, accumulators starting at zero) and the same final C += acc.
func modelKernel(name string, mr, nr int) microKernel {
	return microKernel{name: name, mr: mr, nr: nr, fn: func(kc int, a, b, c []float32, ldc int) {
		acc := make([]float32, mr*nr)
		for p := range kc {
			for i := range mr {
				ai := a[p*mr+i]
				for j := range nr {
					acc[i*nr+j] = fma32(ai, b[p*nr+j], acc[i*nr+j])
				}
			}
		}
		for i := range mr {
			for j := range nr {
				c[i*ldc+j] += acc[i*nr+j]
			}
		}
	}}
}

// models are the Go models of every assembly micro-kernel of every
// architecture; they run on any CPU.
var models = []microKernel{
	modelKernel("model-avx512", 12, 32),
	modelKernel("model-avx2-fma", 6, 16),
	modelKernel("model-neon", 8, 12),
}

// assembly returns the assembly micro-kernel that model models, or false
// when it belongs to another architecture or this CPU cannot run it; why
// says which.
func assembly(model microKernel) (k microKernel, why string, ok bool) {
	name := model.name[len("model-"):]
	for _, k := range available() {
		if k.name == name {
			return k, "", true
		}
	}
	if why, ok := unavailable()[name]; ok {
		return microKernel{}, fmt.Sprintf("this CPU lacks %s", why), false
	}
	return microKernel{}, "it belongs to another architecture", false
}

// TestMicroKernelsMatchModels runs each assembly micro-kernel this CPU has
// and its Go model on the same packed slivers, kc from 1 to past a panel,
// and C rows strided, and requires the two to agree to within a few float32
// roundings of the accumulated magnitude (the model's FMA rounds twice, see
// fma32; everything else is the same operations in the same order).
func TestMicroKernelsMatchModels(t *testing.T) {
	for _, model := range models {
		t.Run(model.name, func(t *testing.T) {
			k, why, ok := assembly(model)
			if !ok {
				t.Skipf("%s not run: %s; its model is tested through every Sgemm test", model.name[len("model-"):], why)
			}
			if k.mr != model.mr || k.nr != model.nr {
				t.Fatalf("%s is %dx%d, its model %dx%d", k.name, k.mr, k.nr, model.mr, model.nr)
			}
			rng := rand.New(rand.NewPCG(11, 12))
			for _, kc := range []int{1, 2, 7, 64, 257} {
				ldc := k.nr + 3
				a, b := matrix(rng, kc, k.mr, k.mr), matrix(rng, kc, k.nr, k.nr)
				c := matrix(rng, k.mr, k.nr, ldc)
				want := append([]float32(nil), c...)
				k.fn(kc, a, b, c, ldc)
				model.fn(kc, a, b, want, ldc)
				for i := range k.mr {
					for j := range ldc {
						g, w := c[i*ldc+j], want[i*ldc+j]
						if j >= k.nr {
							if !math.IsNaN(float64(g)) {
								t.Fatalf("kc=%d: gap C[%d][%d] written: %g", kc, i, j, g)
							}
							continue
						}
						if d := math.Abs(float64(g - w)); d > 1e-6*float64(kc+1) {
							t.Errorf("kc=%d: C[%d][%d] = %g, model %g", kc, i, j, g, w)
						}
					}
				}
			}
		})
	}
}
