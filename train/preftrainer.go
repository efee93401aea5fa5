package train

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/pref"
)

// prefTrainer is the objective of preference training: a pref.Spec loss
// over the policy's and the reference's log-probs of chosen and rejected
// completions.
type prefTrainer struct {
	spec              pref.Spec
	refTrain, refEval RefLogps     // precomputed reference log-probs
	ref               *model.Model // only without precomputed reference log-probs
	met               *pref.Metrics
}

func (p *prefTrainer) check(exs []Example) error {
	for _, e := range exs {
		if e.Rejected == nil {
			return fmt.Errorf("%s: no rejected completion (a preference row needs chosen and rejected)", where(e))
		}
	}
	return nil
}

func (p *prefTrainer) close() error {
	if p.ref != nil {
		return p.ref.Close()
	}
	return nil
}

// prepare computes (or reads from the run folder's cache) the reference
// log-probs, or keeps a reference model when precomputation is off.
// Reference-free losses need none.
func (p *prefTrainer) prepare(t *Trainer, newBar func(int, string) func(int)) error {
	c := t.Cfg
	if !p.spec.NeedsReference() {
		return nil
	}
	h := sha256.New()
	computeDType(h, c)
	switch {
	case c.RefModel != "":
		if err := modelIdentity(h, c.RefModel); err != nil {
			return err
		}
		frozenDType(h, c)
		var loaded *model.Model
		load := func() (*model.Model, error) {
			m, err := t.loadFrozen(c.RefModel)
			if err != nil {
				return nil, fmt.Errorf("reference model: %w", err)
			}
			loaded = m
			return m, nil
		}
		if !c.PrecomputeRef {
			var err error
			p.ref, err = load()
			return err
		}
		// Loaded only on a cache miss, and closed once scored.
		release := func() {
			if loaded != nil {
				loaded.Close()
			}
		}
		return p.precompute(t, fmt.Sprintf("%x", h.Sum(nil)), load, release, newBar)
	case t.lora:
		// The same weights with the adapter switched off.
		if err := t.startIdentity(h); err != nil {
			return err
		}
		fmt.Fprintf(h, "lora-off\n")
		frozenDType(h, c)
		if !c.PrecomputeRef {
			return nil // scored on the fly with the adapter disabled
		}
		return p.precompute(t, fmt.Sprintf("%x", h.Sum(nil)), func() (*model.Model, error) {
			t.Policy.SetAdapterEnabled(false)
			return t.Policy, nil
		}, func() { t.Policy.SetAdapterEnabled(true) }, newBar)
	default:
		// The starting weights. On resume they are no longer the policy's:
		// the cache (written at the start of the run), the starting model
		// given in memory, or the original Model folder provides them.
		if err := t.startIdentity(h); err != nil {
			return err
		}
		start := func() (*model.Model, error) {
			if c.Resume == "" || t.start != nil {
				if t.start != nil {
					return t.start, nil
				}
				return t.Policy, nil
			}
			if c.Model == "" {
				return nil, errors.New("the reference log-probs of the starting weights are not cached in the run folder, and the starting model is not given (Options.Policy or Config.Model)")
			}
			m, err := model.Load(c.Model)
			if err != nil {
				return nil, err
			}
			m.NoSharePrefix = c.NoSharePrefix
			m.ComputeDType = c.ComputeDType
			m.Freeze()
			return m, nil
		}
		if !c.PrecomputeRef {
			if t.start != nil {
				return errors.New("PrecomputeRef false with a starting model in memory: the reference would be trained with the policy; precompute it, or set RefModel")
			}
			m, err := t.loadFrozen(c.Model)
			if err != nil {
				return fmt.Errorf("reference model: %w", err)
			}
			p.ref = m
			return nil
		}
		return p.precompute(t, fmt.Sprintf("%x", h.Sum(nil)), start, func() {}, newBar)
	}
}

func (p *prefTrainer) precompute(t *Trainer, identity string, get func() (*model.Model, error), release func(), newBar func(int, string) func(int)) error {
	defer release()
	var m *model.Model
	for i, set := range []*[]Example{&t.train, &t.eval} {
		if len(*set) == 0 {
			continue
		}
		// With MaxSteps, only the training examples the steps draw.
		exs, seen := *set, []int(nil)
		if i == 0 {
			if seen = t.stepExamples(); seen != nil {
				exs = subset(*set, seen)
			}
		}
		key := refCacheKey(identity, exs)
		r, hit, err := cachedReference(t.Cfg.Output, key, len(exs), func() (RefLogps, error) {
			if m == nil {
				var err error
				if m, err = get(); err != nil {
					return nil, err
				}
			}
			var bar func(int)
			if newBar != nil {
				bar = newBar(len(exs), "reference log-probs")
			}
			return scoreExamples(m, exs, max(t.Cfg.BatchSize, 1), bar)
		})
		if err != nil {
			return err
		}
		what := []string{"train", "eval"}[i]
		if seen != nil {
			steps := fmt.Sprintf("%d steps", t.Cfg.MaxSteps)
			if t.Cfg.MaxSteps == 1 {
				steps = "1 step"
			}
			what = fmt.Sprintf("train: only the %d of %d examples drawn in the run's %s", len(seen), len(*set), steps)
			r = scatterRef(r, seen, len(*set))
		}
		if hit {
			fmt.Fprintf(t.log, "reference log-probs (%s): read from cache %s\n", what, key)
		} else {
			fmt.Fprintf(t.log, "reference log-probs (%s): computed for %d examples, cached as %s\n", what, len(exs), key)
		}
		if i == 0 {
			p.refTrain = r
		} else {
			p.refEval = r
		}
	}
	return nil
}

