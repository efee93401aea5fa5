package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The backward of every op is checked against central finite differences of
// the scalar f = Σ_i w_i·y_i (random w) computed in float64 from float32
// forwards. With h = 1e-3 the float32 rounding noise is ≈1e-4 of |f|, so the
// test asks ‖g_analytic − g_numeric‖/‖g_numeric‖ < 2e-3 over each input.
const gradTol = 2e-3

func randTensor(r *rand.Rand, scale float64, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64() * scale)
	}
	return t
}

// checkGrads compares the tape's gradients of f with finite differences for
// every tensor in inputs (each is marked as requiring a gradient).
func checkGrads(t *testing.T, name string, inputs []*Tensor, f func(tp *Tape) *Tensor) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for _, in := range inputs {
		in.RequiresGrad = true
		in.Grad = nil
	}
	tp := NewTape()
	y := f(tp)
	w := make([]float32, y.Len())
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	tp.Backward(y, w)
	obj := func() float64 {
		out := f(nil)
		var s float64
		for i, v := range out.Data {
			s += float64(w[i]) * float64(v)
		}
		return s
	}
	const h = 1e-3
	for k, in := range inputs {
		if in.Grad == nil {
			t.Fatalf("%s: input %d got no gradient", name, k)
		}
		var num2, diff2 float64
		for i := range in.Data {
			old := in.Data[i]
			in.Data[i] = old + h
			fp := obj()
			in.Data[i] = old - h
			fm := obj()
			in.Data[i] = old
			g := (fp - fm) / (2 * h)
			d := g - float64(in.Grad[i])
			num2 += g * g
			diff2 += d * d
		}
		rel := math.Sqrt(diff2) / math.Max(math.Sqrt(num2), 1e-12)
		if rel > gradTol {
			t.Errorf("%s: input %d: relative gradient error %.2e > %.0e", name, k, rel, gradTol)
		}
	}
}

func TestOpGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tbl := NewRopeTable(8, []float64{1, 0.3, 0.1, 0.01})
	cases := []struct {
		name   string
		inputs []*Tensor
		f      func(in []*Tensor) func(tp *Tape) *Tensor
	}{
		{"Linear", []*Tensor{randTensor(r, 1, 5, 7), randTensor(r, 0.5, 3, 7), randTensor(r, 1, 3)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Linear(tp, in[0], in[1], in[2]) }
			}},
		{"LinearNoBias", []*Tensor{randTensor(r, 1, 2, 3, 4), randTensor(r, 0.5, 6, 4)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Linear(tp, in[0], in[1], nil) }
			}},
		{"Embedding", []*Tensor{randTensor(r, 1, 6, 4)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Embedding(tp, in[0], []int{3, 0, 3, 5}) }
			}},
		{"GatherRows", []*Tensor{randTensor(r, 1, 5, 3)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return GatherRows(tp, in[0], []int{4, 1, 1}) }
			}},
		{"RMSNorm", []*Tensor{randTensor(r, 1, 4, 9), randTensor(r, 1, 9)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return RMSNorm(tp, in[0], in[1], 1e-5) }
			}},
		{"RoPE", []*Tensor{randTensor(r, 1, 3, 16)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return RoPE(tp, in[0], 2, tbl, []int{0, 5, 17}) }
			}},
		// In place on a fresh copy (Scale by 1): the gradient is rotated in
		// the output's buffer; through a Segment, whose input already has a
		// gradient buffer, it is accumulated.
		{"RoPEInPlace", []*Tensor{randTensor(r, 1, 3, 16)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return RoPEInPlace(tp, Scale(tp, in[0], 1), 2, tbl, []int{0, 5, 17}) }
			}},
		{"RoPEInPlaceSegment", []*Tensor{randTensor(r, 1, 3, 16)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Segment(tp, Scale(tp, in[0], 1), func(tp *Tape, x *Tensor) *Tensor {
						return RoPEInPlace(tp, x, 2, tbl, []int{3, 1, 2})
					})
				}
			}},
		{"SwiGLU", []*Tensor{randTensor(r, 2, 3, 5), randTensor(r, 1, 3, 5)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return SwiGLU(tp, in[0], in[1]) }
			}},
		{"Add", []*Tensor{randTensor(r, 1, 4, 2), randTensor(r, 1, 4, 2)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Add(tp, in[0], in[1]) }
			}},
		// b (a fresh copy of in[1]) also feeds a Scale recorded before the
		// in-place sum, whose backward then adds into b's aliased gradient.
		{"AddInPlace", []*Tensor{randTensor(r, 1, 4, 2), randTensor(r, 1, 4, 2)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					b := Scale(tp, in[1], 1)
					c := Scale(tp, b, 2)
					return Add(tp, AddInPlace(tp, in[0], -0.7, b), c)
				}
			}},
		// In a Segment whose input (b, already with a gradient buffer) also
		// feeds a Scale: accumulated, not aliased.
		{"AddInPlaceSegment", []*Tensor{randTensor(r, 1, 4, 2)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Segment(tp, Scale(tp, in[0], 1), func(tp *Tape, x *Tensor) *Tensor {
						return AddInPlace(tp, Scale(tp, x, -3), 1, x)
					})
				}
			}},
		{"Scale", []*Tensor{randTensor(r, 1, 6)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Scale(tp, in[0], -1.5) }
			}},
		// Five selected rows (one repeated) in chunks of 2, 1 and all.
		{"LinearLogSoftmaxGather", []*Tensor{randTensor(r, 1, 4, 6), randTensor(r, 1, 11, 6)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					y, _ := LinearLogSoftmaxGather(tp, in[0], in[1], []int{0, 3, 2, 2, 1}, []int{0, 10, 3, 3, 7}, 2)
					return y
				}
			}},
		{"LinearLogSoftmaxGatherChunk1", []*Tensor{randTensor(r, 1, 3, 5), randTensor(r, 1, 9, 5)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					y, _ := LinearLogSoftmaxGather(tp, in[0], in[1], []int{2, 0, 1}, []int{8, 0, 4}, 1)
					return y
				}
			}},
		{"LinearLogSoftmaxGatherOneChunk", []*Tensor{randTensor(r, 1, 3, 5), randTensor(r, 1, 9, 5)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					y, _ := LinearLogSoftmaxGather(tp, in[0], in[1], []int{2, 0, 1, 0}, []int{8, 0, 4, 5}, 0)
					return y
				}
			}},
		{"SegmentSum", []*Tensor{randTensor(r, 1, 7)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return SegmentSum(tp, in[0], nil, []int{0, 2, 2, 7}) }
			}},
		{"SegmentSumIndexed", []*Tensor{randTensor(r, 1, 5)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return SegmentSum(tp, in[0], []int{0, 1, 1, 4, 0, 2}, []int{0, 3, 6}) }
			}},
		// Two sequences of 5 positions, 4 query heads over 2 kv heads of size 4;
		// the second sequence has 3 valid tokens (right padding).
		{"AttentionGQA", []*Tensor{randTensor(r, 1, 10, 16), randTensor(r, 1, 10, 8), randTensor(r, 1, 10, 8)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Attention(tp, in[0], in[1], in[2], 4, 2, PaddedSpans(2, 5, 5, []int{5, 3}), 0)
				}
			}},
		// Two sequences of 70 positions: more than one query block.
		{"AttentionBlocks", []*Tensor{randTensor(r, 1, 140, 8), randTensor(r, 1, 140, 4), randTensor(r, 1, 140, 4)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Attention(tp, in[0], in[1], in[2], 2, 1, PaddedSpans(2, 70, 70, []int{70, 66}), 0)
				}
			}},
		// Sliding window of 3 over sequences of 7 and 5 (padded) positions.
		{"AttentionWindow", []*Tensor{randTensor(r, 1, 14, 16), randTensor(r, 1, 14, 8), randTensor(r, 1, 14, 8)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Attention(tp, in[0], in[1], in[2], 4, 2, PaddedSpans(2, 7, 7, []int{7, 5}), 3)
				}
			}},
		// A window of 50 over 70 positions: blocks whose keys start past 0.
		{"AttentionWindowBlocks", []*Tensor{randTensor(r, 1, 140, 8), randTensor(r, 1, 140, 4), randTensor(r, 1, 140, 4)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Attention(tp, in[0], in[1], in[2], 2, 1, PaddedSpans(2, 70, 70, []int{70, 61}), 50)
				}
			}},
		// A shared prefix of 4 rows continued by branch A (3 rows, one span
		// of 7) and branch B (2 rows seeing the prefix, then itself), and a
		// packed sequence of 3 rows after them; with and without a window.
		{"AttentionSharedPrefix", []*Tensor{randTensor(r, 1, 12, 8), randTensor(r, 1, 12, 4), randTensor(r, 1, 12, 4)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Attention(tp, in[0], in[1], in[2], 2, 1, treeSpans, 0) }
			}},
		{"AttentionSharedPrefixWindow", []*Tensor{randTensor(r, 1, 12, 8), randTensor(r, 1, 12, 4), randTensor(r, 1, 12, 4)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor { return Attention(tp, in[0], in[1], in[2], 2, 1, treeSpans, 3) }
			}},
		{"AttentionMHA", []*Tensor{randTensor(r, 1, 6, 6), randTensor(r, 1, 6, 6), randTensor(r, 1, 6, 6)},
			func(in []*Tensor) func(*Tape) *Tensor {
				return func(tp *Tape) *Tensor {
					return Attention(tp, in[0], in[1], in[2], 2, 2, PaddedSpans(1, 6, 6, []int{6}), 0)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGrads(t, c.name, c.inputs, c.f(c.inputs)) })
	}
}

