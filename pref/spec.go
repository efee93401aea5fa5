// Package pref owns the mathematics of preference fine-tuning that sits on
// top of per-sequence log-probabilities: the DPO family of pairwise losses
// (dpo, dpop, ipo, hinge, robust, cdpo, exo_pair, nca_pair, bco_pair,
// sppo_hard, apo_zero, apo_down, sft, simpo, orpo; SPEC.md §1), weighted
// combinations of them, their gradients with respect to the policy's
// sequence log-probs, and TRL's per-step training metrics.
//
// The model engine computes, for each pair, log π_θ(y_w|x) and log π_θ(y_l|x)
// (sums over completion tokens) and, for reference-based losses, the same
// under the frozen reference. [Spec.Compute] returns one pair's loss and
// [Grad], the derivatives that the engine then back-propagates through its
// log-prob computation. [Spec.Batch] does a whole step's pairs: the batch loss
// is the mean over pairs, as in TRL.
//
// Conventions, where sources differ or are silent:
//
//   - DPOP is −log σ(β[δ − λ·max(0, −ρ_w)]), the penalty inside the bracket
//     that β multiplies (paper v2, Eq. 3). The derivative of max(0, −ρ_w)
//     follows PyTorch's torch.clamp(−ρ_w, min=0), as in the reference scripts
//     of the project: clamp passes the gradient where its input is ≥ 0, so
//     at exactly ρ_w = 0 (every pair of the first step, when the policy
//     starts as a copy of the reference) the penalty's gradient is already
//     on: ∂δ'/∂ρ_w = 1 + λ for ρ_w ≤ 0 and 1 for ρ_w > 0.
//   - A positive [Spec.DPOPLambda] adds the same penalty inside the bracket of
//     every selected loss that has a δ = ρ_w − ρ_l: dpo, hinge, robust, cdpo,
//     exo_pair, apo_down's σ(βδ) term, and ipo (whose δ is length-normalised,
//     so its penalty is λ·max(0, −ρ_w/|y_w|)). "dpo" with λ > 0 therefore
//     equals "dpop". nca_pair, bco_pair, sppo_hard and apo_zero have no δ and
//     are unchanged.
//   - sft is one pair's mean token negative log-likelihood of y_w,
//     −log π_θ(y_w|x)/|y_w|, and the batch loss averages it over pairs (this is
//     what the project's fixtures compute). TRL's nll_loss instead averages
//     over all chosen tokens of the batch, which weights long completions
//     more; the two agree when all chosen completions have the same length.
//     orpo's NLL term follows the same convention.
//   - exo_pair with ε = 0 uses ε = 1e-3, as TRL does (log ε would be −∞).
//   - bco_pair subtracts TRL's running reward mean δ̄ (see [RunningMean]).
package pref

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Defaults for the fields of [Spec], as set by [ParseSpec]. These are the
// only defaults of the loss settings: smaug train and the train package take
// their Spec from ParseSpec and change only what the caller sets.
const (
	// DefaultBeta is TRL's DPOConfig.beta, used unless "dpop" is selected.
	DefaultBeta = 0.1
	// DefaultDPOPBeta is the DPOP paper's β, used when "dpop" is selected.
	DefaultDPOPBeta = 0.3
	// DefaultDPOPLambda is the DPOP paper's λ, used when "dpop" is selected.
	// The paper found results insensitive to λ in [5, 500].
	DefaultDPOPLambda = 50
	// DefaultSimPOGamma is TRL's CPOConfig.simpo_gamma (the target reward
	// margin γ). The SimPO paper tunes γ through the ratio γ/β ≈ 0.5 with β
	// around 2 to 2.5; set Beta and SimPOGamma together for that setting.
	DefaultSimPOGamma = 0.5
	// DefaultORPOAlpha is TRL's ORPOConfig.beta, the weight λ of the odds-ratio
	// term in the ORPO paper.
	DefaultORPOAlpha = 0.1
	// exoDefaultEpsilon replaces ε = 0 in exo_pair, as TRL does.
	exoDefaultEpsilon = 1e-3
)

// lossInfo describes one loss type.
type lossInfo struct {
	name      string
	reference bool // needs the reference model's log-probs
	delta     bool // has a δ = ρ_w − ρ_l that the DPOP penalty enters
	lengths   bool // needs completion lengths
	help      string
}

