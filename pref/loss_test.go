package pref

import (
	"fmt"
	"math"
	"testing"
)

// The reference formulas below are written in a different form from the
// package's (direct log(1/(1+e⁻ˣ)) and 1/(1+e⁻ˣ) in float64, no softplus,
// penalty as an explicit max), straight from SPEC.md §1.

func refLogSig(x float64) float64 { return math.Log(1 / (1 + math.Exp(-x))) }
func refSig(x float64) float64    { return 1 / (1 + math.Exp(-x)) }

// refDelta returns δ with the DPOP penalty written as SPEC.md writes it.
func refDelta(p Pair, lambda float64) float64 {
	rw := p.PolicyChosen - p.RefChosen
	rl := p.PolicyRejected - p.RefRejected
	return rw - rl - lambda*math.Max(0, -rw)
}

// refLoss is an independent implementation of each loss of SPEC.md §1.
func refLoss(name string, s Spec, p Pair) float64 {
	b, e, lam := s.Beta, s.LabelSmoothing, s.DPOPLambda
	rw := p.PolicyChosen - p.RefChosen
	rl := p.PolicyRejected - p.RefRejected
	lw, ll := float64(p.ChosenLen), float64(p.RejectedLen)
	z := refDelta(p, lam)
	switch name {
	case "dpo", "dpop":
		return -refLogSig(b * z)
	case "ipo":
		d := rw/lw - rl/ll - lam*math.Max(0, -rw/lw)
		return math.Pow(d-1/(2*b), 2)
	case "hinge":
		return math.Max(0, 1-b*z)
	case "robust":
		return (-(1-e)*refLogSig(b*z) + e*refLogSig(-b*z)) / (1 - 2*e)
	case "cdpo":
		return -(1-e)*refLogSig(b*z) - e*refLogSig(-b*z)
	case "exo_pair":
		if e == 0 {
			e = 1e-3
		}
		qw, ql := refSig(b*z), refSig(-b*z)
		return qw*(math.Log(qw)-math.Log(1-e)) + ql*(math.Log(ql)-math.Log(e))
	case "nca_pair":
		return -refLogSig(b*rw) - 0.5*refLogSig(-b*rw) - 0.5*refLogSig(-b*rl)
	case "bco_pair":
		return -refLogSig(b*rw-s.BCODelta) - refLogSig(-(b*rl - s.BCODelta))
	case "sppo_hard":
		return math.Pow(rw-0.5/b, 2) + math.Pow(rl+0.5/b, 2)
	case "apo_zero":
		return 1 - refSig(b*rw) + refSig(b*rl)
	case "apo_down":
		return refSig(b*rw) + 1 - refSig(b*z)
	case "sft":
		return -p.PolicyChosen / lw
	case "simpo":
		return -refLogSig(b*(p.PolicyChosen/lw-p.PolicyRejected/ll) - s.SimPOGamma)
	case "orpo":
		pw, pl := math.Exp(p.PolicyChosen/lw), math.Exp(p.PolicyRejected/ll)
		oddsW, oddsL := pw/(1-pw), pl/(1-pl)
		return -p.PolicyChosen/lw - s.ORPOAlpha*refLogSig(math.Log(oddsW/oddsL))
	}
	panic("no reference for " + name)
}

// testPairs cover ρ_w < 0 (penalty on), ρ_w > 0, an inactive hinge (βδ > 1)
// and different lengths; none is within 1e-3 of a kink.
var testPairs = []Pair{
	{PolicyChosen: -12.3, PolicyRejected: -15.1, RefChosen: -11.8, RefRejected: -13.9, ChosenLen: 7, RejectedLen: 9},
	{PolicyChosen: -8.2, PolicyRejected: -9.0, RefChosen: -9.1, RefRejected: -8.5, ChosenLen: 5, RejectedLen: 6},
	{PolicyChosen: -20.5, PolicyRejected: -19.7, RefChosen: -21.0, RefRejected: -18.2, ChosenLen: 12, RejectedLen: 10},
	{PolicyChosen: -5, PolicyRejected: -14, RefChosen: -7, RefRejected: -11, ChosenLen: 4, RejectedLen: 8},
}

