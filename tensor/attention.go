package tensor

import (
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/kernels"
)

// CausalAttention is scaled dot-product attention with a causal mask, a
// right-padding mask, an optional sliding window and grouped-query heads.
//
// q is [batch·tq, heads·hd]; k and v are [batch·tk, kvHeads·hd] (heads is a
// multiple of kvHeads; query head h reads key/value head h/(heads/kvHeads)).
// lengths[b] is the number of valid (unpadded) keys of sequence b. Query i of
// sequence b sits at absolute position tk−tq+i (so tq == tk for training and
// tq < tk when decoding with a KV cache) and attends to keys j ≤ that position
// with j < lengths[b]; with window > 0 (Mistral's sliding_window) it also
// ignores keys j ≤ position − window, so it sees at most window keys, itself
// included (transformers' sliding_window_overlay: kv_idx > q_idx − window).
// window 0 means no window. Query rows at or past lengths[b] are padding:
// their output is zero. The output has q's shape.
//
// Forward keeps only the log-sum-exp of each score row; backward recomputes
// the probabilities from it (as flash attention does) so no [tq, tk] matrix
// per head outlives the op:
//
//	dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P⊙(dP − rowsum(dO⊙O)), dQ += s·dS·K, dK += s·dSᵀ·Q
//
// with s = 1/sqrt(hd). Work is split across cores by (sequence, kv head).
func CausalAttention(tp *Tape, q, k, v *Tensor, batch, heads, kvHeads int, lengths []int, window int) *Tensor {
	if heads%kvHeads != 0 || q.Cols()%heads != 0 || len(lengths) != batch || window < 0 {
		panic(fmt.Sprintf("tensor.CausalAttention: q %v, %d heads, %d kv heads, %d lengths for batch %d, window %d", q.Shape, heads, kvHeads, len(lengths), batch, window))
	}
	hd := q.Cols() / heads
	tq, tk := q.Rows()/batch, k.Rows()/batch
	if q.Rows() != batch*tq || k.Rows() != batch*tk || k.Cols() != kvHeads*hd || v.Rows() != k.Rows() || v.Cols() != k.Cols() || tq > tk {
		panic(fmt.Sprintf("tensor.CausalAttention: q %v, k %v, v %v, batch %d", q.Shape, k.Shape, v.Shape, batch))
	}
	for b, l := range lengths {
		if l < 0 || l > tk {
			panic(fmt.Sprintf("tensor.CausalAttention: length %d of sequence %d outside [0, %d]", l, b, tk))
		}
	}
	a := attnShape{batch: batch, heads: heads, kvHeads: kvHeads, hd: hd, tq: tq, tk: tk, lengths: lengths, window: window,
		ldq: heads * hd, ldk: kvHeads * hd, scale: float32(1 / math.Sqrt(float64(hd)))}
	grad := tp.needs(q, k, v)
	o := tp.output(grad, q.Shape...)
	var lse []float32
	if grad {
		lse = tp.alloc(batch * heads * tq)
	}
	kernels.Parallel(batch*kvHeads, func(lo, hi int) {
		s := make([]float32, min(tq, qBlock)*tk)
		for task := lo; task < hi; task++ {
			a.forward(task/kvHeads, task%kvHeads, q.Data, k.Data, v.Data, o.Data, lse, s)
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
		kernels.Parallel(batch*kvHeads, func(lo, hi int) {
			p, dp := make([]float32, min(tq, qBlock)*tk), make([]float32, min(tq, qBlock)*tk)
			for task := lo; task < hi; task++ {
				a.backward(task/kvHeads, task%kvHeads, q.Data, k.Data, v.Data, o.Data, o.Grad, lse, dq, dk, dv, p, dp)
			}
		})
	})
	return o
}

type attnShape struct {
	batch, heads, kvHeads, hd, tq, tk int
	lengths                           []int
	window                            int // 0: none
	ldq, ldk                          int
	scale                             float32
}

// span returns, for sequence b, the offset of its first query's position,
// how many query rows are real (not padding), and the number of valid keys.
func (a *attnShape) span(b int) (off, nq, nk int) {
	off = a.tk - a.tq
	nk = a.lengths[b]
	nq = min(a.tq, nk-off)
	return off, max(nq, 0), nk
}

// qBlock is the number of query rows attention handles at a time: each
// block only computes scores against the keys it can see (causal), which
// halves the work of a full square.
const qBlock = 64

// scores fills s[(i−i0)·(k1−k0) + j−k0] with scale·q_i·k_j for query rows
// [i0, i1) of head h against keys [k0, k1), then applies the causal mask
// (−Inf past position off+i) and the window (−Inf at or before
// off+i−window).
func (a *attnShape) scores(b, h, g, off, i0, i1, k0, k1 int, q, k, s []float32) {
	nkb := k1 - k0
	qb := q[(b*a.tq+i0)*a.ldq+h*a.hd:]
	kb := k[(b*a.tk+k0)*a.ldk+g*a.hd:]
	kernels.SgemmSerial(false, true, i1-i0, nkb, a.hd, a.scale, qb, a.ldq, kb, a.ldk, 0, s, nkb)
	inf := float32(math.Inf(-1))
	for i := i0; i < i1; i++ {
		row := s[(i-i0)*nkb : (i-i0+1)*nkb]
		for j := off + i + 1; j < k1; j++ {
			row[j-k0] = inf
		}
		if a.window > 0 {
			for j := k0; j <= off+i-a.window; j++ {
				row[j-k0] = inf
			}
		}
	}
}

// blocks calls f for each block of real query rows [i0, i1) with the range
// of keys [k0, k1) the block can see.
func (a *attnShape) blocks(b int, f func(off, i0, i1, k0, k1 int)) {
	off, nq, nk := a.span(b)
	for i0 := 0; i0 < nq; i0 += qBlock {
		i1 := min(i0+qBlock, nq)
		k0 := 0
		if a.window > 0 {
			k0 = max(0, off+i0-a.window+1)
		}
		f(off, i0, i1, k0, min(nk, off+i1))
	}
}

func (a *attnShape) forward(b, g int, q, k, v, o, lse, s []float32) {
	group := a.heads / a.kvHeads
	for h := g * group; h < (g+1)*group; h++ {
		a.blocks(b, func(off, i0, i1, k0, k1 int) {
			nkb := k1 - k0
			a.scores(b, h, g, off, i0, i1, k0, k1, q, k, s)
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
					lse[(b*a.heads+h)*a.tq+i] = m + float32(math.Log(sum))
				}
			}
			vb := v[(b*a.tk+k0)*a.ldk+g*a.hd:]
			ob := o[(b*a.tq+i0)*a.ldq+h*a.hd:]
			kernels.SgemmSerial(false, false, i1-i0, a.hd, nkb, 1, s, nkb, vb, a.ldk, 0, ob, a.ldq)
		})
	}
}

