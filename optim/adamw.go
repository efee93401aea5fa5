// Package optim owns the optimiser side of a training step with PyTorch and
// Hugging Face Trainer semantics: AdamW (torch.optim.AdamW, float32 state),
// global gradient-norm clipping (torch.nn.utils.clip_grad_norm_), the
// Trainer's weight-decay exemptions, and the learning-rate schedules of
// transformers' get_*_schedule_with_warmup.
//
// Parameters are flat float32 slices named with their Hugging Face names; the
// model engine owns them and their gradients, this package only updates them.
package optim

import (
	"fmt"
	"math"
	"sort"
)

// Defaults of the Hugging Face TrainingArguments for AdamW ("adamw_torch").
const (
	DefaultBeta1       = 0.9
	DefaultBeta2       = 0.999
	DefaultEps         = 1e-8
	DefaultWeightDecay = 0.0
)

// Param is one trainable tensor, flattened.
type Param struct {
	// Name is the parameter's Hugging Face name; optimiser state is keyed by it.
	Name string
	// Data holds the values, updated in place.
	Data []float32
	// Grad holds the gradient of the loss, same length as Data.
	Grad []float32
	// Decay selects weight decay; the HF Trainer turns it off for biases and
	// norm weights (see [NoDecay]).
	Decay bool
}

// AdamW is torch.optim.AdamW (amsgrad off, not maximising) with its state
// kept in float32 like torch's for float32 parameters. The update of one step
// t for a parameter p with gradient g is, in torch's order of operations:
//
//	p ← p·(1 − lr·λ)                      (only for Param.Decay)
//	m ← m + (1−β₁)(g − m)
//	v ← v·β₂ + (1−β₂)·g·g
//	p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε)
//
// Every product is rounded to float32 as in torch's scalar kernels; torch's
// vectorised kernels fuse some multiply-adds, so results agree with torch to
// a few float32 ulps per step rather than bit for bit. A run resumed through
// [AdamW.State] and [AdamW.Load] is bit-identical to an uninterrupted one.
type AdamW struct {
	// Beta1, Beta2, Eps and WeightDecay are the hyperparameters.
	Beta1, Beta2, Eps, WeightDecay float64
	// Step counts the updates done so far.
	Step int
	m, v map[string][]float32
}

// NewAdamW returns an AdamW optimiser, with torch's checks on the
// hyperparameters: 0 ≤ β < 1, ε ≥ 0, weight decay ≥ 0.
func NewAdamW(beta1, beta2, eps, weightDecay float64) (*AdamW, error) {
	for _, h := range []struct {
		name   string
		v      float64
		ok     bool
		wanted string
	}{
		{"beta1", beta1, beta1 >= 0 && beta1 < 1, "in [0, 1)"},
		{"beta2", beta2, beta2 >= 0 && beta2 < 1, "in [0, 1)"},
		{"eps", eps, eps >= 0 && !math.IsInf(eps, 0), "finite and ≥ 0"},
		{"weight decay", weightDecay, weightDecay >= 0 && !math.IsInf(weightDecay, 0), "finite and ≥ 0"},
	} {
		if !h.ok {
			return nil, fmt.Errorf("adamw: %s = %v, want a value %s", h.name, h.v, h.wanted)
		}
	}
	return &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay,
		m: map[string][]float32{}, v: map[string][]float32{}}, nil
}