type lossCase struct {
	desc string
	spec Spec
}

// lossCases returns one spec per loss (β 0.3, ε 0.1, γ 0.5, α 0.1, δ̄ 0.05),
// plus the DPOP penalty added to other δ-losses and exo_pair's ε = 0 default.
func lossCases() []lossCase {
	var cases []lossCase
	base := Spec{Beta: 0.3, LabelSmoothing: 0.1, SimPOGamma: 0.5, ORPOAlpha: 0.1, BCODelta: 0.05}
	for _, name := range Names() {
		s := base
		s.Losses = []string{name}
		if name == "dpop" {
			s.DPOPLambda = 50
		}
		cases = append(cases, lossCase{name, s})
	}
	for _, name := range []string{"dpo", "ipo", "hinge", "robust", "cdpo", "exo_pair", "apo_down", "nca_pair"} {
		s := base
		s.Losses = []string{name}
		s.DPOPLambda = 5
		cases = append(cases, lossCase{name + " λ=5", s})
	}
	s := base
	s.Losses = []string{"exo_pair"}
	s.LabelSmoothing = 0
	cases = append(cases, lossCase{"exo_pair ε=0", s})
	return cases
}

func TestLossValues(t *testing.T) {
	for _, c := range lossCases() {
		if err := c.spec.Validate(); err != nil {
			t.Fatalf("%s: %v", c.desc, err)
		}
		for i, p := range testPairs {
			got, _ := c.spec.Compute(p)
			want := refLoss(c.spec.Losses[0], c.spec, p)
			// Both are float64 evaluations of the same formula: 1e-12 relative.
			if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("%s pair %d: loss %.15g, want %.15g", c.desc, i, got, want)
			}
		}
	}
}

// TestLossClosedForms checks values worked out by hand at ρ_w = ρ_l = 0
// (policy = reference) with β = 0.5 and lengths 4 and 2.
func TestLossClosedForms(t *testing.T) {
	p := Pair{PolicyChosen: -3, PolicyRejected: -2, RefChosen: -3, RefRejected: -2, ChosenLen: 4, RejectedLen: 2}
	ln2 := math.Ln2
	e := 0.1
	tests := []struct {
		loss string
		want float64
	}{
		{"dpo", ln2},
		{"dpop", ln2}, // penalty λ·max(0, −0) = 0
		{"ipo", 1},    // (0 − 1/(2·0.5))²
		{"hinge", 1},
		{"robust", ((1-e)*ln2 - e*ln2) / (1 - 2*e)}, // = ln 2
		{"cdpo", ln2},
		{"exo_pair", 0.5*(-ln2-math.Log(1-e)) + 0.5*(-ln2-math.Log(e))},
		{"nca_pair", 2 * ln2},
		{"bco_pair", 2 * ln2},
		{"sppo_hard", 2},
		{"apo_zero", 1},
		{"apo_down", 1},
		{"sft", 0.75},
		// simpo: −log σ(0.5·(−3/4 + 2/2) − 0.5) = −log σ(−0.375) = log(1 + e^0.375)
		{"simpo", math.Log(1 + math.Exp(0.375))},
		// orpo: 0.75 − 0.1·log σ(log odds(e^−0.75) − log odds(e^−1))
		{"orpo", 0.75 - 0.1*math.Log(1/(1+(math.Exp(-1)/(1-math.Exp(-1)))/(math.Exp(-0.75)/(1-math.Exp(-0.75)))))},
	}
	for _, tt := range tests {
		s := Spec{Losses: []string{tt.loss}, Beta: 0.5, DPOPLambda: 50, LabelSmoothing: e, SimPOGamma: 0.5, ORPOAlpha: 0.1}
		if tt.loss != "dpop" {
			s.DPOPLambda = 0
		}
		got, _ := s.Compute(p)
		if math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: %.15g, want %.15g", tt.loss, got, tt.want)
		}
	}
}

