package tensor

import (
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/kernels"
)

// RowRange is a run of consecutive rows [Start, Start+Len) of a tensor.
type RowRange struct{ Start, Len int }

// AttnSpan is a run of consecutive query rows and the keys they attend to,
// the unit Attention works on. Its keys, listed in Keys, form one logical
// sequence (the ranges concatenated in order); query i of the span sits at
// logical position Off+i of that sequence and sees keys j ≤ Off+i (causal),
// and with a sliding window only j > Off+i−window.
//
// A right-padded batch has one span per sequence (keys: the sequence's own
// rows; Off = keys − queries when decoding with a KV cache). Sequences
// packed into one row without padding are one span each. A branch of a
// shared prefix is a span whose Keys list the prefix's rows and then its
// own, with Off = the prefix's length, so two branches attend to one copy
// of the prefix's keys and values.
type AttnSpan struct {
	Q, N int        // query rows [Q, Q+N)
	Keys []RowRange // key (and value) rows in logical order
	Off  int        // logical position of query row Q
}

// keys is the number of logical keys of the span.
func (s *AttnSpan) keys() int {
	n := 0
	for _, r := range s.Keys {
		n += r.Len
	}
	return n
}

// Attention is scaled dot-product attention with grouped-query heads over
// spans of query rows (see AttnSpan): q is [rows, heads·hd]; k and v are
// [keyRows, kvHeads·hd] (heads is a multiple of kvHeads; query head h reads
// key/value head h/(heads/kvHeads)). window > 0 is Mistral's sliding_window:
// a query then sees at most window keys, itself included (transformers'
// sliding_window_overlay: kv_idx > q_idx − window); 0 means no window. Spans
// must not share query rows; they may share keys. Query rows in no span
// (padding) get a zero output. The output has q's shape.
//
// Forward keeps only the log-sum-exp of each score row; backward recomputes
// the probabilities from it (as flash attention does) so no [queries, keys]
// matrix per head outlives the op:
//
//	dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P⊙(dP − rowsum(dO⊙O)), dQ += s·dS·K, dK += s·dSᵀ·Q
//
// with s = 1/sqrt(hd). Work is split across cores by (span, kv head); key
// and value gradients are summed per task and then added in span order,
// since spans may share keys (deterministic whatever the scheduling).
func Attention(tp *Tape, q, k, v *Tensor, heads, kvHeads int, spans []AttnSpan, window int) *Tensor {
	if heads <= 0 || kvHeads <= 0 || heads%kvHeads != 0 || q.Cols()%heads != 0 || window < 0 {
		panic(fmt.Sprintf("tensor.Attention: q %v, %d heads, %d kv heads, window %d", q.Shape, heads, kvHeads, window))
	}
	hd := q.Cols() / heads
	if k.Cols() != kvHeads*hd || v.Rows() != k.Rows() || v.Cols() != k.Cols() {
		panic(fmt.Sprintf("tensor.Attention: q %v, k %v, v %v, %d heads, %d kv heads", q.Shape, k.Shape, v.Shape, heads, kvHeads))
	}
	used := make([]bool, q.Rows())
	maxQ, maxK := 0, 0
	for si := range spans {
		s := &spans[si]
		nk := s.keys()
		if s.N < 0 || s.Off < 0 || s.Q < 0 || s.Q+s.N > q.Rows() || s.Off+s.N > nk {
			panic(fmt.Sprintf("tensor.Attention: span %d (%d queries from row %d at %d of %d keys) does not fit q %v", si, s.N, s.Q, s.Off, nk, q.Shape))
		}
		for _, r := range s.Keys {
			if r.Start < 0 || r.Len < 0 || r.Start+r.Len > k.Rows() {
				panic(fmt.Sprintf("tensor.Attention: span %d: key rows %+v outside %d", si, r, k.Rows()))
			}
		}
		for i := s.Q; i < s.Q+s.N; i++ {
			if used[i] {
				panic(fmt.Sprintf("tensor.Attention: query row %d in two spans", i))
			}
			used[i] = true
		}
		maxQ, maxK = max(maxQ, min(s.N, qBlock)), max(maxK, nk)
	}
	a := attnShape{heads: heads, kvHeads: kvHeads, hd: hd, window: window,
		ldq: heads * hd, ldk: kvHeads * hd, scale: float32(1 / math.Sqrt(float64(hd)))}
	grad := tp.needs(q, k, v)
	o := tp.output(grad, q.Shape...)
	var lse []float32
	if grad {
		lse = tp.alloc(q.Rows() * heads)
	}
	tasks := len(spans) * kvHeads
	kernels.Parallel(tasks, func(lo, hi int) {
		s := make([]float32, maxQ*maxK)
		for task := lo; task < hi; task++ {
			a.forward(&spans[task/kvHeads], task%kvHeads, q.Data, k.Data, v.Data, o.Data, lse, s)
		}
	})
	if !grad {
		return o
	}
	tp.record(func() {
		if o.Grad == nil {
			return
		}
		dq, dk, dv := tp.grad(q), tp.grad(k), tp.grad(v)
		// Each (span, kv head) task sums its key and value gradients in its
		// own buffer; they are added to dk and dv afterwards in span order,
		// so the result does not depend on scheduling.
		offs := make([]int, len(spans)+1)
		for si := range spans {
			offs[si+1] = offs[si] + spans[si].keys()*hd
		}
		per := offs[len(spans)]
		bp := getBuf(2 * kvHeads * per)
		bufK, bufV := (*bp)[:kvHeads*per], (*bp)[kvHeads*per:]
		kernels.Parallel(tasks, func(lo, hi int) {
			p, dp := make([]float32, maxQ*maxK), make([]float32, maxQ*maxK)
			for task := lo; task < hi; task++ {
				si, g := task/kvHeads, task%kvHeads
				b0, b1 := g*per+offs[si], g*per+offs[si+1]
				clear(bufK[b0:b1])
				clear(bufV[b0:b1])
				a.backward(&spans[si], g, q.Data, k.Data, v.Data, o.Data, o.Grad, lse, dq, bufK[b0:b1], bufV[b0:b1], p, dp)
			}
		})
		kernels.Parallel(kvHeads, func(lo, hi int) {
			for g := lo; g < hi; g++ {
				for si := range spans {
					dkp, dvp := bufK[g*per+offs[si]:], bufV[g*per+offs[si]:]
					a.pieces(&spans[si], 0, spans[si].keys(), func(row, col, n int) {
						for r := 0; r < n; r++ {
							dst, src := (row+r)*a.ldk+g*hd, (col+r)*hd
							for c := 0; c < hd; c++ {
								dk[dst+c] += dkp[src+c]
								dv[dst+c] += dvp[src+c]
							}
						}
					})
				}
			}
		})
		bufs.Put(bp)
	})
	return o
}

