package optim

import (
	"fmt"
	"math"
)

// Settings are a training run's optimiser and learning-rate schedule
// settings, as HF TrainingArguments names them (learning_rate,
// lr_scheduler_type, warmup_steps, weight_decay, adam_beta1, adam_beta2,
// adam_epsilon, max_grad_norm).
type Settings struct {
	// LR is the peak learning rate.
	LR float64
	// Schedule is the [Schedule] kind: "constant", "linear" or "cosine".
	Schedule string
	// WarmupSteps are the steps of linear warm-up from 0.
	WarmupSteps int
	// WeightDecay is AdamW's decoupled weight decay λ.
	WeightDecay float64
	// DecayAllParams applies weight decay to biases and norm weights too
	// (the HF Trainer exempts them; see [NoDecay]).
	DecayAllParams bool
	// Beta1, Beta2 and Eps are AdamW's β₁, β₂ and ε.
	Beta1, Beta2, Eps float64
	// MaxGradNorm clips the global gradient norm (0: no clipping).
	MaxGradNorm float64
}

// DefaultSettings returns the HF Trainer's defaults with the given peak
// learning rate and a linear schedule without warm-up: AdamW β₁ 0.9, β₂
// 0.999, ε 1e-8, no weight decay, clipping at norm 1.
func DefaultSettings(lr float64) Settings {
	return Settings{LR: lr, Schedule: "linear", Beta1: DefaultBeta1, Beta2: DefaultBeta2, Eps: DefaultEps,
		WeightDecay: DefaultWeightDecay, MaxGradNorm: 1}
}

// Validate reports the first setting that cannot work, naming its field.
func (s Settings) Validate() error {
	if !(s.MaxGradNorm >= 0) || math.IsInf(s.MaxGradNorm, 0) {
		return fmt.Errorf("optimiser settings: MaxGradNorm = %v, want a finite value ≥ 0 (0 disables clipping)", s.MaxGradNorm)
	}
	if _, err := NewAdamW(s.Beta1, s.Beta2, s.Eps, s.WeightDecay); err != nil {
		return fmt.Errorf("optimiser settings: %w", err)
	}
	if err := (Schedule{Kind: s.Schedule, Warmup: s.WarmupSteps, Base: s.LR}).Validate(); err != nil {
		return fmt.Errorf("optimiser settings: %w", err)
	}
	return nil
}