// Update applies one AdamW step with learning rate lr to every parameter.
// The same parameters (by name and size) must be passed at every step, each
// with a gradient; state for new names is created only at the first step.
// Nothing is changed when it returns an error.
func (o *AdamW) Update(params []*Param, lr float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("adamw step %d: learning rate %v, want a finite value ≥ 0", o.Step+1, lr)
	}
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		switch {
		case seen[p.Name]:
			return fmt.Errorf("adamw step %d: parameter %q is listed twice", o.Step+1, p.Name)
		case len(p.Grad) != len(p.Data):
			return fmt.Errorf("adamw step %d: parameter %q has %d values and %d gradients", o.Step+1, p.Name, len(p.Data), len(p.Grad))
		}
		seen[p.Name] = true
		if m, ok := o.m[p.Name]; ok {
			if len(m) != len(p.Data) {
				return fmt.Errorf("adamw step %d: parameter %q has %d values, its optimiser state %d", o.Step+1, p.Name, len(p.Data), len(m))
			}
		} else if o.Step > 0 {
			return fmt.Errorf("adamw step %d: parameter %q has no optimiser state (the parameters must be the same at every step)", o.Step+1, p.Name)
		}
	}
	if o.Step > 0 && len(params) != len(o.m) {
		return fmt.Errorf("adamw step %d: %d parameters passed, the optimiser state has %d (the parameters must be the same at every step)", o.Step+1, len(params), len(o.m))
	}

	o.Step++
	t := float64(o.Step)
	// Scalars as torch forms them: Python floats, cast to float32 by the
	// float32 kernels.
	stepSize := float32(lr / (1 - math.Pow(o.Beta1, t)))
	bc2Sqrt := float32(math.Sqrt(1 - math.Pow(o.Beta2, t)))
	decay := float32(1 - lr*o.WeightDecay)
	w1 := float32(1 - o.Beta1)
	b2, w2 := float32(o.Beta2), float32(1-o.Beta2)
	eps := float32(o.Eps)
	for _, p := range params {
		m, v := o.m[p.Name], o.v[p.Name]
		if m == nil {
			m, v = make([]float32, len(p.Data)), make([]float32, len(p.Data))
			o.m[p.Name], o.v[p.Name] = m, v
		}
		// The explicit float32 conversions round every product as torch's
		// kernels do and keep Go from fusing multiply-adds.
		for i, g := range p.Grad {
			x := p.Data[i]
			if p.Decay {
				x = float32(x * decay)
			}
			m[i] += float32(w1 * float32(g-m[i])) // torch lerp_ with weight < 0.5
			v[i] = float32(v[i]*b2) + float32(float32(w2*g)*g)
			denom := float32(float32(math.Sqrt(float64(v[i])))/bc2Sqrt) + eps
			p.Data[i] = x + float32(float32(-stepSize*m[i])/denom)
		}
	}
	return nil
}

// State returns copies of the step count and of the first and second moment
// estimates by parameter name, for a checkpoint.
func (o *AdamW) State() (step int, m, v map[string][]float32) {
	return o.Step, copyState(o.m), copyState(o.v)
}

// Load replaces the optimiser's state with a checkpoint's (as [AdamW.State]
// returned it), so that the run continues bit for bit. It copies the slices.
func (o *AdamW) Load(step int, m, v map[string][]float32) error {
	if step < 0 {
		return fmt.Errorf("adamw state: step %d, want ≥ 0", step)
	}
	if step > 0 && len(m) == 0 {
		return fmt.Errorf("adamw state: step %d with no parameters", step)
	}
	if len(m) != len(v) {
		return fmt.Errorf("adamw state: %d first moments, %d second moments", len(m), len(v))
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vv, ok := v[name]
		if !ok {
			return fmt.Errorf("adamw state: parameter %q has a first moment and no second moment", name)
		}
		if len(vv) != len(m[name]) {
			return fmt.Errorf("adamw state: parameter %q has %d first and %d second moments", name, len(m[name]), len(vv))
		}
		for i, x := range vv {
			if !(x >= 0) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("adamw state: parameter %q second moment [%d] = %v, want finite and ≥ 0", name, i, x)
			}
		}
	}
	o.Step, o.m, o.v = step, copyState(m), copyState(v)
	return nil
}

func copyState(s map[string][]float32) map[string][]float32 {
	out := make(map[string][]float32, len(s))
	for k, x := range s {
		out[k] = append([]float32(nil), x...)
	}
	return out
}
