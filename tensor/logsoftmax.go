package tensor

import (
	"fmt"
	"math"
	"sync"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/kernels"
)

// OutputChunkBytes is the default memory of one chunk of logits in
// LinearLogSoftmaxGather: 16 MiB of float32, so the output layer's peak is
// this much (twice in the backward) whatever the batch and vocabulary.
const OutputChunkBytes = 16 << 20

// OutputChunkRows returns the default number of rows of logits
// LinearLogSoftmaxGather computes at a time for a vocabulary of the given
// size: OutputChunkBytes worth, at least 8 rows.
func OutputChunkRows(vocab int) int { return max(8, OutputChunkBytes/4/max(vocab, 1)) }

// LinearLogSoftmaxGather is the fused output layer: for each k it returns
// log_softmax(x[rows[k]]·Wᵀ)[targets[k]], the log-probability of token
// targets[k] after hidden state rows[k] of x [n, hidden] under the output
// projection W [vocab, hidden] (Hugging Face's lm_head layout; W may be a
// frozen bfloat16 tensor). It also returns the mean of each selected row's
// logits (TRL's logits/chosen metric). Rows may repeat.
//
// The logits are computed chunk rows at a time (chunk ≤ 0: OutputChunkRows)
// and dropped once each row's log-sum-exp is kept, as Liger Kernel's fused
// linear cross-entropy does, so neither the whole [len(rows), vocab] logits
// nor their gradient ever exist: the backward recomputes each chunk's logits
// and turns them in place into
//
//	dlogits[k,:] = dy[k]·(onehot(targets[k]) − softmax(logits[k,:]))
//
// from which dX[rows[k]] += dlogits·W and dW += dlogitsᵀ·X, chunk by chunk.
// When W needs no gradient, the forward forms (onehot − softmax)·W per row
// instead ([len(rows), hidden]) and the backward only scales it by dy.
// With chunk ≥ len(rows) it is the unfused computation (one chunk).
// LinearLogSoftmaxGather is LinearLogSoftmaxGatherAs with float32 compute.
func LinearLogSoftmaxGather(tp *Tape, x, w *Tensor, rows, targets []int, chunk int) (logp *Tensor, meanLogit []float32) {
	return LinearLogSoftmaxGatherAs(tp, x, w, rows, targets, chunk, dtype.F32)
}

// LinearLogSoftmaxGatherAs is LinearLogSoftmaxGather with the output
// layer's matrix products (the logits x·Wᵀ, their recomputation in the
// backward, dX = dlogits·W and dW = dlogitsᵀ·X) in the compute dtype, as
// LinearAs computes them: BF16 rounds both operands to bfloat16 and sums in
// float32. The log-softmax, its log-sum-exp and dlogits stay float32.
func LinearLogSoftmaxGatherAs(tp *Tape, x, w *Tensor, rows, targets []int, chunk int, compute dtype.DType) (logp *Tensor, meanLogit []float32) {
	checkCompute("tensor.LinearLogSoftmaxGather", compute)
	vocab, hid := w.Shape[0], w.Shape[1]
	n := len(rows)
	if x.Cols() != hid || len(targets) != n {
		panic(fmt.Sprintf("tensor.LinearLogSoftmaxGather: x %v, W %v, %d rows, %d targets", x.Shape, w.Shape, n, len(targets)))
	}
	for k, r := range rows {
		if r < 0 || r >= x.Rows() {
			panic(fmt.Sprintf("tensor.LinearLogSoftmaxGather: row %d at %d outside %d rows", r, k, x.Rows()))
		}
		if t := targets[k]; t < 0 || t >= vocab {
			panic(fmt.Sprintf("tensor.LinearLogSoftmaxGather: target %d at %d outside vocabulary of %d", t, k, vocab))
		}
	}
	if chunk <= 0 {
		chunk = OutputChunkRows(vocab)
	}
	chunk = max(1, min(chunk, n))
	grad := tp.needs(x, w)
	y := tp.outputRaw(grad, n)
	meanLogit = make([]float32, n)
	var lse []float32
	if grad {
		lse = tp.allocRaw(n)
	} else {
		lse = make([]float32, n)
	}
	// With W frozen (LoRA, a bfloat16 base) only dX is needed, and
	// dX[rows[k]] = dy[k]·u_k·W with u_k = onehot(targets[k]) − softmax
	// independent of dy: u_k·W is computed here, from logits at hand, so the
	// backward recomputes nothing.
	var uw []float32
	if grad && x.RequiresGrad && !w.RequiresGrad {
		uw = tp.allocRaw(n * hid)
	}
	bp := getBuf(chunk * (hid + vocab))
	xb, lg := (*bp)[:chunk*hid], (*bp)[chunk*hid:]
	for lo := 0; lo < n; lo += chunk {
		m := min(chunk, n-lo)
		chunkLogits(compute, x, w, rows[lo:lo+m], xb, lg)
		kernels.Parallel(m, func(a, b int) {
			for r := a; r < b; r++ {
				k := lo + r
				row := lg[r*vocab : (r+1)*vocab]
				y.Data[k], lse[k], meanLogit[k] = rowLogSoftmax(row, targets[k])
				if uw != nil {
					softmaxGrad(row, targets[k], lse[k], 1)
				}
			}
		})
		if uw != nil {
			mulW(compute, m, lg, vocab, w, 0, uw[lo*hid:])
		}
	}
	bufs.Put(bp)
	if !grad {
		return y, meanLogit
	}
	if uw != nil {
		tp.record(func() {
			if y.Grad == nil {
				return
			}
			gx := tp.grad(x)
			for k, row := range rows {
				dy, dst := y.Grad[k], gx[row*hid:(row+1)*hid]
				for j, v := range uw[k*hid : (k+1)*hid] {
					dst[j] += dy * v
				}
			}
		})
		return y, meanLogit
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		var gx, gw []float32
		if x.RequiresGrad {
			gx = tp.grad(x)
		}
		if w.RequiresGrad {
			gw = tp.grad(w)
		}
		bp := getBuf(chunk * (2*hid + vocab))
		xb, dxb, lg := (*bp)[:chunk*hid], (*bp)[chunk*hid:2*chunk*hid], (*bp)[2*chunk*hid:]
		for lo := 0; lo < n; lo += chunk {
			m := min(chunk, n-lo)
			chunkLogits(compute, x, w, rows[lo:lo+m], xb, lg)
			kernels.Parallel(m, func(a, b int) {
				for r := a; r < b; r++ {
					k := lo + r
					softmaxGrad(lg[r*vocab:(r+1)*vocab], targets[k], lse[k], y.Grad[k])
				}
			})
			if gx != nil {
				// dX rows = dlogits·W, accumulated over W's row blocks.
				mulW(compute, m, lg, vocab, w, 0, dxb)
				for r, row := range rows[lo : lo+m] {
					dst := gx[row*hid : (row+1)*hid]
					for j, v := range dxb[r*hid : (r+1)*hid] {
						dst[j] += v
					}
				}
			}
			if gw != nil {
				mulGradW(compute, m, lg, vocab, xb, gw, vocab, hid)
			}
		}
		bufs.Put(bp)
	})
	return y, meanLogit
}

