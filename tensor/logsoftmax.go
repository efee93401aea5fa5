package tensor

import (
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/kernels"
)

// LogSoftmaxGather returns, for each row r of logits [rows, vocab], the
// log-softmax at column targets[r]: logits[r,t] − logsumexp(logits[r,:]). The
// full log-softmax is never materialised; the log-sum-exp per row is kept.
// It also returns the mean of each row's logits (TRL's logits/chosen metric).
//
// Backward: dlogits[r,:] += dy[r]·(onehot(t) − softmax(logits[r,:])).
func LogSoftmaxGather(tp *Tape, logits *Tensor, targets []int) (logp *Tensor, meanLogit []float32) {
	rows, vocab := logits.Rows(), logits.Cols()
	if len(targets) != rows {
		panic(fmt.Sprintf("tensor.LogSoftmaxGather: %d targets for %d rows", len(targets), rows))
	}
	for i, t := range targets {
		if t < 0 || t >= vocab {
			panic(fmt.Sprintf("tensor.LogSoftmaxGather: target %d at row %d outside vocabulary of %d", t, i, vocab))
		}
	}
	grad := tp.needs(logits)
	y := tp.outputRaw(grad, rows)
	lse := make([]float32, rows)
	meanLogit = make([]float32, rows)
	kernels.Parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := logits.Data[r*vocab : (r+1)*vocab]
			m := row[0]
			var sum float64
			for _, x := range row {
				m = max(m, x)
				sum += float64(x)
			}
			meanLogit[r] = float32(sum / float64(vocab))
			var se float64
			for _, x := range row {
				se += float64(expf(x - m))
			}
			l := float64(m) + math.Log(se)
			lse[r] = float32(l)
			y.Data[r] = float32(float64(row[targets[r]]) - l)
		}
	})
	if !grad {
		return y, meanLogit
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		gl := tp.grad(logits)
		kernels.Parallel(rows, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				dy := y.Grad[r]
				if dy == 0 {
					continue
				}
				row, g := logits.Data[r*vocab:(r+1)*vocab], gl[r*vocab:(r+1)*vocab]
				l := lse[r]
				for j, x := range row {
					g[j] -= dy * expf(x-l)
				}
				g[targets[r]] += dy
			}
		})
	})
	return y, meanLogit
}

// SegmentSum sums consecutive runs of x [n]: segment s covers
// [offsets[s], offsets[s+1]), with offsets[0] = 0 and the last offset = n. Backward broadcasts dy[s] to its
// segment. It turns per-token log-probs into per-sequence log-probs.
func SegmentSum(tp *Tape, x *Tensor, offsets []int) *Tensor {
	if len(offsets) < 1 || offsets[0] != 0 || offsets[len(offsets)-1] != x.Len() {
		panic(fmt.Sprintf("tensor.SegmentSum: offsets %v for %d values", offsets, x.Len()))
	}
	segs := len(offsets) - 1
	grad := tp.needs(x)
	y := tp.outputRaw(grad, segs)
	for s := 0; s < segs; s++ {
		var sum float64
		for _, v := range x.Data[offsets[s]:offsets[s+1]] {
			sum += float64(v)
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
				gx[i] += y.Grad[s]
			}
		}
	})
	return y
}