// treeSpans lays out 12 rows: a prefix (rows 0–3) continued by branch A
// (rows 4–6) as one span, branch B (rows 7–8) attending to the prefix and
// then to itself, and a separate sequence (rows 9–11).
var treeSpans = []AttnSpan{
	{Q: 0, N: 7, Keys: []RowRange{{0, 7}}},
	{Q: 7, N: 2, Keys: []RowRange{{0, 4}, {7, 2}}, Off: 4},
	{Q: 9, N: 3, Keys: []RowRange{{9, 3}}},
}

// TestAttentionSpansForward checks each logical sequence of a shared-prefix
// layout — prefix+A, prefix+B, and a long prefix with two 70-row branches
// (several query blocks) — against naiveAttention on that sequence alone,
// with and without a window (1e-5 absolute).
func TestAttentionSpansForward(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const heads, kvHeads, hd = 4, 2, 3
	// Rows: prefix P, branch A (a rows), branch B (b rows).
	for _, c := range []struct{ p, a, b, window int }{{4, 3, 2, 0}, {4, 3, 2, 3}, {1, 0, 5, 0}, {90, 70, 70, 0}, {90, 70, 75, 40}} {
		n := c.p + c.a + c.b
		q := randTensor(r, 1, n, heads*hd)
		k := randTensor(r, 1, n, kvHeads*hd)
		v := randTensor(r, 1, n, kvHeads*hd)
		spans := []AttnSpan{{Q: 0, N: c.p + c.a, Keys: []RowRange{{0, c.p + c.a}}},
			{Q: c.p + c.a, N: c.b, Keys: []RowRange{{0, c.p}, {c.p + c.a, c.b}}, Off: c.p}}
		got := Attention(nil, q, k, v, heads, kvHeads, spans, c.window)
		rows := func(x *Tensor, rs ...RowRange) []float32 {
			var out []float32
			for _, rr := range rs {
				out = append(out, x.Data[rr.Start*x.Cols():(rr.Start+rr.Len)*x.Cols()]...)
			}
			return out
		}
		check := func(name string, rs []RowRange, gotRows []float32) {
			l := 0
			for _, rr := range rs {
				l += rr.Len
			}
			want := naiveAttention(rows(q, rs...), rows(k, rs...), rows(v, rs...), l, l, heads, kvHeads, hd, l, c.window)
			// Compare the rows the span owns (the last len(gotRows) of the sequence).
			want = want[len(want)-len(gotRows):]
			for i, w := range want {
				if math.Abs(float64(gotRows[i])-w) > 1e-5 {
					t.Fatalf("%+v %s: out[%d] = %v, want %v", c, name, i, gotRows[i], w)
				}
			}
		}
		check("prefix+A", []RowRange{{0, c.p + c.a}}, rows(got, RowRange{0, c.p + c.a}))
		check("prefix+B", []RowRange{{0, c.p}, {c.p + c.a, c.b}}, rows(got, RowRange{c.p + c.a, c.b}))
	}
}