// finiteDiff returns the central differences of the spec's loss in
// PolicyChosen and PolicyRejected.
func finiteDiff(s Spec, p Pair, h float64) Grad {
	f := func(dc, dr float64) float64 {
		q := p
		q.PolicyChosen += dc
		q.PolicyRejected += dr
		l, _ := s.Compute(q)
		return l
	}
	return Grad{(f(h, 0) - f(-h, 0)) / (2 * h), (f(0, h) - f(0, -h)) / (2 * h)}
}

func TestLossGradientsFiniteDifferences(t *testing.T) {
	const h = 1e-5
	for _, c := range lossCases() {
		for i, p := range testPairs {
			_, g := c.spec.Compute(p)
			fd := finiteDiff(c.spec, p, h)
			// Central differences with h = 1e-5: truncation ~h²·f''' and
			// rounding ~1e-16·|f|/h, both well under 1e-6 here.
			for _, x := range []struct {
				what      string
				got, want float64
			}{{"∂/∂PolicyChosen", g.Chosen, fd.Chosen}, {"∂/∂PolicyRejected", g.Rejected, fd.Rejected}} {
				if math.Abs(x.got-x.want) > 1e-6*math.Max(1, math.Abs(x.want)) {
					t.Errorf("%s pair %d %s: %.12g, finite difference %.12g", c.desc, i, x.what, x.got, x.want)
				}
			}
		}
	}
}

// TestDPOPKink checks the gradient at exactly ρ_w = 0, where PyTorch's
// torch.clamp(−ρ_w, min=0) passes the gradient (its backward is
// where(input ≥ 0, grad, 0)): the derivative must equal the one-sided
// derivative from the ρ_w < 0 side, −β·σ(−βδ)·(1 + λ).
func TestDPOPKink(t *testing.T) {
	s := Spec{Losses: []string{"dpop"}, Beta: 0.3, DPOPLambda: 50}
	for _, p := range []Pair{
		{PolicyChosen: -10, PolicyRejected: -12, RefChosen: -10, RefRejected: -11},
		{PolicyChosen: -10, PolicyRejected: -9, RefChosen: -10, RefRejected: -11},
	} {
		delta := -(p.PolicyRejected - p.RefRejected)
		want := -0.3 * refSig(-0.3*delta) * 51
		_, g := s.Compute(p)
		if math.Abs(g.Chosen-want) > 1e-12 {
			t.Errorf("δ=%g: ∂/∂PolicyChosen at ρ_w=0: %.15g, want %.15g", delta, g.Chosen, want)
		}
		const h = 1e-6
		l0, _ := s.Compute(p)
		q := p
		q.PolicyChosen -= h
		l1, _ := s.Compute(q)
		if left := (l0 - l1) / h; math.Abs(g.Chosen-left) > 1e-4*math.Abs(left) {
			t.Errorf("δ=%g: ∂/∂PolicyChosen at ρ_w=0: %.12g, left difference %.12g", delta, g.Chosen, left)
		}
		if wantR := 0.3 * refSig(-0.3*delta); math.Abs(g.Rejected-wantR) > 1e-12 {
			t.Errorf("δ=%g: ∂/∂PolicyRejected at ρ_w=0: %.15g, want %.15g", delta, g.Rejected, wantR)
		}
	}
}

