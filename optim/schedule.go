package optim

import (
	"fmt"
	"math"
)

// Schedule is a learning-rate schedule of transformers' get_scheduler, with
// linear warmup from 0:
//
//   - "constant": get_constant_schedule_with_warmup (with Warmup 0 this is
//     get_constant_schedule); "constant_with_warmup" is accepted too
//   - "linear": get_linear_schedule_with_warmup, decaying to 0 at Total
//   - "cosine": get_cosine_schedule_with_warmup with 0.5 cycles, a half-wave
//     from Base to 0 at Total
type Schedule struct {
	// Kind is "constant", "linear" or "cosine".
	Kind string
	// Warmup and Total are the warmup and total numbers of optimiser steps.
	Warmup, Total int
	// Base is the peak learning rate.
	Base float64
}

// Validate reports a bad kind, negative step counts or a bad base rate.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "constant", "constant_with_warmup", "linear", "cosine":
	default:
		return fmt.Errorf("lr schedule: kind %q, want constant, linear or cosine", s.Kind)
	}
	if s.Warmup < 0 || s.Total < 0 {
		return fmt.Errorf("lr schedule: warmup %d and total %d steps, want ≥ 0", s.Warmup, s.Total)
	}
	if !(s.Base >= 0) || math.IsInf(s.Base, 0) {
		return fmt.Errorf("lr schedule: base learning rate %v, want a finite value ≥ 0", s.Base)
	}
	return nil
}

// LR returns the learning rate after step optimiser steps, Base·λ(step) with
// HF's λ. The HF Trainer calls optimizer.step() and then scheduler.step(), so
// the (k+1)-th update uses LR(k): with warmup the very first update uses a
// learning rate of 0, as in transformers.
func (s Schedule) LR(step int) float64 {
	k := float64(step)
	if step < s.Warmup {
		return s.Base * k / float64(max(1, s.Warmup))
	}
	switch s.Kind {
	case "linear":
		return s.Base * math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
	case "cosine":
		progress := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
		return s.Base * math.Max(0, 0.5*(1+math.Cos(math.Pi*0.5*2*progress)))
	}
	return s.Base
}
