package tensor

import (
	"fmt"
	"sync"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/kernels"
)

// FromBF16 wraps bfloat16 bits (not copied) as a frozen tensor of the given
// shape: half the memory of float32, for weights that are read but never
// trained (the base under a LoRA adapter, a reference model). Linear and
// Embedding widen it to float32 as they use it, so results are exactly those
// of a float32 tensor holding the same values. It panics if the length does
// not match, which is a programming error.
func FromBF16(bits []uint16, shape ...int) *Tensor {
	if len(bits) != numel(shape) {
		panic(fmt.Sprintf("tensor.FromBF16: %d values for shape %v", len(bits), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), BF16: bits}
}

// ToBF16 rounds float32 values to bfloat16 bits (round to nearest even).
func ToBF16(data []float32) []uint16 {
	out := make([]uint16, len(data))
	kernels.Parallel(len(data), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = dtype.F32ToBF16(data[i])
		}
	})
	return out
}

// Float32 returns the tensor's values as float32: Data itself, or a new
// widened copy of a bfloat16 tensor's bits.
func (t *Tensor) Float32() []float32 {
	if t.BF16 == nil {
		return t.Data
	}
	out := make([]float32, len(t.BF16))
	widenBF16(out, t.BF16)
	return out
}

// widenBF16 writes the float32 values of src to dst, spreading spans of
// 64k values and more across cores.
func widenBF16(dst []float32, src []uint16) {
	widen := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = dtype.BF16ToF32(src[i])
		}
	}
	if len(src) < 1<<16 {
		widen(0, len(src))
		return
	}
	kernels.Parallel(len(src), widen)
}

// bf16Chunk is about how many weight elements Linear widens at a time
// from a bfloat16 weight: 16 MiB of float32, whatever the matrix size. (A
// variable so that tests can force many chunks on small matrices.)
var bf16Chunk = 1 << 22

// scratch holds the float32 buffers bfloat16 weights are widened into.
var scratch sync.Pool

// weightRows calls f over consecutive row ranges [lo, hi) of the matrix w
// [rows, cols] with those rows as float32: one call with Data for a float32
// weight; for a bfloat16 weight, chunks of about bf16Chunk elements widened
// into a pooled buffer, so no whole float32 copy of the matrix is made.
func weightRows(w *Tensor, f func(lo, hi int, rows []float32)) {
	n, cols := w.Shape[0], w.Shape[1]
	if w.BF16 == nil {
		f(0, n, w.Data)
		return
	}
	step := min(n, max(1, bf16Chunk/cols))
	p, _ := scratch.Get().(*[]float32)
	if p == nil || cap(*p) < step*cols {
		b := make([]float32, step*cols)
		p = &b
	}
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		buf := (*p)[:(hi-lo)*cols]
		widenBF16(buf, w.BF16[lo*cols:hi*cols])
		f(lo, hi, buf)
	}
	scratch.Put(p)
}

// checkCompute panics unless compute is a compute dtype the matrix products
// support (F32 or BF16); fn names the op. Configurations are validated
// before they reach an op (train.Config.Validate), so this is a programming
// error.
func checkCompute(fn string, compute dtype.DType) {
	if compute != dtype.F32 && compute != dtype.BF16 {
		panic(fmt.Sprintf("%s: compute dtype %v: want F32 or BF16", fn, compute))
	}
}

// bits16 recycles the bfloat16 buffers that float32 operands are rounded
// into for bfloat16 products.
var bits16 sync.Pool

// getBits returns a pooled []uint16 of length n; its contents are arbitrary.
func getBits(n int) *[]uint16 {
	p, _ := bits16.Get().(*[]uint16)
	if p == nil || cap(*p) < n {
		b := make([]uint16, n)
		return &b
	}
	*p = (*p)[:n]
	return p
}

// roundInto writes the bfloat16 bits of src (nearest even) to dst.
func roundInto(dst []uint16, src []float32) {
	round := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = dtype.F32ToBF16(src[i])
		}
	}
	if len(src) < 1<<16 {
		round(0, len(src))
		return
	}
	kernels.Parallel(len(src), round)
}

// weightBits calls f over consecutive row ranges [lo, hi) of the matrix w
// with those rows as bfloat16 bits: one call with BF16 itself for a
// bfloat16 weight (no copy), chunks of about bf16Chunk elements rounded
// into a pooled buffer for a float32 weight.
func weightBits(w *Tensor, f func(lo, hi int, rows []uint16)) {
	n, cols := w.Shape[0], w.Shape[1]
	if w.BF16 != nil {
		f(0, n, w.BF16)
		return
	}
	step := min(n, max(1, bf16Chunk/cols))
	p := getBits(step * cols)
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		buf := (*p)[:(hi-lo)*cols]
		roundInto(buf, w.Data[lo*cols:hi*cols])
		f(lo, hi, buf)
	}
	bits16.Put(p)
}

// The three matrix products of a weight W [rows, cols] (float32 or frozen
// bfloat16) in a Linear layer, in the compute dtype: with F32 the operands
// are used as they are (a bfloat16 W widened, see weightRows); with BF16
// both operands are rounded to bfloat16 — a bfloat16 W used as stored —
// and the products, exact in float32, are summed in float32
// (kernels.SgemmBF16), as torch autocast computes matmul and linear.

// mulWt sets y[:, j] = beta·y[:, j] + x·W[j]ᵀ for the n rows of x [n, cols]
// and every row j of W (the forward x·Wᵀ); y has row stride ldy.
func mulWt(compute dtype.DType, n int, x []float32, w *Tensor, beta float32, y []float32, ldy int) {
	cols := w.Shape[1]
	if compute == dtype.BF16 {
		weightBits(w, func(lo, hi int, wb []uint16) {
			kernels.SgemmBF16(false, true, n, hi-lo, cols, x, cols, wb, cols, beta, y[lo:], ldy)
		})
		return
	}
	weightRows(w, func(lo, hi int, wd []float32) {
		kernels.Sgemm(false, true, n, hi-lo, cols, 1, x, cols, wd, cols, beta, y[lo:], ldy)
	})
}

// mulW sets out = beta·out + g·W for g [n, rows] with row stride ldg and
// out [n, cols] (the input gradient dY·W).
func mulW(compute dtype.DType, n int, g []float32, ldg int, w *Tensor, beta float32, out []float32) {
	cols := w.Shape[1]
	if compute == dtype.BF16 {
		weightBits(w, func(lo, hi int, wb []uint16) {
			kernels.SgemmBF16(false, false, n, cols, hi-lo, g[lo:], ldg, wb, cols, beta*boolF(lo == 0)+boolF(lo > 0), out, cols)
		})
		return
	}
	weightRows(w, func(lo, hi int, wd []float32) {
		kernels.Sgemm(false, false, n, cols, hi-lo, 1, g[lo:], ldg, wd, cols, beta*boolF(lo == 0)+boolF(lo > 0), out, cols)
	})
}

// mulGradW adds gᵀ·x to gw [rows, cols] for g [n, rows] with row stride
// ldg and x [n, cols] (the weight gradient dYᵀ·X).
func mulGradW(compute dtype.DType, n int, g []float32, ldg int, x []float32, gw []float32, rows, cols int) {
	if compute == dtype.BF16 {
		p := getBits(n * cols)
		roundInto(*p, x[:n*cols])
		kernels.SgemmBF16(true, false, rows, cols, n, g, ldg, *p, cols, 1, gw, cols)
		bits16.Put(p)
		return
	}
	kernels.Sgemm(true, false, rows, cols, n, 1, g, ldg, x, cols, 1, gw, cols)
}
