package pref

import "math"

// Pair holds one preference pair's sequence log-probs, as the model engine
// computes them: sums over the completion's tokens of the log-softmax at the
// position before each token (prompt and padding excluded).
type Pair struct {
	// PolicyChosen and PolicyRejected are log π_θ(y_w|x) and log π_θ(y_l|x).
	PolicyChosen, PolicyRejected float64
	// RefChosen and RefRejected are log π_ref(y_w|x) and log π_ref(y_l|x);
	// reference-free losses (sft, simpo, orpo) ignore them.
	RefChosen, RefRejected float64
	// ChosenLen and RejectedLen are the completion lengths in tokens.
	ChosenLen, RejectedLen int
	// ChosenLogitsMean and RejectedLogitsMean are the policy's mean logit
	// over the completion's tokens and the vocabulary; only [Metrics] uses
	// them.
	ChosenLogitsMean, RejectedLogitsMean float64
}

// Grad holds the derivatives of a loss with respect to one pair's policy
// sequence log-probs: ∂loss/∂PolicyChosen and ∂loss/∂PolicyRejected. The
// reference log-probs are constants.
type Grad struct {
	Chosen, Rejected float64
}

// Compute returns the spec's loss for one pair, Σ_i w_i·loss_i, and its
// gradient. It assumes a valid spec and a pair with finite log-probs and the
// lengths its losses need; [Spec.Batch] checks both and names what is wrong.
// An unknown loss name gives NaN.
func (s Spec) Compute(p Pair) (loss float64, g Grad) {
	for i, name := range s.Losses {
		l, gi := s.term(name, p)
		w := s.weight(i)
		loss += w * l
		g.Chosen += w * gi.Chosen
		g.Rejected += w * gi.Rejected
	}
	return loss, g
}

// term returns one named loss and its gradient for pair p.
func (s Spec) term(name string, p Pair) (float64, Grad) {
	b := s.Beta
	rw := p.PolicyChosen - p.RefChosen
	rl := p.PolicyRejected - p.RefRejected
	nw, nl := float64(p.ChosenLen), float64(p.RejectedLen)
	switch name {
	case "dpo", "dpop", "hinge", "robust", "cdpo", "exo_pair":
		z, dzw := s.penalised(rw, rw-rl)
		l, dz := s.deltaLoss(name, z)
		return l, Grad{dz * dzw, -dz}
	case "ipo":
		// TRL's form: both log-prob pairs are divided by their lengths first.
		z, dzw := s.penalised(rw/nw, rw/nw-rl/nl)
		u := z - 1/(2*b)
		return u * u, Grad{2 * u * dzw / nw, -2 * u / nl}
	case "apo_down":
		z, dzw := s.penalised(rw, rw-rl)
		dz := -b * dsigmoid(b*z)
		return sigmoid(b*rw) + 1 - sigmoid(b*z), Grad{b*dsigmoid(b*rw) + dz*dzw, -dz}
	case "apo_zero":
		return 1 - sigmoid(b*rw) + sigmoid(b*rl), Grad{-b * dsigmoid(b*rw), b * dsigmoid(b*rl)}
	case "nca_pair":
		x, y := b*rw, b*rl
		l := softplus(-x) + 0.5*softplus(x) + 0.5*softplus(y)
		return l, Grad{b * (-sigmoid(-x) + 0.5*sigmoid(x)), b * 0.5 * sigmoid(y)}
	case "bco_pair":
		x, y := b*rw-s.BCODelta, b*rl-s.BCODelta
		return softplus(-x) + softplus(y), Grad{-b * sigmoid(-x), b * sigmoid(y)}
	case "sppo_hard":
		u, v := rw-1/(2*b), rl+1/(2*b)
		return u*u + v*v, Grad{2 * u, 2 * v}
	case "sft":
		return -p.PolicyChosen / nw, Grad{-1 / nw, 0}
	case "simpo":
		u := b*(p.PolicyChosen/nw-p.PolicyRejected/nl) - s.SimPOGamma
		du := -sigmoid(-u)
		return softplus(-u), Grad{du * b / nw, -du * b / nl}
	case "orpo":
		aw, al := p.PolicyChosen/nw, p.PolicyRejected/nl
		r := logOdds(aw) - logOdds(al)
		dr := -s.ORPOAlpha * sigmoid(-r)
		return -aw + s.ORPOAlpha*softplus(-r), Grad{(-1 + dr*dLogOdds(aw)) / nw, -dr * dLogOdds(al) / nl}
	}
	// Unknown name: Spec.Validate reports it; here it poisons the result.
	return math.NaN(), Grad{math.NaN(), math.NaN()}
}

// penalised returns the DPOP bracket z = d − λ·max(0, −r) and ∂z/∂r (the
// derivative with respect to d is 1). Following torch.clamp(−r, min=0), the
// penalty's gradient is on for r ≤ 0, zero included.
func (s Spec) penalised(r, d float64) (z, dzdr float64) {
	if r <= 0 {
		return d + s.DPOPLambda*r, 1 + s.DPOPLambda
	}
	return d, 1
}

// deltaLoss returns a δ-loss at bracket value z and its derivative in z.
func (s Spec) deltaLoss(name string, z float64) (l, dz float64) {
	b, e := s.Beta, s.LabelSmoothing
	x := b * z
	switch name {
	case "hinge":
		// torch.relu: zero gradient where its output is zero.
		if m := 1 - x; m > 0 {
			return m, -b
		}
		return 0, 0
	case "robust":
		l = ((1-e)*softplus(-x) - e*softplus(x)) / (1 - 2*e)
		return l, b * (-(1-e)*sigmoid(-x) - e*sigmoid(x)) / (1 - 2*e)
	case "cdpo":
		return (1-e)*softplus(-x) + e*softplus(x), b * (-(1-e)*sigmoid(-x) + e*sigmoid(x))
	case "exo_pair":
		if e == 0 {
			e = exoDefaultEpsilon
		}
		qw, ql := sigmoid(x), sigmoid(-x)
		l = qw*(-softplus(-x)-math.Log(1-e)) + ql*(-softplus(x)-math.Log(e))
		return l, b * qw * ql * (x - math.Log(1-e) + math.Log(e))
	}
	// dpo and dpop: the penalty, if any, is already in z.
	return softplus(-x), -b * sigmoid(-x)
}

// softplus returns log(1 + eˣ) without overflow; −log σ(x) = softplus(−x).
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// sigmoid returns σ(x) = 1/(1 + e⁻ˣ) without overflow.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// dsigmoid returns σ'(x) = σ(x)σ(−x).
func dsigmoid(x float64) float64 {
	return sigmoid(x) * sigmoid(-x)
}

// logOdds returns log(p/(1−p)) for a log-probability a = log p < 0.
func logOdds(a float64) float64 {
	return a - math.Log(-math.Expm1(a))
}

// dLogOdds returns the derivative of logOdds at a: 1/(1 − eᵃ).
func dLogOdds(a float64) float64 {
	return -1 / math.Expm1(a)
}
