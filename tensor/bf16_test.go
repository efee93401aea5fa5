package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
)

// TestBF16WeightsMatchFloat32 checks that a frozen bfloat16 weight gives
// bitwise the same Linear output, input gradient and Embedding rows as a
// float32 tensor holding the same (bfloat16-representable) values, widened
// whole; widened in blocks of 2 and 5 rows, the output stays bitwise equal
// (each element is the same dot product) and the input gradient, whose sums
// are split at the blocks, within the float32 bound of a reordered sum,
// 2·k·2⁻²⁴·Σ|dy·w| (k = 19 terms).
func TestBF16WeightsMatchFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, in, out = 7, 33, 19
	bits := make([]uint16, out*in)
	for i := range bits {
		bits[i] = dtype.F32ToBF16(float32(rng.NormFloat64()))
	}
	wb := FromBF16(bits, out, in)
	wf := FromData(wb.Float32(), out, in)
	if wb.Len() != out*in || wb.Rows() != out {
		t.Fatalf("Len %d Rows %d, want %d %d", wb.Len(), wb.Rows(), out*in, out)
	}
	x := NewParam(randData(rng, n*in), n, in)
	seed := randData(rng, n*out)
	run := func(w *Tensor) (y, gx []float32) {
		x.ZeroGrad()
		tp := NewTape()
		yt := Linear(tp, x, w, nil)
		tp.Backward(yt, seed)
		return append([]float32(nil), yt.Data...), append([]float32(nil), x.Grad...)
	}
	yf, gf := run(wf)
	defer func(c int) { bf16Chunk = c }(bf16Chunk)
	for _, rows := range []int{out, 2, 5} {
		bf16Chunk = rows * in
		yb, gb := run(wb)
		for i := range yf {
			if yb[i] != yf[i] {
				t.Fatalf("blocks of %d rows: y[%d]: bf16 %v, float32 %v", rows, i, yb[i], yf[i])
			}
		}
		for i := range gf {
			r, j := i/in, i%in
			var abs float64
			for k := range out {
				abs += math.Abs(float64(seed[r*out+k]) * float64(wf.Data[k*in+j]))
			}
			if d := math.Abs(float64(gb[i] - gf[i])); (rows == out && d != 0) || d > 2*out*abs/(1<<24) {
				t.Fatalf("blocks of %d rows: dx[%d]: bf16 %v, float32 %v", rows, i, gb[i], gf[i])
			}
		}
	}
	ids := []int{3, 0, 18, 3}
	eb, ef := Embedding(nil, wb, ids), Embedding(nil, wf, ids)
	for i := range ef.Data {
		if eb.Data[i] != ef.Data[i] {
			t.Fatalf("embedding %d: bf16 %v, float32 %v", i, eb.Data[i], ef.Data[i])
		}
	}
	for i, b := range ToBF16(wf.Data) {
		if b != bits[i] {
			t.Fatalf("ToBF16 element %d: %#04x, want %#04x", i, b, bits[i])
		}
	}
}

func randData(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}