// TestDPOPPushesChosenUp checks the property DPOP exists for: with ρ_w < 0,
// a larger λ makes ∂loss/∂PolicyChosen more negative, so a descent step
// raises log π_θ(y_w|x) harder.
func TestDPOPPushesChosenUp(t *testing.T) {
	// ρ_w = −0.4 and ρ_l = −2, so δ = 1.6 > 0: DPO alone is already content.
	p := Pair{PolicyChosen: -20.4, PolicyRejected: -24, RefChosen: -20, RefRejected: -22}
	prev := 0.0
	for i, lam := range []float64{0, 1, 5, 50, 500} {
		s := Spec{Losses: []string{"dpo"}, Beta: 0.3, DPOPLambda: lam}
		_, g := s.Compute(p)
		if g.Chosen >= 0 {
			t.Errorf("λ=%g: ∂loss/∂PolicyChosen = %g, want < 0", lam, g.Chosen)
		}
		if i > 0 && !(g.Chosen < prev) {
			t.Errorf("λ=%g: ∂loss/∂PolicyChosen = %g, want below %g (the value at the smaller λ)", lam, g.Chosen, prev)
		}
		prev = g.Chosen
	}
}

func TestCombinationIsWeightedSum(t *testing.T) {
	s, err := ParseSpec("dpop,sft,ipo", "1,0.2,0.5")
	if err != nil {
		t.Fatal(err)
	}
	s.Beta = 0.3
	for i, p := range testPairs {
		got, g := s.Compute(p)
		var want float64
		var wg Grad
		for j, name := range s.Losses {
			one := s
			one.Losses, one.Weights = []string{name}, nil
			l, gj := one.Compute(p)
			w := []float64{1, 0.2, 0.5}[j]
			want += w * l
			wg.Chosen += w * gj.Chosen
			wg.Rejected += w * gj.Rejected
		}
		if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) ||
			math.Abs(g.Chosen-wg.Chosen) > 1e-12*math.Max(1, math.Abs(wg.Chosen)) ||
			math.Abs(g.Rejected-wg.Rejected) > 1e-12*math.Max(1, math.Abs(wg.Rejected)) {
			t.Errorf("pair %d: %v %v, want %v %v", i, got, g, want, wg)
		}
	}
}

func TestUnknownLossIsNaN(t *testing.T) {
	l, g := Spec{Losses: []string{"dpo2"}, Beta: 0.1}.Compute(testPairs[0])
	if !math.IsNaN(l) || !math.IsNaN(g.Chosen) || !math.IsNaN(g.Rejected) {
		t.Errorf("got %v %v, want NaN", l, g)
	}
}

func TestLargeMarginsStayFinite(t *testing.T) {
	// βδ = ±3000: a naive log(1+e^x) overflows.
	for _, d := range []float64{-1e4, 1e4} {
		p := Pair{PolicyChosen: -1, PolicyRejected: -1 - d, RefChosen: -1, RefRejected: -1, ChosenLen: 1, RejectedLen: 1}
		for _, name := range []string{"dpo", "robust", "cdpo", "exo_pair", "nca_pair", "bco_pair", "simpo"} {
			s := Spec{Losses: []string{name}, Beta: 0.3, LabelSmoothing: 0.1}
			l, g := s.Compute(p)
			for _, v := range []float64{l, g.Chosen, g.Rejected} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s at δ=%g: loss %v grad %v, want finite", name, d, l, g)
					break
				}
			}
		}
	}
	// dpo at βδ = −3000 is exactly 3000 (softplus(3000) = 3000 + log1p(e^−3000)).
	s := Spec{Losses: []string{"dpo"}, Beta: 0.3}
	l, _ := s.Compute(Pair{PolicyChosen: -1, PolicyRejected: -1 + 1e4, RefChosen: -1, RefRejected: -1})
	if math.Abs(l-3000) > 1e-9 {
		t.Errorf("dpo at βδ=−3000: %v, want 3000", l)
	}
}

func ExampleSpec_Compute() {
	s, _ := ParseSpec("dpop", "") // the paper's β 0.3 and λ 50
	loss, g := s.Compute(Pair{PolicyChosen: -46.58, PolicyRejected: -46.53, RefChosen: -46.15, RefRejected: -45.49})
	fmt.Printf("loss %.4f, dL/dchosen %.4f, dL/drejected %.4f\n", loss, g.Chosen, g.Rejected)
	// Output: loss 6.2689, dL/dchosen -15.2710, dL/drejected 0.2994
}
