// Package tensor is smaug's small tensor engine: contiguous row-major float32
// tensors and a tape-based reverse-mode autodiff over a few coarse, fused ops
// (Linear, Embedding, GatherRows, RMSNorm, RoPE, Attention, SwiGLU, Add,
// Scale, LinearLogSoftmaxGather, SegmentSum, and the in-place AddInPlace
// and RoPEInPlace).
//
// Each op's forward and backward sit side by side in one file, in the manner
// of llm.c: the forward computes its output and, when a Tape is given and an
// input needs a gradient, records a closure that later accumulates the
// gradients of its inputs from the gradient of its output. Model code calls
// ops and never loops over raw data, so another backend only has to implement
// the op set.
//
// Memory: parameters are tensors that persist across steps and own their
// gradient buffers. Everything else made while a Tape records comes from the
// tape's arena, which Reset recycles after the optimiser step, so a training
// loop in steady state allocates nothing. A Segment (one decoder layer)
// keeps its outputs there but recycles its gradients as soon as its
// backward is done, and ops whose input nothing else reads (AddInPlace,
// RoPEInPlace) write their output over it. Forwards without a tape (reference
// model, evaluation, generation) allocate from the Go heap. Frozen weights
// may be held as bfloat16 (FromBF16), widened a block of rows at a time as
// Linear and Embedding use them.
//
// Matrix products go through package kernels (BLAS loaded at run time, or a
// pure-Go tiled kernel); elementwise work is split across cores with
// kernels.Parallel.
package tensor

import (
	"fmt"

	"github.com/smaug-dev/smaug/kernels"
)

// Tensor is a dense row-major float32 array. Grad, when non-nil, has the same
// length as Data and accumulates ∂loss/∂Data during Tape.Backward.
type Tensor struct {
	Shape []int
	Data  []float32
	// BF16, when non-nil, holds a frozen weight as bfloat16 bits in place of
	// Data, which is then nil (see FromBF16). Only Linear's weight and
	// Embedding's table may be such a tensor.
	BF16         []uint16
	Grad         []float32
	RequiresGrad bool
	param        bool // persistent: its Grad is heap-allocated and survives Tape.Reset
}

// New returns a zero tensor of the given shape on the Go heap. A shape the
// process has no memory for panics with a *MemoryError.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: allocChecked(numel(shape))}
}

