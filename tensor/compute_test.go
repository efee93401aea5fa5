package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
)

// r16 is v rounded to the nearest bfloat16 (ties to even) as float64.
func r16(v float32) float64 { return float64(dtype.BF16ToF32(dtype.F32ToBF16(v))) }

// refProduct is Σ_p a(i,p)·b(p,j) in float64 over k terms with the
// operands rounded to bfloat16 (round) or not, and Σ|a·b|.
func refProduct(k int, a, b func(p int) float32, round bool) (sum, abs float64) {
	for p := range k {
		av, bv := float64(a(p)), float64(b(p))
		if round {
			av, bv = r16(a(p)), r16(b(p))
		}
		sum += av * bv
		abs += math.Abs(av * bv)
	}
	return sum, abs
}

// TestLinearBF16 checks the three products of LinearAs with BF16 compute —
// y = x·Wᵀ + b, dX = dY·W, dW = dYᵀ·X — for a trainable float32 W (rounded
// in one block, and in blocks of 3 rows), and y and dX for a frozen
// bfloat16 W, against float64 references computed from the
// bfloat16-rounded operands. Every product of two bfloat16 values is exact
// in float32, so only the float32 sums differ from the reference: the
// bound is (k+1)·2⁻²⁴·Σ|terms| (k terms plus the bias or the gradient
// accumulated into), the worst case of a float32 sum in any order. The
// bias gradient is Σ dY in float32 (not a product). Against the unrounded
// operands the same outputs must differ by more than that bound somewhere,
// so the test fails if an operand is not rounded.
func TestLinearBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, in, out = 9, 70, 23
	x0, w0, b0, dy := randData(rng, n*in), randData(rng, out*in), randData(rng, out), randData(rng, n*out)
	defer func(c int) { bf16Chunk = c }(bf16Chunk)
	for _, tc := range []struct {
		name   string
		frozen bool
		chunk  int
	}{{"float32 W", false, 1 << 22}, {"float32 W in 3-row blocks", false, 3 * in}, {"bfloat16 W", true, 1 << 22}} {
		t.Run(tc.name, func(t *testing.T) {
			bf16Chunk = tc.chunk
			x := NewParam(append([]float32(nil), x0...), n, in)
			b := NewParam(append([]float32(nil), b0...), out)
			w := NewParam(append([]float32(nil), w0...), out, in)
			if tc.frozen {
				w = FromBF16(ToBF16(w0), out, in)
			}
			wv := w.Float32() // the stored values (rounded for bfloat16 W)
			tp := NewTape()
			y := LinearAs(tp, x, w, b, dtype.BF16)
			tp.Backward(y, dy)
			unrounded := 0.0 // largest |got − unrounded reference| / bound
			check := func(what string, i, j, k int, got float32, a, bb func(p int) float32, extra float64) {
				t.Helper()
				want, abs := refProduct(k, a, bb, true)
				want += extra
				bound := float64(k+1) * math.Ldexp(abs+math.Abs(extra), -24)
				if d := math.Abs(float64(got) - want); d > bound {
					t.Errorf("%s[%d][%d] = %v, want %v (rounded operands): |diff| %.2e > %.2e", what, i, j, got, want, d, bound)
				}
				exact, _ := refProduct(k, a, bb, false)
				unrounded = max(unrounded, math.Abs(float64(got)-exact-extra)/bound)
			}
			for i := range n {
				for j := range out {
					check("y", i, j, in, y.Data[i*out+j], func(p int) float32 { return x0[i*in+p] }, func(p int) float32 { return wv[j*in+p] }, float64(b0[j]))
				}
				for j := range in {
					check("dX", i, j, out, x.Grad[i*in+j], func(p int) float32 { return dy[i*out+p] }, func(p int) float32 { return wv[p*in+j] }, 0)
				}
			}
			if !tc.frozen {
				for i := range out {
					for j := range in {
						check("dW", i, j, n, w.Grad[i*in+j], func(p int) float32 { return dy[p*out+i] }, func(p int) float32 { return x0[p*in+j] }, 0)
					}
				}
			}
			for j := range out {
				var s float64
				for i := range n {
					s += float64(dy[i*out+j])
				}
				if d := math.Abs(float64(b.Grad[j]) - s); d > 1e-5 {
					t.Errorf("db[%d] = %v, want %v", j, b.Grad[j], s)
				}
			}
			if unrounded <= 1 {
				t.Errorf("every output is within the float32 bound of the unrounded product (worst %.2g of it): the operands were not rounded", unrounded)
			}
		})
	}
}

