package tensor

import (
	"fmt"

	"github.com/smaug-dev/smaug/kernels"
)

// LogSoftmaxGather returns log_softmax(logits[rows[k]])[targets[k]] for
// each k, from logits [n, vocab] already computed in full (Linear over the
// output layer), and the mean of each selected row. Rows may repeat. It is
// the second half of an unfused output layer, as trainers without a fused
// one compute it (TRL: logits.log_softmax(-1).gather(…)): the whole logits
// exist, and the backward writes their whole gradient
//
//	dlogits[rows[k],:] += dy[k]·(onehot(targets[k]) − softmax(logits[rows[k],:]))
//
// (zero in rows nothing selects). LinearLogSoftmaxGather is the fused form
// that never holds them.
func LogSoftmaxGather(tp *Tape, logits *Tensor, rows, targets []int) (logp *Tensor, meanLogit []float32) {
	vocab, n := logits.Cols(), len(rows)
	if len(targets) != n {
		panic(fmt.Sprintf("tensor.LogSoftmaxGather: %d rows, %d targets", n, len(targets)))
	}
	for k, r := range rows {
		if r < 0 || r >= logits.Rows() {
			panic(fmt.Sprintf("tensor.LogSoftmaxGather: row %d at %d outside %d rows", r, k, logits.Rows()))
		}
		if t := targets[k]; t < 0 || t >= vocab {
			panic(fmt.Sprintf("tensor.LogSoftmaxGather: target %d at %d outside vocabulary of %d", t, k, vocab))
		}
	}
	grad := tp.needs(logits)
	y := tp.outputRaw(grad, n)
	meanLogit = make([]float32, n)
	lse := make([]float32, n)
	kernels.Parallel(n, func(a, b int) {
		for k := a; k < b; k++ {
			r := rows[k]
			y.Data[k], lse[k], meanLogit[k] = rowLogSoftmax(logits.Data[r*vocab:(r+1)*vocab], targets[k])
		}
	})
	if !grad {
		return y, meanLogit
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		g := tp.grad(logits)
		// The entries of each row, so that rows run in parallel without
		// two workers adding into the same one.
		byRow := map[int][]int{}
		var order []int
		for k, r := range rows {
			if _, ok := byRow[r]; !ok {
				order = append(order, r)
			}
			byRow[r] = append(byRow[r], k)
		}
		kernels.Parallel(len(order), func(a, b int) {
			for _, r := range order[a:b] {
				src, dst := logits.Data[r*vocab:(r+1)*vocab], g[r*vocab:(r+1)*vocab]
				for _, k := range byRow[r] {
					dy, l := y.Grad[k], lse[k]
					for j, v := range src {
						dst[j] -= dy * expf(v-l)
					}
					dst[targets[k]] += dy
				}
			}
		})
	})
	return y, meanLogit
}
