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