// naiveAttention is a direct float64 transcription of masked softmax
// attention for one sequence, used as the forward reference: query i sits
// at position tk−tq+i and sees keys j ≤ position, j < length and, with
// window > 0, j > position − window.
func naiveAttention(q, k, v []float32, tq, tk, heads, kvHeads, hd, length, window int) []float64 {
	out := make([]float64, tq*heads*hd)
	off := tk - tq
	for h := 0; h < heads; h++ {
		g := h / (heads / kvHeads)
		for i := 0; i < tq; i++ {
			pos := off + i
			if pos >= length {
				continue
			}
			var s []float64
			j0 := 0
			if window > 0 {
				j0 = max(0, pos-window+1)
			}
			for j := j0; j <= pos && j < length; j++ {
				var d float64
				for c := 0; c < hd; c++ {
					d += float64(q[i*heads*hd+h*hd+c]) * float64(k[j*kvHeads*hd+g*hd+c])
				}
				s = append(s, d/math.Sqrt(float64(hd)))
			}
			m := math.Inf(-1)
			for _, x := range s {
				m = math.Max(m, x)
			}
			var z float64
			for j := range s {
				s[j] = math.Exp(s[j] - m)
				z += s[j]
			}
			for j := range s {
				for c := 0; c < hd; c++ {
					out[i*heads*hd+h*hd+c] += s[j] / z * float64(v[(j0+j)*kvHeads*hd+g*hd+c])
				}
			}
		}
	}
	return out
}

func TestAttentionForward(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// Cases with a window have sequences longer than it (one with the window
	// longer than a query block, one decoding past the window); the last
	// cases span several query blocks of qBlock rows.
	for _, c := range []struct{ tq, tk, length, window int }{{7, 7, 7, 0}, {7, 7, 4, 0}, {1, 9, 9, 0}, {3, 9, 9, 0}, {2, 6, 5, 0},
		{7, 7, 7, 3}, {7, 7, 6, 1}, {1, 9, 9, 4}, {3, 9, 8, 4}, {150, 150, 150, 80}, {150, 150, 133, 20}, {70, 200, 200, 100},
		{150, 150, 150, 0}, {150, 150, 97, 0}, {70, 200, 200, 0}} {
		const heads, kvHeads, hd = 6, 3, 5
		q := randTensor(r, 1, c.tq, heads*hd)
		k := randTensor(r, 1, c.tk, kvHeads*hd)
		v := randTensor(r, 1, c.tk, kvHeads*hd)
		got := Attention(nil, q, k, v, heads, kvHeads, PaddedSpans(1, c.tq, c.tk, []int{c.length}), c.window)
		want := naiveAttention(q.Data, k.Data, v.Data, c.tq, c.tk, heads, kvHeads, hd, c.length, c.window)
		for i, w := range want {
			if math.Abs(float64(got.Data[i])-w) > 1e-5 {
				t.Fatalf("tq=%d tk=%d len=%d window=%d: out[%d] = %v, want %v", c.tq, c.tk, c.length, c.window, i, got.Data[i], w)
			}
		}
	}
}

// TestTapeReuse checks that a reset tape's arena gives the same results on
// the next step (no stale data leaks between steps).
func TestTapeReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randTensor(r, 1, 4, 8)
	w := NewParam(randTensor(r, 1, 3, 8).Data, 3, 8)
	nw := randTensor(r, 1, 8)
	tp := NewTape()
	var first []float32
	for step := 0; step < 3; step++ {
		w.ZeroGrad()
		y := Linear(tp, RMSNorm(tp, x, nw, 1e-5), w, nil)
		y = Add(tp, y, Linear(tp, x, w, nil))
		seed := make([]float32, y.Len())
		for i := range seed {
			seed[i] = 1
		}
		tp.Backward(y, seed)
		if step == 0 {
			first = append([]float32(nil), w.Grad...)
		} else {
			for i := range first {
				if first[i] != w.Grad[i] {
					t.Fatalf("step %d: grad[%d] = %v, first step %v", step, i, w.Grad[i], first[i])
				}
			}
		}
		tp.Reset()
	}
}