func (a *attnShape) backward(b, g int, q, k, v, o, do, lse, dq, dk, dv, p, dp []float32) {
	group := a.heads / a.kvHeads
	for h := g * group; h < (g+1)*group; h++ {
		a.blocks(b, func(off, i0, i1, k0, k1 int) {
			nb, nkb := i1-i0, k1-k0
			base := (b*a.tq+i0)*a.ldq + h*a.hd
			qb, ob, dob, dqb := q[base:], o[base:], do[base:], dq[base:]
			kbase := (b*a.tk+k0)*a.ldk + g*a.hd
			kb, vb, dkb, dvb := k[kbase:], v[kbase:], dk[kbase:], dv[kbase:]
			// P from the saved log-sum-exp.
			a.scores(b, h, g, off, i0, i1, k0, k1, q, k, p)
			for i := i0; i < i1; i++ {
				l := lse[(b*a.heads+h)*a.tq+i]
				row := p[(i-i0)*nkb : (i-i0+1)*nkb]
				for j, x := range row {
					row[j] = expf(x - l)
				}
			}
			// dV += Pᵀ·dO
			kernels.SgemmSerial(true, false, nkb, a.hd, nb, 1, p, nkb, dob, a.ldq, 1, dvb, a.ldk)
			// dP = dO·Vᵀ
			kernels.SgemmSerial(false, true, nb, nkb, a.hd, 1, dob, a.ldq, vb, a.ldk, 0, dp, nkb)
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
			// dQ += s·dS·K ; dK += s·dSᵀ·Q
			kernels.SgemmSerial(false, false, nb, a.hd, nkb, a.scale, dp, nkb, kb, a.ldk, 1, dqb, a.ldq)
			kernels.SgemmSerial(true, false, nkb, a.hd, nb, a.scale, dp, nkb, qb, a.ldq, 1, dkb, a.ldk)
		})
	}
}