// refFor returns the reference log-probs of examples idx of exs.
func (p *prefTrainer) refFor(t *Trainer, idx []int, exs []Example, cache RefLogps) (RefLogps, error) {
	out := make(RefLogps, len(idx))
	if !p.spec.NeedsReference() {
		return out, nil
	}
	if cache != nil {
		for i, j := range idx {
			out[i] = cache[j]
			if math.IsNaN(out[i][0]) {
				return nil, fmt.Errorf("%s: no reference log-probs: the reference was computed for the examples of the first MaxSteps %d steps only", where(exs[j]), t.Cfg.MaxSteps)
			}
		}
		return out, nil
	}
	m := p.ref
	if m == nil { // LoRA: the policy with its adapter switched off
		t.Policy.SetAdapterEnabled(false)
		defer t.Policy.SetAdapterEnabled(true)
		m = t.Policy
	}
	return scoreExamples(m, subset(exs, idx), len(idx), nil)
}

func (p *prefTrainer) beginStep() { p.met = pref.NewMetrics(p.spec) }

func (p *prefTrainer) stepMetrics() map[string]float64 { return p.met.Values() }

// accumulate computes the preference loss of training examples idx and
// accumulates its gradients (scaled by 1/GradAccum).
func (p *prefTrainer) accumulate(t *Trainer, idx []int) (int64, error) {
	refs, err := p.refFor(t, idx, t.train, p.refTrain)
	if err != nil {
		return 0, err
	}
	exs := subset(t.train, idx)
	items, _ := PairItems(exs)
	s, err := t.Policy.LogProbs(t.tape, items)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where(exs[0]), err)
	}
	t.countPositions(s)
	if d := checkLogps(t.state.Step+1, s.Seq.Data, exs); d != nil {
		t.tape.Reset()
		return 0, d
	}
	pairs := pairsOf(exs, s, refs)
	res, err := p.spec.Batch(pairs, &t.state.BCO)
	if err != nil {
		return 0, err
	}
	n := len(idx)
	seed := make([]float32, 2*n)
	scale := 1 / float64(t.Cfg.GradAccum)
	var tokens int64
	for i, g := range res.Grads {
		seed[i] = float32(g.Chosen * scale)
		seed[n+i] = float32(g.Rejected * scale)
		p.met.Add(pairs[i], res.Losses[i])
		tokens += int64(exs[i].Tokens())
	}
	t.tape.Backward(s.Seq, seed)
	t.tape.Reset()
	return tokens, nil
}

func (p *prefTrainer) evaluate(t *Trainer) (map[string]float64, error) {
	met := pref.NewMetrics(p.spec)
	bco := t.state.BCO // evaluation must not move the running mean
	bs := t.Cfg.BatchSize
	for lo := 0; lo < len(t.eval); lo += bs {
		idx := make([]int, 0, bs)
		for j := lo; j < min(lo+bs, len(t.eval)); j++ {
			idx = append(idx, j)
		}
		refs, err := p.refFor(t, idx, t.eval, p.refEval)
		if err != nil {
			return nil, err
		}
		exs := subset(t.eval, idx)
		items, _ := PairItems(exs)
		s, err := t.Policy.LogProbs(nil, items)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(exs[0]), err)
		}
		pairs := pairsOf(exs, s, refs)
		res, err := p.spec.Batch(pairs, &bco)
		if err != nil {
			return nil, err
		}
		for i := range pairs {
			met.Add(pairs[i], res.Losses[i])
		}
	}
	return met.Values(), nil
}

// scatterRef places the reference log-probs of examples seen (in order)
// into a slice of n, NaN for the examples not seen.
func scatterRef(r RefLogps, seen []int, n int) RefLogps {
	out := make(RefLogps, n)
	for i := range out {
		out[i] = [2]float64{math.NaN(), math.NaN()}
	}
	for k, j := range seen {
		out[j] = r[k]
	}
	return out
}
