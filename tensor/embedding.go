package tensor

import "fmt"

// Embedding gathers rows of the table w [vocab, dim] for the given ids and
// returns [len(ids), dim]. Backward scatter-adds each output row's gradient
// into the row of w it came from.
func Embedding(tp *Tape, w *Tensor, ids []int) *Tensor {
	vocab, dim := w.Shape[0], w.Shape[1]
	for i, id := range ids {
		if id < 0 || id >= vocab {
			panic(fmt.Sprintf("tensor.Embedding: id %d at %d outside vocabulary of %d", id, i, vocab))
		}
	}
	return gatherRows(tp, w, ids, len(ids), dim)
}

// GatherRows returns the rows of x [n, dim] listed in rows, as [len(rows), dim].
// Backward scatter-adds into x's gradient. It is how a model keeps only the
// positions whose next token is scored before the output layer.
func GatherRows(tp *Tape, x *Tensor, rows []int) *Tensor {
	n, dim := x.Rows(), x.Cols()
	for i, r := range rows {
		if r < 0 || r >= n {
			panic(fmt.Sprintf("tensor.GatherRows: row %d at %d outside %d rows", r, i, n))
		}
	}
	return gatherRows(tp, x, rows, len(rows), dim)
}

func gatherRows(tp *Tape, x *Tensor, rows []int, m, dim int) *Tensor {
	grad := tp.needs(x)
	y := tp.outputRaw(grad, m, dim)
	for i, r := range rows {
		if x.BF16 != nil {
			widenBF16(y.Data[i*dim:(i+1)*dim], x.BF16[r*dim:(r+1)*dim])
			continue
		}
		copy(y.Data[i*dim:(i+1)*dim], x.Data[r*dim:(r+1)*dim])
	}
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		gx := tp.grad(x)
		for i, r := range rows {
			dst := gx[r*dim : (r+1)*dim]
			for j, v := range y.Grad[i*dim : (i+1)*dim] {
				dst[j] += v
			}
		}
	})
	return y
}