type attnShape struct {
	heads, kvHeads, hd int
	window             int // 0: none
	ldq, ldk           int
	scale              float32
}

// qBlock is the number of query rows attention handles at a time: each
// block only computes scores against the keys it can see (causal), which
// halves the work of a full square.
const qBlock = 64

// pieces calls f for each part of the logical keys [k0, k1) of span sp that
// lies in one of its key ranges: n keys starting at key row row, which are
// logical keys k0+col onwards.
func (a *attnShape) pieces(sp *AttnSpan, k0, k1 int, f func(row, col, n int)) {
	ls := 0
	for _, r := range sp.Keys {
		lo, hi := max(k0, ls), min(k1, ls+r.Len)
		if lo < hi {
			f(r.Start+lo-ls, lo-k0, hi-lo)
		}
		ls += r.Len
	}
}

// scores fills s[(i−i0)·(k1−k0) + j−k0] with scale·q_i·k_j for the span's
// query rows [i0, i1) of head h against logical keys [k0, k1), then applies
// the causal mask (−Inf past Off+i) and the window (−Inf at or before
// Off+i−window).
func (a *attnShape) scores(sp *AttnSpan, h, g, i0, i1, k0, k1 int, q, k, s []float32) {
	nkb := k1 - k0
	qb := q[(sp.Q+i0)*a.ldq+h*a.hd:]
	a.pieces(sp, k0, k1, func(row, col, n int) {
		kernels.SgemmSerial(false, true, i1-i0, n, a.hd, a.scale, qb, a.ldq, k[row*a.ldk+g*a.hd:], a.ldk, 0, s[col:], nkb)
	})
	inf := float32(math.Inf(-1))
	for i := i0; i < i1; i++ {
		row := s[(i-i0)*nkb : (i-i0+1)*nkb]
		for j := sp.Off + i + 1; j < k1; j++ {
			row[j-k0] = inf
		}
		if a.window > 0 {
			for j := k0; j <= sp.Off+i-a.window; j++ {
				row[j-k0] = inf
			}
		}
	}
}

// blocks calls f for each block of the span's query rows [i0, i1) with the
// range of logical keys [k0, k1) the block can see.
func (a *attnShape) blocks(sp *AttnSpan, f func(i0, i1, k0, k1 int)) {
	for i0 := 0; i0 < sp.N; i0 += qBlock {
		i1 := min(i0+qBlock, sp.N)
		k0 := 0
		if a.window > 0 {
			k0 = max(0, sp.Off+i0-a.window+1)
		}
		f(i0, i1, k0, sp.Off+i1)
	}
}

