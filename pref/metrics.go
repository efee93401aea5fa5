package pref

// Metrics accumulates the per-step training metrics over the pairs of one
// step (all its micro-batches) under TRL's names. Rewards are β·ρ
// (β·(log π_θ − log π_ref)) when the spec uses a reference; for
// reference-free specs they are β·log π_θ(y|x)/|y|, as TRL's CPO and ORPO
// trainers log them.
type Metrics struct {
	spec     Spec
	reward   bool // reference-based rewards
	dpop     bool // log the DPOP penalty
	n        int
	loss     float64
	rChosen  float64
	rReject  float64
	correct  int
	lpChosen float64
	lpReject float64
	// Mean logits are weighted by completion length, so that they equal
	// TRL's mean over all completion tokens of the step.
	logitChosen, logitReject float64
	tokChosen, tokReject     int
	penalty                  float64
	active                   int
}

// NewMetrics returns an empty accumulator for spec s.
func NewMetrics(s Spec) *Metrics {
	return &Metrics{spec: s, reward: s.NeedsReference(), dpop: s.has("dpop") || s.DPOPLambda > 0}
}

// Add records one pair and its loss (as [Spec.Compute] or [Spec.Batch]
// returned it).
func (m *Metrics) Add(p Pair, loss float64) {
	b := m.spec.Beta
	var rc, rr float64
	if m.reward {
		rc, rr = b*(p.PolicyChosen-p.RefChosen), b*(p.PolicyRejected-p.RefRejected)
	} else {
		rc, rr = b*p.PolicyChosen/float64(p.ChosenLen), b*p.PolicyRejected/float64(p.RejectedLen)
	}
	m.n++
	m.loss += loss
	m.rChosen += rc
	m.rReject += rr
	if rc > rr {
		m.correct++
	}
	m.lpChosen += p.PolicyChosen
	m.lpReject += p.PolicyRejected
	m.logitChosen += p.ChosenLogitsMean * float64(p.ChosenLen)
	m.logitReject += p.RejectedLogitsMean * float64(p.RejectedLen)
	m.tokChosen += p.ChosenLen
	m.tokReject += p.RejectedLen
	if rw := p.PolicyChosen - p.RefChosen; rw <= 0 {
		m.penalty -= rw
		m.active++
	}
}

// Reset empties the accumulator for the next step.
func (m *Metrics) Reset() {
	*m = *NewMetrics(m.spec)
}

// Values returns the step's metrics; it is empty before the first Add.
//
//   - loss: mean loss over the pairs
//   - rewards/chosen, rewards/rejected: mean reward of y_w and y_l
//   - rewards/margins: mean of reward(y_w) − reward(y_l)
//   - rewards/accuracies: fraction of pairs with reward(y_w) > reward(y_l)
//   - logps/chosen, logps/rejected: mean policy log π_θ(y|x)
//   - logits/chosen, logits/rejected: mean policy logit over all completion
//     tokens of the step (present when the lengths are known)
//   - dpop/penalty: mean max(0, −ρ_w), before λ (with "dpop" or DPOPLambda > 0)
//   - dpop/active_fraction: fraction of pairs with ρ_w ≤ 0, where the
//     penalty's gradient is on (see the package documentation on the kink)
func (m *Metrics) Values() map[string]float64 {
	out := map[string]float64{}
	if m.n == 0 {
		return out
	}
	n := float64(m.n)
	out["loss"] = m.loss / n
	out["rewards/chosen"] = m.rChosen / n
	out["rewards/rejected"] = m.rReject / n
	out["rewards/margins"] = (m.rChosen - m.rReject) / n
	out["rewards/accuracies"] = float64(m.correct) / n
	out["logps/chosen"] = m.lpChosen / n
	out["logps/rejected"] = m.lpReject / n
	if m.tokChosen > 0 {
		out["logits/chosen"] = m.logitChosen / float64(m.tokChosen)
	}
	if m.tokReject > 0 {
		out["logits/rejected"] = m.logitReject / float64(m.tokReject)
	}
	if m.dpop {
		out["dpop/penalty"] = m.penalty / n
		out["dpop/active_fraction"] = float64(m.active) / n
	}
	return out
}
