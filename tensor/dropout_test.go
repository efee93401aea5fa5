package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDropoutGradient checks the backward of a fixed mask (one drawn by
// Dropout at p = 0.4) against finite differences, like every other op.
func TestDropoutGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := randTensor(r, 1, 6, 5)
	ones := New(x.Shape...)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	mask := append([]float32(nil), Dropout(NewTape(), ones, 0.4, rand.New(rand.NewPCG(1, 1))).Data...)
	kept := 0
	for _, m := range mask {
		if m != 0 {
			kept++
		}
	}
	if kept == 0 || kept == len(mask) {
		t.Fatalf("mask keeps %d of %d: the check needs both kinds", kept, len(mask))
	}
	checkGrads(t, "Dropout", []*Tensor{x}, func(tp *Tape) *Tensor { return applyMask(tp, x, mask) })
}

// TestDropout checks torch's inverted-dropout semantics: every output is 0
// or x/(1−p), the kept fraction is within 5 binomial standard deviations of
// 1−p, the backward passes dy through the same mask, the same generator
// state gives the same mask, and p = 0 or no tape leaves x untouched.
func TestDropout(t *testing.T) {
	const n = 100001 // odd: the last element uses half of a 64-bit draw
	r := rand.New(rand.NewPCG(11, 12))
	x := randTensor(r, 1, n)
	for i := range x.Data {
		if x.Data[i] == 0 {
			x.Data[i] = 1
		}
	}
	for _, p := range []float64{0, 0.1, 0.5, 0.9, 1} {
		if got := Dropout(nil, x, p, rand.New(rand.NewPCG(3, 4))); got != x {
			t.Errorf("p=%v: without a tape Dropout must return x itself", p)
		}
		x.RequiresGrad, x.Grad = true, nil
		tp := NewTape()
		y := Dropout(tp, x, p, rand.New(rand.NewPCG(3, 4)))
		if p == 0 {
			if y != x {
				t.Errorf("p=0: Dropout must return x itself")
			}
			continue
		}
		dy := make([]float32, n)
		for i := range dy {
			dy[i] = float32(r.NormFloat64())
		}
		tp.Backward(y, dy)
		scale := float32(1 / (1 - p))
		kept := 0
		for i, v := range y.Data {
			switch {
			case v == 0:
				if x.Grad[i] != 0 {
					t.Fatalf("p=%v: dropped element %d got gradient %v", p, i, x.Grad[i])
				}
			case v == scale*x.Data[i]:
				kept++
				if x.Grad[i] != scale*dy[i] {
					t.Fatalf("p=%v: kept element %d: gradient %v, want %v", p, i, x.Grad[i], scale*dy[i])
				}
			default:
				t.Fatalf("p=%v: y[%d] = %v is neither 0 nor x/(1-p) = %v", p, i, v, scale*x.Data[i])
			}
		}
		sd := math.Sqrt(n * p * (1 - p))
		if d := math.Abs(float64(kept) - n*(1-p)); d > 5*sd {
			t.Errorf("p=%v: kept %d of %d, expected %.0f ± %.0f", p, kept, n, n*(1-p), sd)
		}
		again := Dropout(NewTape(), x, p, rand.New(rand.NewPCG(3, 4)))
		for i := range again.Data {
			if again.Data[i] != y.Data[i] {
				t.Fatalf("p=%v: same seed gave a different mask at %d", p, i)
			}
		}
	}
}