// lossTable lists every loss in SPEC.md §1 order.
var lossTable = []lossInfo{
	{"dpo", true, true, false, "−log σ(βδ) (TRL sigmoid)"},
	{"dpop", true, true, false, "−log σ(β[δ − λ·max(0, −ρ_w)]) (DPO-Positive)"},
	{"ipo", true, true, true, "(ρ_w/|y_w| − ρ_l/|y_l| − 1/(2β))²"},
	{"hinge", true, true, false, "max(0, 1 − βδ) (SLiC)"},
	{"robust", true, true, false, "[−(1−ε) log σ(βδ) + ε log σ(−βδ)]/(1−2ε)"},
	{"cdpo", true, true, false, "−(1−ε) log σ(βδ) − ε log σ(−βδ) (conservative DPO)"},
	{"exo_pair", true, true, false, "q_w(log q_w − log(1−ε)) + q_l(log q_l − log ε), q_w = σ(βδ)"},
	{"nca_pair", true, false, false, "−log σ(βρ_w) − ½ log σ(−βρ_w) − ½ log σ(−βρ_l)"},
	{"bco_pair", true, false, false, "−log σ(βρ_w − δ̄) − log σ(−(βρ_l − δ̄)), δ̄ running reward mean"},
	{"sppo_hard", true, false, false, "(ρ_w − 1/(2β))² + (ρ_l + 1/(2β))²"},
	{"apo_zero", true, false, false, "1 − σ(βρ_w) + σ(βρ_l)"},
	{"apo_down", true, true, false, "σ(βρ_w) + 1 − σ(βδ)"},
	{"sft", false, false, true, "−log π_θ(y_w|x)/|y_w| (mean token NLL of the chosen completion)"},
	{"simpo", false, false, true, "−log σ(β(log π_θ(y_w)/|y_w| − log π_θ(y_l)/|y_l|) − γ)"},
	{"orpo", false, false, true, "NLL(y_w) − α log σ(log odds(y_w) − log odds(y_l))"},
}

// aliases maps other accepted spellings to the canonical loss names.
var aliases = map[string]string{"sigmoid": "dpo"}

func lookup(name string) (lossInfo, bool) {
	for _, l := range lossTable {
		if l.name == name {
			return l, true
		}
	}
	return lossInfo{}, false
}

// Names returns the canonical loss names in SPEC.md order.
func Names() []string {
	names := make([]string, len(lossTable))
	for i, l := range lossTable {
		names[i] = l.name
	}
	return names
}

// Describe returns a one-line formula for the named loss, or "" if the name
// is unknown. It is meant for command-line help.
func Describe(name string) string {
	if l, ok := lookup(name); ok {
		return l.help
	}
	return ""
}

// Spec selects a weighted combination of losses and their hyperparameters.
// The per-pair loss is Σ_i Weights[i]·loss_i. Build one with [ParseSpec],
// adjust fields, then call [Spec.Validate].
type Spec struct {
	// Losses are canonical loss names (see [Names]), each at most once.
	Losses []string
	// Weights are the combination weights, one per loss; nil means 1 each
	// (TRL's loss_weights).
	Weights []float64
	// Beta is the temperature β > 0 ([ParseSpec]: the DPOP paper's 0.3 with
	// "dpop", TRL's 0.1 otherwise).
	// simpo uses it as its β too.
	Beta float64
	// DPOPLambda is λ ≥ 0 for "dpop"; when positive it also adds the DPOP
	// penalty to every other selected loss that has a δ (see the package
	// documentation). "dpop" needs λ > 0.
	DPOPLambda float64
	// LabelSmoothing is ε in [0, 0.5) for robust, cdpo and exo_pair (simpo
	// does not use it, although TRL's CPO trainer applies it to simpo too).
	LabelSmoothing float64
	// SimPOGamma is simpo's target margin γ (TRL default 0.5).
	SimPOGamma float64
	// ORPOAlpha is orpo's odds-ratio weight α (TRL's ORPOConfig.beta, 0.1).
	ORPOAlpha float64
	// BCODelta is the running reward mean δ̄ that bco_pair subtracts, treated
	// as a constant. [Spec.Batch] sets it from a [RunningMean]; callers of
	// [Spec.Compute] set it themselves.
	BCODelta float64
}

