package pref

import (
	"errors"
	"fmt"
	"math"
)

// RunningMean is the running reward mean δ̄ that TRL's bco_pair subtracts
// (trl RunningMoments.mean). Each training step folds in one value, the mean
// of β·ρ_w and β·ρ_l over the step's pairs, with weight 1, before the loss is
// computed, so δ̄ is the mean of all step means so far, the current one
// included. Save its fields with a checkpoint to resume exactly.
type RunningMean struct {
	// Mean is δ̄; zero before the first update.
	Mean float64
	// Count is the number of updates so far.
	Count int
}

// Update folds x into the mean with weight 1.
func (r *RunningMean) Update(x float64) {
	r.Count++
	r.Mean += (x - r.Mean) / float64(r.Count)
}

// BatchResult is the outcome of [Spec.Batch].
type BatchResult struct {
	// Loss is the mean of Losses, the batch loss to report and minimise.
	Loss float64
	// Losses holds each pair's loss.
	Losses []float64
	// Grads holds ∂Loss/∂ each pair's policy log-probs; these already carry
	// the 1/len(pairs) of the mean. (With gradient accumulation over k such
	// batches, scale them by 1/k as the HF Trainer does.)
	Grads []Grad
}

// Batch validates the spec and the pairs and computes the mean loss over the
// pairs with each pair's gradient. When bco_pair is selected, bco must be
// non-nil: it is updated with this batch's mean reward first and its mean
// used as δ̄ (TRL's order); otherwise bco is ignored and may be nil.
func (s Spec) Batch(pairs []Pair, bco *RunningMean) (BatchResult, error) {
	if err := s.Validate(); err != nil {
		return BatchResult{}, err
	}
	if len(pairs) == 0 {
		return BatchResult{}, errors.New("loss batch: no pairs")
	}
	for i, p := range pairs {
		if err := s.checkPair(p); err != nil {
			return BatchResult{}, fmt.Errorf("loss batch: pair %d: %w", i, err)
		}
	}
	if s.has("bco_pair") {
		if bco == nil {
			return BatchResult{}, errors.New("loss batch: bco_pair needs a RunningMean for its reward mean, got nil")
		}
		var sum float64
		for _, p := range pairs {
			sum += s.Beta*(p.PolicyChosen-p.RefChosen) + s.Beta*(p.PolicyRejected-p.RefRejected)
		}
		bco.Update(sum / float64(2*len(pairs)))
		s.BCODelta = bco.Mean
	}
	n := float64(len(pairs))
	res := BatchResult{Losses: make([]float64, len(pairs)), Grads: make([]Grad, len(pairs))}
	for i, p := range pairs {
		l, g := s.Compute(p)
		res.Losses[i] = l
		res.Grads[i] = Grad{g.Chosen / n, g.Rejected / n}
		res.Loss += l
	}
	res.Loss /= n
	return res, nil
}

// checkPair reports the first field of p that the spec's losses cannot use.
func (s Spec) checkPair(p Pair) error {
	type field struct {
		name string
		v    float64
	}
	fields := []field{{"PolicyChosen", p.PolicyChosen}, {"PolicyRejected", p.PolicyRejected}}
	if s.NeedsReference() {
		fields = append(fields, field{"RefChosen", p.RefChosen}, field{"RefRejected", p.RefRejected})
	}
	for _, f := range fields {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s = %v, want a finite log-prob", f.name, f.v)
		}
	}
	if s.needsLengths() && p.ChosenLen <= 0 {
		return fmt.Errorf("ChosenLen = %d, want > 0 (used by %v)", p.ChosenLen, s.Losses)
	}
	if (s.has("ipo") || s.has("simpo") || s.has("orpo")) && p.RejectedLen <= 0 {
		return fmt.Errorf("RejectedLen = %d, want > 0 (used by %v)", p.RejectedLen, s.Losses)
	}
	if s.has("orpo") {
		if p.PolicyChosen >= 0 {
			return fmt.Errorf("PolicyChosen = %v, orpo needs a log-prob < 0 (the log odds of probability 1 are infinite)", p.PolicyChosen)
		}
		if p.PolicyRejected >= 0 {
			return fmt.Errorf("PolicyRejected = %v, orpo needs a log-prob < 0 (the log odds of probability 1 are infinite)", p.PolicyRejected)
		}
	}
	return nil
}
