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