// TestCheckpointSameGradients: a checkpointed block gives the same output
// and the same gradients (to x and to the parameters inside) as the plain
// one.
func TestCheckpointSameGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x0 := randTensor(r, 1, 6, 8)
	w := NewParam(randTensor(r, 0.5, 8, 8).Data, 8, 8)
	nw := NewParam(randTensor(r, 1, 8).Data, 8)
	block := func(tp *Tape, x *Tensor) *Tensor {
		h := RMSNorm(tp, x, nw, 1e-5)
		return Add(tp, x, SwiGLU(tp, Linear(tp, h, w, nil), h))
	}
	run := func(ckpt bool) (out, gx, gw, gn []float32) {
		w.ZeroGrad()
		nw.ZeroGrad()
		x := &Tensor{Shape: x0.Shape, Data: x0.Data, RequiresGrad: true}
		tp := NewTape()
		var y *Tensor
		if ckpt {
			y = Checkpoint(tp, x, block, nil)
			y = Checkpoint(tp, y, block, nil)
		} else {
			y = block(tp, block(tp, x))
		}
		seed := make([]float32, y.Len())
		for i := range seed {
			seed[i] = float32(i%5) - 2
		}
		tp.Backward(y, seed)
		return append([]float32(nil), y.Data...), append([]float32(nil), x.Grad...), append([]float32(nil), w.Grad...), append([]float32(nil), nw.Grad...)
	}
	a := [][]float32{}
	b := [][]float32{}
	{
		o, x, w, n := run(false)
		a = append(a, o, x, w, n)
	}
	{
		o, x, w, n := run(true)
		b = append(b, o, x, w, n)
	}
	for k, name := range []string{"output", "x grad", "weight grad", "norm grad"} {
		for i := range a[k] {
			if a[k][i] != b[k][i] {
				t.Fatalf("%s[%d]: checkpointed %v, plain %v", name, i, b[k][i], a[k][i])
			}
		}
	}
}

// TestSegmentSameGradients: a chain of blocks run as Segments gives,
// on every step of a reused tape, bitwise the output and gradients (to the
// input and the parameters) of the plain chain, while its arenas hold less:
// one block's gradients at a time instead of all of them.
func TestSegmentSameGradients(t *testing.T) {
	const rows, dim, blocks = 2048, 256, 6
	r := rand.New(rand.NewPCG(13, 14))
	x0 := randTensor(r, 1, rows, dim)
	w := NewParam(randTensor(r, 0.05, dim, dim).Data, dim, dim)
	nw := NewParam(randTensor(r, 1, dim).Data, dim)
	block := func(tp *Tape, x *Tensor) *Tensor {
		h := RMSNorm(tp, x, nw, 1e-5)
		return Add(tp, x, SwiGLU(tp, Linear(tp, h, w, nil), h))
	}
	seed := make([]float32, rows*dim)
	for i := range seed {
		seed[i] = float32(i%5) - 2
	}
	run := func(seg bool) (res [][]float32, arena int64) {
		tp := NewTape()
		for step := 0; step < 2; step++ {
			w.ZeroGrad()
			nw.ZeroGrad()
			x := &Tensor{Shape: x0.Shape, Data: x0.Data, RequiresGrad: true}
			y := x
			for range blocks {
				if seg {
					y = Segment(tp, y, block)
				} else {
					y = block(tp, y)
				}
			}
			tp.Backward(y, seed)
			res = append(res, append([]float32(nil), y.Data...), append([]float32(nil), x.Grad...),
				append([]float32(nil), w.Grad...), append([]float32(nil), nw.Grad...))
			arena = tp.ArenaBytes()
			tp.Reset()
		}
		return res, arena
	}
	plain, plainBytes := run(false)
	seg, segBytes := run(true)
	names := []string{"output", "x grad", "weight grad", "norm grad"}
	for k := range plain {
		for i := range plain[k] {
			if plain[k][i] != seg[k][i] {
				t.Fatalf("step %d, %s[%d]: segmented %v, plain %v", k/4, names[k%4], i, seg[k][i], plain[k][i])
			}
		}
	}
	// Plain: 6 blocks × (4 outputs + 4 gradients) × 2 MiB = 96 MiB (112 in
	// whole 16 MiB slabs); with segments the outputs, each block's input
	// gradient, and one block's other gradients in a slab of their own (96):
	// without the recycling the segments would hold more than the plain tape.
	if segBytes >= plainBytes {
		t.Errorf("arenas: %d MiB with segments, %d MiB plain", segBytes>>20, plainBytes>>20)
	}
	t.Logf("arenas: %d MiB with segments, %d MiB plain", segBytes>>20, plainBytes>>20)
}