// TestLinearLogSoftmaxGatherBF16 checks the fused output layer with BF16
// compute, W trainable and frozen in bfloat16, in chunks of 2 rows and in
// one: the log-probs against float64 log-softmax of logits from the
// bfloat16-rounded x and W (the logits within 2⁻²⁴·(k+1)·Σ|x·w| as in
// TestLinearBF16, and a log-softmax moves by at most twice its inputs'
// largest error); dX and dW against float64 dlogits·W and dlogitsᵀ·X with W
// and X rounded and dlogits not: the implementation rounds its float32
// dlogits, so the bound adds one bfloat16 rounding of that operand,
// 2⁻⁸·Σ|terms|.
func TestLinearLogSoftmaxGatherBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const nx, hid, vocab = 6, 40, 31
	x0, w0 := randData(rng, nx*hid), randData(rng, vocab*hid)
	rows, targets := []int{0, 3, 5, 3, 1}, []int{4, 30, 0, 7, 4}
	dy := []float32{0.5, -1, 2, 0.25, -0.75}
	for _, frozen := range []bool{false, true} {
		for _, chunk := range []int{2, 0} {
			x := NewParam(append([]float32(nil), x0...), nx, hid)
			w := NewParam(append([]float32(nil), w0...), vocab, hid)
			if frozen {
				w = FromBF16(ToBF16(w0), vocab, hid)
			}
			wv := w.Float32()
			tp := NewTape()
			y, _ := LinearLogSoftmaxGatherAs(tp, x, w, rows, targets, chunk, dtype.BF16)
			tp.Backward(y, dy)
			gx, gw := make([]float64, nx*hid), make([]float64, vocab*hid)
			gxAbs, gwAbs := make([]float64, nx*hid), make([]float64, vocab*hid)
			for k, r := range rows {
				logits, maxErr := make([]float64, vocab), 0.0
				for v := range vocab {
					s, abs := refProduct(hid, func(p int) float32 { return x0[r*hid+p] }, func(p int) float32 { return wv[v*hid+p] }, true)
					logits[v], maxErr = s, max(maxErr, float64(hid+1)*math.Ldexp(abs, -24))
				}
				m := logits[0]
				for _, l := range logits {
					m = max(m, l)
				}
				var se float64
				for _, l := range logits {
					se += math.Exp(l - m)
				}
				lse := m + math.Log(se)
				want := logits[targets[k]] - lse
				if d := math.Abs(float64(y.Data[k]) - want); d > 2*maxErr+1e-6 {
					t.Errorf("frozen %v chunk %d: logp[%d] = %v, want %v: |diff| %.2e", frozen, chunk, k, y.Data[k], want, d)
				}
				for v := range vocab {
					d := -float64(dy[k]) * math.Exp(logits[v]-lse)
					if v == targets[k] {
						d += float64(dy[k])
					}
					for p := range hid {
						gx[r*hid+p] += d * r16(wv[v*hid+p])
						gxAbs[r*hid+p] += math.Abs(d * r16(wv[v*hid+p]))
						gw[v*hid+p] += d * r16(x0[r*hid+p])
						gwAbs[v*hid+p] += math.Abs(d * r16(x0[r*hid+p]))
					}
				}
			}
			cmp := func(what string, got []float32, want, abs []float64, k int) {
				for i := range want {
					bound := (1.0/256+float64(k+1)*math.Ldexp(1, -24))*abs[i] + 1e-6
					if d := math.Abs(float64(got[i]) - want[i]); d > bound {
						t.Errorf("frozen %v chunk %d: %s[%d] = %v, want %v: |diff| %.2e > %.2e", frozen, chunk, what, i, got[i], want[i], d, bound)
						return
					}
				}
			}
			cmp("dX", x.Grad, gx, gxAbs, vocab*len(rows))
			if !frozen {
				cmp("dW", w.Grad, gw, gwAbs, len(rows))
			}
		}
	}
}