// FromData wraps data (not copied) as a tensor of the given shape. It panics
// if the length does not match, which is a programming error.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != numel(shape) {
		panic(fmt.Sprintf("tensor.FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// NewParam wraps data as a trainable parameter: it requires a gradient, and
// its Grad buffer is allocated now and kept across steps.
func NewParam(data []float32, shape ...int) *Tensor {
	t := FromData(data, shape...)
	t.RequiresGrad = true
	t.param = true
	t.Grad = allocChecked(len(data))
	return t
}

// Freeze marks a parameter as not trainable and drops its gradient buffer.
func (t *Tensor) Freeze() {
	t.RequiresGrad = false
	t.Grad = nil
}

// ZeroGrad clears the gradient buffer, if any.
func (t *Tensor) ZeroGrad() { clear(t.Grad) }

// Len is the number of elements.
func (t *Tensor) Len() int {
	if t.BF16 != nil {
		return len(t.BF16)
	}
	return len(t.Data)
}

// Rows is the product of all dimensions but the last; Cols is the last.
func (t *Tensor) Rows() int { return t.Len() / t.Cols() }

// Cols is the size of the last dimension.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

func numel(shape []int) int { return checkedNumel(shape) }

// Tape records the backward closures of the ops run with it, and owns the
// arena their outputs and gradients come from. A nil *Tape is valid and means
// "no gradients": ops then allocate from the heap and record nothing.
type Tape struct {
	backward []func()
	// act holds what the forward makes; bwd what the backward makes
	// (gradients, temporaries). They are one arena except on a Segment's
	// tape, whose bwd is recycled as soon as its backward ends.
	act, bwd    *arena
	backwarding bool    // running backward closures: allocate from bwd
	scratch     *Tape   // for Checkpoint's recomputation
	segs        []*Tape // Segment's tapes, reused across steps
	nseg        int     // segs in use since Reset
	segBwd      *arena  // the bwd arena every Segment of this tape shares
	noGrad      bool    // an inference tape: an arena that records nothing
}

// arena is a bump allocator over 16 MiB slabs, recycled as a whole.
type arena struct {
	slabs [][]float32
	slab  int // index of the slab being filled
	off   int // next free offset in slabs[slab]
	inUse int // float32s handed out since reset
	peak  int // the most inUse has been
}

// NewTape returns an empty tape.
func NewTape() *Tape {
	a := &arena{}
	return &Tape{act: a, bwd: a}
}

// NewInferenceTape returns a tape that records nothing and computes no
// gradients — ops behave as with a nil tape (no dropout) — but whose arena
// holds the outputs, so repeated forwards (scoring, generation) reuse memory
// after Reset instead of allocating from the heap.
func NewInferenceTape() *Tape {
	tp := NewTape()
	tp.noGrad = true
	return tp
}

// Recording reports whether ops run with tp record backward closures
// (false for a nil or inference tape).
func (tp *Tape) Recording() bool { return tp != nil && !tp.noGrad }

const slabSize = 1 << 22 // 16 MiB of float32

// alloc returns n zeroed float32s from the arena (or the heap for a nil tape).
func (tp *Tape) alloc(n int) []float32 {
	out := tp.allocRaw(n)
	if tp != nil {
		clear(out)
	}
	return out
}

// allocRaw is alloc without the zeroing, for buffers the caller overwrites
// entirely (arena memory holds the previous step's values).
func (tp *Tape) allocRaw(n int) []float32 {
	if tp == nil {
		return allocChecked(n)
	}
	if tp.backwarding {
		return tp.bwd.alloc(n)
	}
	return tp.act.alloc(n)
}

func (a *arena) alloc(n int) []float32 {
	a.inUse += n
	a.peak = max(a.peak, a.inUse)
	for {
		if a.slab < len(a.slabs) {
			s := a.slabs[a.slab]
			if a.off+n <= len(s) {
				out := s[a.off : a.off+n : a.off+n]
				a.off += n
				return out
			}
			if a.off == 0 && n > len(s) {
				// Too small even when empty: replace it with a big enough slab.
				a.slabs[a.slab] = allocChecked(n)
				continue
			}
			a.slab++
			a.off = 0
			continue
		}
		a.slabs = append(a.slabs, allocChecked(max(n, slabSize)))
	}
}

// reset recycles the whole arena.
func (a *arena) reset() { a.slab, a.off, a.inUse = 0, 0, 0 }

// bytes is the memory the arena holds.
func (a *arena) bytes() int64 {
	var n int64
	for _, s := range a.slabs {
		n += int64(len(s)) * 4
	}
	return n
}

// Reset forgets every recorded op and recycles the arena. Tensors made with
// this tape before Reset must not be used afterwards; parameters are kept.
func (tp *Tape) Reset() {
	clear(tp.backward)
	tp.backward = tp.backward[:0]
	tp.act.reset()
	tp.bwd.reset()
	for _, s := range tp.segs[:tp.nseg] {
		s.Reset()
	}
	tp.nseg = 0
}

// Mark is a position in a tape's arena (see Tape.Mark).
type Mark struct{ slab, off, inUse int }

// Mark returns the arena's current position. Release(mark) later frees
// everything allocated after it, for inference loops that keep only a
// layer's output: tensors made after the mark must not be used after.
// Only for inference tapes (a recording tape needs all its memory until
// Reset).
func (tp *Tape) Mark() Mark { return Mark{tp.act.slab, tp.act.off, tp.act.inUse} }

// Release returns the arena to a position from Mark.
func (tp *Tape) Release(m Mark) {
	if !tp.noGrad {
		panic("tensor.Tape.Release on a recording tape")
	}
	tp.act.slab, tp.act.off, tp.act.inUse = m.slab, m.off, m.inUse
}

// ArenaBytes reports the memory held by the tape's arenas (a Segment's
// recycled one and Checkpoint's scratch tape included), for diagnostics.
func (tp *Tape) ArenaBytes() int64 {
	n := tp.act.bytes()
	if tp.bwd != tp.act {
		n += tp.bwd.bytes()
	}
	if tp.segBwd != nil {
		n += tp.segBwd.bytes()
	}
	if tp.scratch != nil {
		n += tp.scratch.ArenaBytes()
	}
	return n
}

// ArenaPeakBytes reports the most memory the tape's arenas have handed out
// at once since the tape was made (summed over its arenas, a Segment's
// recycled one and Checkpoint's scratch tape included): what a step
// really touches, without the unused tails of slabs (never written, so
// never resident), for diagnostics and memory tests.
func (tp *Tape) ArenaPeakBytes() int64 {
	n := int64(tp.act.peak)
	if tp.bwd != tp.act {
		n += int64(tp.bwd.peak)
	}
	if tp.segBwd != nil {
		n += int64(tp.segBwd.peak)
	}
	n *= 4
	if tp.scratch != nil {
		n += tp.scratch.ArenaPeakBytes()
	}
	return n
}

// record appends a backward closure.
func (tp *Tape) record(f func()) { tp.backward = append(tp.backward, f) }

// needs reports whether an op on these inputs must record a backward.
func (tp *Tape) needs(inputs ...*Tensor) bool {
	if !tp.Recording() {
		return false
	}
	for _, t := range inputs {
		if t != nil && t.RequiresGrad {
			return true
		}
	}
	return false
}

// output makes an op's output tensor, zeroed.
func (tp *Tape) output(grad bool, shape ...int) *Tensor {
	t := &Tensor{Shape: append([]int(nil), shape...), Data: tp.alloc(numel(shape))}
	t.RequiresGrad = grad
	return t
}

// outputRaw makes an output tensor the op overwrites entirely, without
// zeroing it first.
func (tp *Tape) outputRaw(grad bool, shape ...int) *Tensor {
	t := &Tensor{Shape: append([]int(nil), shape...), Data: tp.allocRaw(numel(shape))}
	t.RequiresGrad = grad
	return t
}

// grad returns t's gradient buffer, allocating a zeroed one if needed.
func (tp *Tape) grad(t *Tensor) []float32 {
	g, fresh := tp.gradRaw(t)
	if fresh {
		clear(g)
	}
	return g
}

// gradRaw returns t's gradient buffer and whether it was just allocated.
// A fresh buffer holds garbage: the caller must overwrite all of it (not
// accumulate), which saves zeroing the large activation gradients; later
// ops accumulate into it as usual.
func (tp *Tape) gradRaw(t *Tensor) (g []float32, fresh bool) {
	if t.Grad != nil {
		return t.Grad, false
	}
	if t.param {
		t.Grad = allocChecked(len(t.Data))
		return t.Grad, false
	}
	t.Grad = tp.allocRaw(len(t.Data))
	return t.Grad, true
}

// accumulateInto does dst (+)= s·src: assignment when fresh.
func accumulateInto(dst []float32, fresh bool, src []float32, s float32) {
	kernels.Parallel(len(dst), func(lo, hi int) {
		if fresh {
			for i := lo; i < hi; i++ {
				dst[i] = s * src[i]
			}
			return
		}
		for i := lo; i < hi; i++ {
			dst[i] += s * src[i]
		}
	})
}

// Backward seeds out's gradient with seed (∂loss/∂out, same length as out)
// and runs the recorded backward closures in reverse order, accumulating
// gradients into every tensor that requires one.
func (tp *Tape) Backward(out *Tensor, seed []float32) {
	if len(seed) != len(out.Data) {
		panic(fmt.Sprintf("tensor.Backward: seed of %d for output of %d", len(seed), len(out.Data)))
	}
	g := tp.grad(out)
	for i, s := range seed {
		g[i] += s
	}
	tp.runBackward()
}

// runBackward runs the recorded closures in reverse order, their
// allocations coming from the backward arena.
func (tp *Tape) runBackward() {
	tp.backwarding = true
	defer func() { tp.backwarding = false }()
	for i := len(tp.backward) - 1; i >= 0; i-- {
		tp.backward[i]()
	}
}