// ParseSpec parses a comma-separated list of loss names ("dpo,sft") and an
// optional comma-separated list of weights ("1,0.2"; empty means 1 each) into
// a Spec with the package defaults, which depend on the losses: with "dpop"
// listed, the paper's Beta 0.3 and DPOPLambda 50; otherwise TRL's Beta 0.1
// and DPOPLambda 0; SimPOGamma 0.5 and ORPOAlpha 0.1 always. "sigmoid" is accepted as
// TRL's name for "dpo". The result is validated.
func ParseSpec(losses, weights string) (Spec, error) {
	s := Spec{Beta: DefaultBeta, SimPOGamma: DefaultSimPOGamma, ORPOAlpha: DefaultORPOAlpha}
	for i, f := range strings.Split(losses, ",") {
		name := strings.ToLower(strings.TrimSpace(f))
		if a, ok := aliases[name]; ok {
			name = a
		}
		if _, ok := lookup(name); !ok {
			return Spec{}, fmt.Errorf("loss list %q, item %d: unknown loss %q (valid: %s)",
				losses, i+1, name, strings.Join(Names(), ", "))
		}
		s.Losses = append(s.Losses, name)
		if name == "dpop" {
			s.Beta, s.DPOPLambda = DefaultDPOPBeta, DefaultDPOPLambda
		}
	}
	if strings.TrimSpace(weights) != "" {
		for i, f := range strings.Split(weights, ",") {
			w, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return Spec{}, fmt.Errorf("loss weights %q, item %d: %w", weights, i+1, err)
			}
			s.Weights = append(s.Weights, w)
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// Validate reports the first problem with the spec, naming the field.
func (s Spec) Validate() error {
	if len(s.Losses) == 0 {
		return fmt.Errorf("loss spec: Losses is empty (valid: %s)", strings.Join(Names(), ", "))
	}
	seen := map[string]bool{}
	for i, name := range s.Losses {
		if _, ok := lookup(name); !ok {
			return fmt.Errorf("loss spec: Losses[%d]: unknown loss %q (valid: %s)",
				i, name, strings.Join(Names(), ", "))
		}
		if seen[name] {
			return fmt.Errorf("loss spec: Losses[%d]: %q is listed twice", i, name)
		}
		seen[name] = true
	}
	if s.Weights != nil && len(s.Weights) != len(s.Losses) {
		return fmt.Errorf("loss spec: Weights has %d values for %d losses", len(s.Weights), len(s.Losses))
	}
	for i, w := range s.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return fmt.Errorf("loss spec: Weights[%d] = %v, want a finite value ≥ 0", i, w)
		}
	}
	if !(s.Beta > 0) || math.IsInf(s.Beta, 0) {
		return fmt.Errorf("loss spec: Beta = %v, want a finite value > 0", s.Beta)
	}
	if !(s.DPOPLambda >= 0) || math.IsInf(s.DPOPLambda, 0) {
		return fmt.Errorf("loss spec: DPOPLambda = %v, want a finite value ≥ 0", s.DPOPLambda)
	}
	if seen["dpop"] && s.DPOPLambda == 0 {
		return fmt.Errorf("loss spec: DPOPLambda = 0 with loss \"dpop\", want > 0 (paper: %d)", DefaultDPOPLambda)
	}
	if !(s.LabelSmoothing >= 0 && s.LabelSmoothing < 0.5) {
		return fmt.Errorf("loss spec: LabelSmoothing = %v, want a value in [0, 0.5)", s.LabelSmoothing)
	}
	if math.IsNaN(s.SimPOGamma) || math.IsInf(s.SimPOGamma, 0) {
		return fmt.Errorf("loss spec: SimPOGamma = %v, want a finite value", s.SimPOGamma)
	}
	if !(s.ORPOAlpha >= 0) || math.IsInf(s.ORPOAlpha, 0) {
		return fmt.Errorf("loss spec: ORPOAlpha = %v, want a finite value ≥ 0", s.ORPOAlpha)
	}
	if math.IsNaN(s.BCODelta) || math.IsInf(s.BCODelta, 0) {
		return fmt.Errorf("loss spec: BCODelta = %v, want a finite value", s.BCODelta)
	}
	return nil
}

// NeedsReference reports whether any selected loss uses the reference
// model's log-probs (all but sft, simpo and orpo).
func (s Spec) NeedsReference() bool {
	for _, name := range s.Losses {
		if l, _ := lookup(name); l.reference {
			return true
		}
	}
	return false
}

// has reports whether the named loss is selected.
func (s Spec) has(name string) bool {
	for _, n := range s.Losses {
		if n == name {
			return true
		}
	}
	return false
}

// needsLengths reports whether any selected loss uses completion lengths.
func (s Spec) needsLengths() bool {
	for _, name := range s.Losses {
		if l, _ := lookup(name); l.lengths {
			return true
		}
	}
	return false
}

// weight returns the weight of the i-th loss.
func (s Spec) weight(i int) float64 {
	if s.Weights == nil {
		return 1
	}
	return s.Weights[i]
}