func (a *attnShape) forward(sp *AttnSpan, g int, q, k, v, o, lse, s []float32) {
	group := a.heads / a.kvHeads
	for h := g * group; h < (g+1)*group; h++ {
		a.blocks(sp, func(i0, i1, k0, k1 int) {
			nkb := k1 - k0
			a.scores(sp, h, g, i0, i1, k0, k1, q, k, s)
			for i := i0; i < i1; i++ {
				row := s[(i-i0)*nkb : (i-i0+1)*nkb]
				m := row[0]
				for _, x := range row[1:] {
					m = max(m, x)
				}
				var sum float64
				for j, x := range row {
					e := expf(x - m)
					row[j] = e
					sum += float64(e)
				}
				inv := float32(1 / sum)
				for j := range row {
					row[j] *= inv
				}
				if lse != nil {
					lse[(sp.Q+i)*a.heads+h] = m + float32(math.Log(sum))
				}
			}
			ob := o[(sp.Q+i0)*a.ldq+h*a.hd:]
			a.pieces(sp, k0, k1, func(row, col, n int) {
				kernels.SgemmSerial(false, false, i1-i0, a.hd, n, 1, s[col:], nkb, v[row*a.ldk+g*a.hd:], a.ldk, 1, ob, a.ldq)
			})
		})
	}
}

// backward accumulates the span's query gradients into dq and its key and
// value gradients into dkp and dvp, [logical keys, hd] buffers of the task.
func (a *attnShape) backward(sp *AttnSpan, g int, q, k, v, o, do, lse, dq, dkp, dvp, p, dp []float32) {
	group := a.heads / a.kvHeads
	for h := g * group; h < (g+1)*group; h++ {
		a.blocks(sp, func(i0, i1, k0, k1 int) {
			nb, nkb := i1-i0, k1-k0
			base := (sp.Q+i0)*a.ldq + h*a.hd
			qb, ob, dob, dqb := q[base:], o[base:], do[base:], dq[base:]
			// P from the saved log-sum-exp.
			a.scores(sp, h, g, i0, i1, k0, k1, q, k, p)
			for i := i0; i < i1; i++ {
				l := lse[(sp.Q+i)*a.heads+h]
				row := p[(i-i0)*nkb : (i-i0+1)*nkb]
				for j, x := range row {
					row[j] = expf(x - l)
				}
			}
			a.pieces(sp, k0, k1, func(row, col, n int) {
				vb, dvb := v[row*a.ldk+g*a.hd:], dvp[(k0+col)*a.hd:]
				// dV += Pᵀ·dO
				kernels.SgemmSerial(true, false, n, a.hd, nb, 1, p[col:], nkb, dob, a.ldq, 1, dvb, a.hd)
				// dP = dO·Vᵀ
				kernels.SgemmSerial(false, true, nb, n, a.hd, 1, dob, a.ldq, vb, a.ldk, 0, dp[col:], nkb)
			})
			// dS = P⊙(dP − D), D_i = Σ dO_i·O_i
			for i := 0; i < nb; i++ {
				var d float32
				oi, doi := ob[i*a.ldq:i*a.ldq+a.hd], dob[i*a.ldq:i*a.ldq+a.hd]
				for c := range oi {
					d += oi[c] * doi[c]
				}
				pr, dr := p[i*nkb:(i+1)*nkb], dp[i*nkb:(i+1)*nkb]
				for j := range dr {
					dr[j] = pr[j] * (dr[j] - d)
				}
			}
			a.pieces(sp, k0, k1, func(row, col, n int) {
				kb, dkb := k[row*a.ldk+g*a.hd:], dkp[(k0+col)*a.hd:]
				// dQ += s·dS·K ; dK += s·dSᵀ·Q
				kernels.SgemmSerial(false, false, nb, a.hd, n, a.scale, dp[col:], nkb, kb, a.ldk, 1, dqb, a.ldq)
				kernels.SgemmSerial(true, false, n, a.hd, nb, a.scale, dp[col:], nkb, qb, a.ldq, 1, dkb, a.hd)
			})
		})
	}
}

// PaddedSpans returns the spans of a right-padded batch: sequence b has
// query rows [b·tq, (b+1)·tq) and key rows [b·tk, (b+1)·tk), of which the
// first lengths[b] keys are real; its queries sit at positions tk−tq+i
// (tq == tk for training, tq < tk when decoding with a KV cache), and those
// at or past lengths[b] are padding.
func PaddedSpans(batch, tq, tk int, lengths []int) []AttnSpan {
	if len(lengths) != batch || tq > tk {
		panic(fmt.Sprintf("tensor.PaddedSpans: %d lengths for batch %d, %d queries over %d keys", len(lengths), batch, tq, tk))
	}
	spans := make([]AttnSpan, batch)
	off := tk - tq
	for b, l := range lengths {
		if l < 0 || l > tk {
			panic(fmt.Sprintf("tensor.PaddedSpans: length %d of sequence %d outside [0, %d]", l, b, tk))
		}
		spans[b] = AttnSpan{Q: b * tq, N: max(0, min(tq, l-off)), Keys: []RowRange{{b * tk, l}}, Off: off}
	}
	return spans
}