// chunkLogits gathers the hidden rows of x into xb and writes their logits
// under W, computed in the compute dtype, into lg [len(rows), vocab].
func chunkLogits(compute dtype.DType, x, w *Tensor, rows []int, xb, lg []float32) {
	vocab, hid, m := w.Shape[0], w.Shape[1], len(rows)
	for r, row := range rows {
		copy(xb[r*hid:(r+1)*hid], x.Data[row*hid:(row+1)*hid])
	}
	mulWt(compute, m, xb, w, 0, lg, vocab)
}

// softmaxGrad turns a row of logits with log-sum-exp lse into the gradient
// of dy·log_softmax(row)[target]: dy·(onehot(target) − softmax(row)).
func softmaxGrad(row []float32, target int, lse, dy float32) {
	for j, v := range row {
		row[j] = -dy * expf(v-lse)
	}
	row[target] += dy
}

// rowLogSoftmax returns the log-softmax of row at target, the row's
// log-sum-exp (accumulated in float64) and the mean of the row.
func rowLogSoftmax(row []float32, target int) (logp, lse, mean float32) {
	m := row[0]
	var sum float64
	for _, v := range row {
		m = max(m, v)
		sum += float64(v)
	}
	var se float64
	for _, v := range row {
		se += float64(expf(v - m))
	}
	l := float64(m) + math.Log(se)
	return float32(float64(row[target]) - l), float32(l), float32(sum / float64(len(row)))
}

// bufs recycles ops' scratch buffers (output-layer chunks, attention key
// gradients) between calls.
var bufs sync.Pool

func getBuf(n int) *[]float32 {
	p, _ := bufs.Get().(*[]float32)
	if p == nil || cap(*p) < n {
		b := make([]float32, n)
		return &b
	}
	*p = (*p)[:n]
	return p
}

// SegmentSum sums runs of x [n]: segment s sums x[index[i]] for i in
// [offsets[s], offsets[s+1]), with offsets[0] = 0 and the last offset =
// len(index); a nil index stands for 0, 1, …, n−1 (consecutive runs of x).
// Entries of x may be used by several segments (a log-prob shared by two
// sequences). Backward adds dy[s] to each entry its segment read. It turns
// per-token log-probs into per-sequence log-probs.
func SegmentSum(tp *Tape, x *Tensor, index, offsets []int) *Tensor {
	n := x.Len()
	if index != nil {
		n = len(index)
		for i, j := range index {
			if j < 0 || j >= x.Len() {
				panic(fmt.Sprintf("tensor.SegmentSum: index %d at %d outside %d values", j, i, x.Len()))
			}
		}
	}
	if len(offsets) < 1 || offsets[0] != 0 || offsets[len(offsets)-1] != n {
		panic(fmt.Sprintf("tensor.SegmentSum: offsets %v for %d values", offsets, n))
	}
	at := func(i int) int {
		if index == nil {
			return i
		}
		return index[i]
	}
	segs := len(offsets) - 1
	grad := tp.needs(x)
	y := tp.outputRaw(grad, segs)
	for s := 0; s < segs; s++ {
		var sum float64
		for i := offsets[s]; i < offsets[s+1]; i++ {
			sum += float64(x.Data[at(i)])
		}
		y.Data[s] = float32(sum)
	}
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		gx := tp.grad(x)
		for s := 0; s < segs; s++ {
			for i := offsets[s]; i < offsets[s+1]; i++ {
				gx[at(i)] += y.Grad[s]
			}
		}
	})
	return y
}
