package tensor

// Checkpoint runs f(x) — typically one decoder layer — without keeping its
// intermediate activations: the forward runs on a scratch tape that is
// reset at once (only the output is kept), and the backward runs f again on
// the scratch tape and backpropagates through that recomputation (activation
// recomputation, "gradient checkpointing"). It trades one extra forward of f
// for the memory of f's activations.
//
// f must compute the same thing twice: anything random inside it (dropout)
// must draw the same numbers on the recomputation. save is called before the
// forward and returns a function that, called around the recomputation,
// makes that so (it restores the random state and returns a function that
// puts the current state back); save may be nil when f is deterministic.
//
// Gradients reach x and every parameter f uses, as without checkpointing.
func Checkpoint(tp *Tape, x *Tensor, f func(tp *Tape, x *Tensor) *Tensor, save func() (replay func() (done func()))) *Tensor {
	if !tp.Recording() {
		return f(tp, x)
	}
	var replay func() func()
	if save != nil {
		replay = save()
	}
	sub := tp.scratchTape()
	in := &Tensor{Shape: x.Shape, Data: x.Data, RequiresGrad: x.RequiresGrad}
	yy := f(sub, in)
	y := tp.outputRaw(true, yy.Shape...)
	copy(y.Data, yy.Data)
	sub.Reset()
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		var done func()
		if replay != nil {
			done = replay()
		}
		in := &Tensor{Shape: x.Shape, Data: x.Data, RequiresGrad: x.RequiresGrad}
		yy := f(sub, in)
		if done != nil {
			done()
		}
		sub.Backward(yy, y.Grad)
		if x.RequiresGrad && in.Grad != nil {
			g, fresh := tp.gradRaw(x)
			accumulateInto(g, fresh, in.Grad, 1)
		}
		sub.Reset()
	})
	return y
}

// scratchTape returns the tape's scratch tape for recomputation.
func (tp *Tape) scratchTape() *Tape {
	if tp.scratch == nil {
		tp.scratch = NewTape()
	}
	return tp.scratch
}

// Segment runs f(x) — typically one decoder layer — on a tape of its own
// whose backward memory is recycled: its forward outputs stay in tp's
// arena until tp.Reset, as without it, but the gradients and temporaries
// its backward makes come from an arena every Segment of tp shares, reset
// when a Segment's backward begins. A chain of layers then needs one
// layer's activation gradients at a time instead of all of them, with no
// recomputation (unlike Checkpoint) and the same results, bit for bit.
//
// x's gradient is made on tp (it outlives the segment); every other tensor
// f reads that requires a gradient must be a parameter (whose gradient is
// kept) or made inside f, as with Checkpoint.
func Segment(tp *Tape, x *Tensor, f func(tp *Tape, x *Tensor) *Tensor) *Tensor {
	if !tp.Recording() {
		return f(tp, x)
	}
	sub := tp.segment()
	y := f(sub, x)
	if len(sub.backward) == 0 {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		if x.RequiresGrad {
			tp.grad(x)
		}
		sub.bwd.reset()
		sub.runBackward()
	})
	return y
}

// segment returns a fresh Segment tape of tp: its forward allocates from
// tp's arena, its backward from tp's shared segment arena.
func (tp *Tape) segment() *Tape {
	if tp.segBwd == nil {
		tp.segBwd = &arena{}
	}
	if tp.nseg == len(tp.segs) {
		tp.segs = append(tp.segs, &Tape{})
	}
	s := tp.segs[tp.nseg]
	tp.nseg++
	s.act, s.bwd = tp.act, tp.segBwd
	return s
}
