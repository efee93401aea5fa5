package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpf: relative error of expf against math.Exp below 2e-7 over the
// range softmax and SiLU use, and the limits.
func TestExpf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	worst := 0.0
	for i := 0; i < 200000; i++ {
		x := float32(r.Float64()*170 - 85)
		want := math.Exp(float64(x))
		got := float64(expf(x))
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	for _, x := range []float32{0, 1, -1, 0.5, -0.5, 10, -10, 87, -87} {
		want := math.Exp(float64(x))
		if e := math.Abs(float64(expf(x))-want) / want; e > worst {
			worst = e
		}
	}
	if worst > 2e-7 {
		t.Errorf("worst relative error %.2e > 2e-7", worst)
	}
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) {
		t.Errorf("limits: expf(-100) = %v, expf(100) = %v", expf(-100), expf(100))
	}
}

func BenchmarkExpf(b *testing.B) {
	var s float32
	for i := 0; b.Loop(); i++ {
		s += expf(float32(i%100) * -0.1)
	}
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	var s float32
	for i := 0; b.Loop(); i++ {
		s += float32(math.Exp(float64(float32(i%100) * -0.1)))
	}
	_ = s
}
