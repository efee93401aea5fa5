package train

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/optim"
	"github.com/smaug-dev/smaug/pref"
	"github.com/smaug-dev/smaug/tensor"
)

// State is where a run is: what a checkpoint must hold, besides weights and
// optimiser moments, for a resumed run to continue exactly.
type State struct {
	Step       int              `json:"global_step"`
	Epoch      int              `json:"epoch"`    // data passes completed
	Pos        int              `json:"position"` // next example in this epoch's order
	BCO        pref.RunningMean `json:"bco_running_mean"`
	Tokens     int64            `json:"tokens_seen"`
	DropoutRNG []byte           `json:"dropout_rng,omitempty"`
	// DataHash identifies the training examples (token ids after
	// truncation), so that a resume on other data is refused.
	DataHash string `json:"train_data_hash,omitempty"`
}

// Trainer runs one training job.
type Trainer struct {
	Cfg    Config
	Policy *model.Model
	Spec   pref.Spec

	train, eval       []Example
	refTrain, refEval RefLogps
	ref               *model.Model // only without precomputed reference log-probs
	lora              bool
	params            []*optim.Param
	opt               *optim.AdamW
	sched             optim.Schedule
	state             State
	tape              *tensor.Tape
	totalSteps        int
	log               io.Writer
	progress          func(step int, m map[string]float64)
	metricsFile       *os.File
	lastMetrics       map[string]float64
	LoadStats         LoadStats
}

// Options are the parts of a Trainer that come from outside the config:
// the data, already tokenized, and where to report.
type Options struct {
	Train, Eval []Example
	LoadStats   LoadStats
	Log         io.Writer                               // human-readable log lines (nil: discard)
	Progress    func(step int, m map[string]float64)    // after each optimiser step (nil: none)
	NewBar      func(n int, desc string) func(done int) // progress of long preparations (nil: none)
}

// New prepares a run: loads (or resumes) the policy, attaches LoRA, sets up
// the loss, the reference log-probs and the optimiser, and creates the run
// folder. Call Run next.
func New(cfg Config, o Options) (_ *Trainer, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Cfg: cfg, train: o.Train, eval: o.Eval, log: o.Log, progress: o.Progress, LoadStats: o.LoadStats, tape: tensor.NewTape()}
	if t.log == nil {
		t.log = io.Discard
	}
	if len(t.train) == 0 {
		return nil, fmt.Errorf("no training examples")
	}
	if err := os.MkdirAll(cfg.Output, 0o755); err != nil {
		return nil, err
	}
	if err := t.setupLoss(); err != nil {
		return nil, err
	}
	var resume string
	if cfg.Resume != "" {
		var err error
		if resume, err = FindCheckpoint(cfg.Resume); err != nil {
			return nil, err
		}
	}
	if err := t.loadPolicy(resume); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	for _, set := range [][]Example{t.train, t.eval} {
		if err := checkVocab(set, t.Policy.Config.VocabSize); err != nil {
			return nil, err
		}
	}
	if err := t.setupReference(o.NewBar); err != nil {
		return nil, err
	}
	if err := t.setupOptimizer(); err != nil {
		return nil, err
	}
	if resume != "" {
		if err := t.loadCheckpointState(resume); err != nil {
			return nil, err
		}
		fmt.Fprintf(t.log, "resumed from %s at step %d\n", resume, t.state.Step)
	}
	return t, nil
}

func checkVocab(exs []Example, vocab int) error {
	for _, e := range exs {
		for _, ids := range [][]int{e.Prompt, e.Chosen, e.Rejected} {
			for _, id := range ids {
				if id < 0 || id >= vocab {
					return fmt.Errorf("%s:%d: token id %d is outside the model's vocabulary of %d", e.Source, e.Line, id, vocab)
				}
			}
		}
	}
	return nil
}

func (t *Trainer) setupLoss() error {
	c := t.Cfg
	if c.Mode == "sft" {
		for _, e := range append(append([]Example{}, t.train...), t.eval...) {
			if len(e.Chosen) == 0 {
				return fmt.Errorf("%s:%d: empty completion", e.Source, e.Line)
			}
		}
		return nil
	}
	for _, set := range [][]Example{t.train, t.eval} {
		for _, e := range set {
			if e.Rejected == nil {
				return fmt.Errorf("%s:%d: no rejected completion (a preference row needs chosen and rejected)", e.Source, e.Line)
			}
		}
	}
	s, err := pref.ParseSpec(c.Loss, c.LossWeights)
	if err != nil {
		return fmt.Errorf("--loss: %w", err)
	}
	s.Beta, s.LabelSmoothing, s.SimPOGamma, s.ORPOAlpha = c.Beta, c.LabelSmoothing, c.SimPOGamma, c.ORPOAlpha
	s.DPOPLambda = c.DPOPLambda
	isDPOP := false
	for _, l := range s.Losses {
		isDPOP = isDPOP || l == "dpop"
	}
	if !isDPOP && !flagSet(c, "dpop-lambda") {
		s.DPOPLambda = 0
	}
	t.Cfg.DPOPLambda = s.DPOPLambda // config.yaml records the λ in effect
	if err := s.Validate(); err != nil {
		return err
	}
	t.Spec = s
	return nil
}

// flagSet reports whether a setting was given explicitly (Config.Explicit).
func flagSet(c Config, name string) bool {
	for _, n := range c.Explicit {
		if n == name {
			return true
		}
	}
	return false
}

func (t *Trainer) loadPolicy(resume string) error {
	c := t.Cfg
	var err error
	switch {
	case resume != "" && c.LoRAR == 0:
		t.Policy, err = model.Load(resume)
	case c.InitConfig != "":
		var cfg *hf.Config
		if cfg, err = hf.LoadConfig(c.InitConfig); err == nil {
			t.Policy, err = model.NewRandom(cfg, c.Seed, initializerRange(cfg))
		}
	case c.LoRAR > 0:
		// The base is frozen under the adapter.
		t.Policy, err = model.LoadFrozen(c.Model, c.BaseDType == "BF16")
	default:
		t.Policy, err = model.Load(c.Model)
	}
	if err != nil {
		return err
	}
	t.Policy.GradientCheckpointing = c.GradientCheckpointing
	if c.LoRAR > 0 {
		t.lora = true
		if resume != "" {
			if _, err := model.LoadAdapter(t.Policy, resume); err != nil {
				return err
			}
		} else if err := t.Policy.AttachLoRA(model.LoRAConfig{R: c.LoRAR, Alpha: c.LoRAAlpha, Dropout: c.LoRADropout,
			Targets: splitList(c.LoRATargets), RSLoRA: c.RSLoRA}, c.Seed); err != nil {
			return fmt.Errorf("--lora-*: %w", err)
		}
		t.Policy.SetDropoutSeed(c.Seed)
		if c.BaseDType == "BF16" {
			t.Policy.HoldFrozenBF16() // a base from --init-config
		}
	}
	return nil
}

// Close releases the files that frozen bfloat16 weights read from (see
// model.LoadFrozen); the trainer must not be used afterwards.
func (t *Trainer) Close() error {
	err := t.Policy.Close()
	if t.ref != nil {
		err = errors.Join(err, t.ref.Close())
	}
	return err
}

// loadFrozen loads a reference model, held as --base-dtype says.
func (t *Trainer) loadFrozen(dir string) (*model.Model, error) {
	return model.LoadFrozen(dir, t.Cfg.BaseDType == "BF16")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// setupReference computes (or reads from the run folder's cache) the
// reference log-probs, or keeps a reference model when precomputation is
// off. Reference-free losses and SFT need none.
func (t *Trainer) setupReference(newBar func(int, string) func(int)) error {
	c := t.Cfg
	if c.Mode == "sft" || !t.Spec.NeedsReference() {
		return nil
	}
	var identity string
	release := func() {}
	switch {
	case c.RefModel != "":
		h := sha256.New()
		if err := modelIdentity(h, c.RefModel); err != nil {
			return err
		}
		frozenDType(h, c)
		identity = fmt.Sprintf("%x", h.Sum(nil))
		var loaded *model.Model
		load := func() (*model.Model, error) {
			m, err := t.loadFrozen(c.RefModel)
			if err != nil {
				return nil, fmt.Errorf("--ref-model: %w", err)
			}
			loaded = m
			return m, nil
		}
		if !c.PrecomputeRef {
			var err error
			t.ref, err = load()
			return err
		}
		// Loaded only on a cache miss, and closed once scored.
		release = func() {
			if loaded != nil {
				loaded.Close()
			}
		}
		return t.precompute(identity, load, release, newBar)
	case t.lora:
		// The same weights with the adapter switched off.
		h := sha256.New()
		modelIdentity(h, c.Model)
		fmt.Fprintf(h, "lora-off\n")
		frozenDType(h, c)
		identity = fmt.Sprintf("%x", h.Sum(nil))
		if !c.PrecomputeRef {
			return nil // scored on the fly with the adapter disabled
		}
		return t.precompute(identity, func() (*model.Model, error) {
			t.Policy.SetAdapterEnabled(false)
			return t.Policy, nil
		}, func() { t.Policy.SetAdapterEnabled(true) }, newBar)
	default:
		// The starting weights. On resume they are no longer in memory: the
		// cache (written at the start of the run) or the original --model
		// folder provides them.
		h := sha256.New()
		if c.Model != "" {
			modelIdentity(h, c.Model)
		}
		identity = fmt.Sprintf("%x", h.Sum(nil))
		if !c.PrecomputeRef {
			m, err := t.loadFrozen(c.Model)
			if err != nil {
				return err
			}
			t.ref = m
			return nil
		}
		return t.precompute(identity, func() (*model.Model, error) {
			if c.Resume != "" {
				m, err := model.Load(c.Model)
				if err != nil {
					return nil, err
				}
				m.Freeze()
				return m, nil
			}
			return t.Policy, nil
		}, release, newBar)
	}
}

func (t *Trainer) precompute(identity string, get func() (*model.Model, error), release func(), newBar func(int, string) func(int)) error {
	defer release()
	var m *model.Model
	for i, set := range []*[]Example{&t.train, &t.eval} {
		if len(*set) == 0 {
			continue
		}
		key := refCacheKey(identity, *set)
		r, hit, err := cachedReference(t.Cfg.Output, key, len(*set), func() (RefLogps, error) {
			if m == nil {
				var err error
				if m, err = get(); err != nil {
					return nil, err
				}
			}
			var bar func(int)
			if newBar != nil {
				bar = newBar(len(*set), "reference log-probs")
			}
			return scoreExamples(m, *set, max(t.Cfg.BatchSize, 1), bar)
		})
		if err != nil {
			return err
		}
		what := []string{"train", "eval"}[i]
		if hit {
			fmt.Fprintf(t.log, "reference log-probs (%s): read from cache %s\n", what, key)
		} else {
			fmt.Fprintf(t.log, "reference log-probs (%s): computed for %d examples, cached as %s\n", what, len(*set), key)
		}
		if i == 0 {
			t.refTrain = r
		} else {
			t.refEval = r
		}
	}
	return nil
}

func (t *Trainer) trainable() []model.Param {
	if t.lora {
		return t.Policy.LoRAParams()
	}
	return t.Policy.Params()
}

func (t *Trainer) setupOptimizer() error {
	c := t.Cfg
	for _, p := range t.trainable() {
		t.params = append(t.params, &optim.Param{Name: p.Name, Data: p.Tensor.Data, Grad: p.Tensor.Grad,
			Decay: c.DecayAllParams || !optim.NoDecay(p.Name)})
	}
	var err error
	if t.opt, err = optim.NewAdamW(c.AdamBeta1, c.AdamBeta2, c.AdamEps, c.WeightDecay); err != nil {
		return err
	}
	t.totalSteps = c.MaxSteps
	if t.totalSteps == 0 {
		batches := (len(t.train) + c.BatchSize - 1) / c.BatchSize
		t.totalSteps = c.Epochs * max(batches/c.GradAccum, 1)
	}
	t.sched = optim.Schedule{Kind: c.LRSchedule, Warmup: c.WarmupSteps, Total: t.totalSteps, Base: c.LR}
	if err := t.sched.Validate(); err != nil {
		return fmt.Errorf("--lr-schedule: %w", err)
	}
	return nil
}

// TotalSteps is the number of optimiser steps the run will make.
func (t *Trainer) TotalSteps() int { return t.totalSteps }

// Step is the number of optimiser steps done.
func (t *Trainer) Step() int { return t.state.Step }

// order returns the example order of an epoch: a permutation seeded by the
// run's seed and the epoch, grouped by length in mega-batches of 50 batches
// (as the HF LengthGroupedSampler) when asked.
func (t *Trainer) order(epoch int) []int {
	r := rand.New(rand.NewPCG(t.Cfg.Seed, uint64(epoch)+1))
	perm := r.Perm(len(t.train))
	if t.Cfg.GroupByLength {
		mega := 50 * t.Cfg.BatchSize
		for lo := 0; lo < len(perm); lo += mega {
			chunk := perm[lo:min(lo+mega, len(perm))]
			sort.SliceStable(chunk, func(a, b int) bool { return t.train[chunk[a]].Tokens() > t.train[chunk[b]].Tokens() })
		}
	}
	return perm
}

// nextBatch returns the indices of the next micro-batch, moving through
// epochs as needed.
func (t *Trainer) nextBatch(order *[]int) []int {
	var idx []int
	for len(idx) < t.Cfg.BatchSize {
		if t.state.Pos >= len(*order) {
			if len(idx) > 0 {
				break // the epoch's last, smaller batch
			}
			t.state.Epoch++
			t.state.Pos = 0
			*order = t.order(t.state.Epoch)
		}
		idx = append(idx, (*order)[t.state.Pos])
		t.state.Pos++
	}
	return idx
}

// Run trains until the configured number of steps, saving checkpoints and
// metrics as it goes, then writes the final model into the output folder.
func (t *Trainer) Run() error {
	c := t.Cfg
	if err := c.Save(c.Output); err != nil {
		return err
	}
	if err := t.writeLoadStats(); err != nil {
		return err
	}
	mpath := filepath.Join(c.Output, "metrics.jsonl")
	if err := truncateMetrics(mpath, t.state.Step); err != nil {
		return err
	}
	f, err := os.OpenFile(mpath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	t.metricsFile = f
	defer f.Close()
	if c.EvalOnStart && len(t.eval) > 0 && t.state.Step == 0 {
		em, err := t.Evaluate()
		if err != nil {
			return err
		}
		if err := t.writeMetrics(em); err != nil {
			return err
		}
	}
	order := t.order(t.state.Epoch)
	for t.state.Step < t.totalSteps {
		m, err := t.step(&order)
		if err != nil {
			return fmt.Errorf("step %d: %w", t.state.Step+1, err)
		}
		if c.EvalSteps > 0 && len(t.eval) > 0 && t.state.Step%c.EvalSteps == 0 {
			em, err := t.Evaluate()
			if err != nil {
				return err
			}
			if err := t.writeMetrics(em); err != nil {
				return err
			}
		}
		if t.progress != nil {
			t.progress(t.state.Step, m)
		}
		if c.SaveSteps > 0 && t.state.Step%c.SaveSteps == 0 && t.state.Step < t.totalSteps {
			if err := t.SaveCheckpoint(); err != nil {
				return err
			}
		}
	}
	if len(t.eval) > 0 && (c.EvalSteps == 0 || t.state.Step%c.EvalSteps != 0) {
		em, err := t.Evaluate()
		if err != nil {
			return err
		}
		if err := t.writeMetrics(em); err != nil {
			return err
		}
	}
	if c.SaveSteps > 0 {
		if err := t.SaveCheckpoint(); err != nil {
			return err
		}
	}
	return t.saveFinal()
}

// step does one optimiser step over GradAccum micro-batches and logs it.
func (t *Trainer) step(order *[]int) (map[string]float64, error) {
	c := t.Cfg
	start := time.Now()
	var met *pref.Metrics
	if c.Mode == "pref" {
		met = pref.NewMetrics(t.Spec)
	}
	var sftLoss float64
	var tokens int64
	for a := 0; a < c.GradAccum; a++ {
		idx := t.nextBatch(order)
		if c.Mode == "sft" {
			l, n, err := t.sftMicroBatch(idx)
			if err != nil {
				return nil, err
			}
			sftLoss += l / float64(c.GradAccum)
			tokens += n
			continue
		}
		n, err := t.prefMicroBatch(idx, met)
		if err != nil {
			return nil, err
		}
		tokens += n
	}
	gradNorm := optim.ClipGradNorm(t.params, c.MaxGradNorm)
	lr := t.sched.LR(t.state.Step)
	if err := t.opt.Update(t.params, lr); err != nil {
		return nil, err
	}
	for _, p := range t.params {
		clear(p.Grad)
	}
	t.state.Step++
	t.state.Tokens += tokens
	var m map[string]float64
	if met != nil {
		m = met.Values()
	} else {
		m = map[string]float64{"loss": sftLoss}
	}
	secs := time.Since(start).Seconds()
	m["step"] = float64(t.state.Step)
	m["epoch"] = float64(t.state.Epoch) + float64(t.state.Pos)/float64(len(t.train))
	m["learning_rate"] = lr
	m["grad_norm"] = gradNorm
	m["tokens_per_s"] = float64(tokens) / secs
	m["step_time_s"] = secs
	if err := t.writeMetrics(m); err != nil {
		return nil, err
	}
	t.lastMetrics = m
	return m, nil
}

// refFor returns the reference log-probs of training examples idx.
func (t *Trainer) refFor(idx []int, exs []Example, cache RefLogps) (RefLogps, error) {
	out := make(RefLogps, len(idx))
	if !t.Spec.NeedsReference() {
		return out, nil
	}
	if cache != nil {
		for i, j := range idx {
			out[i] = cache[j]
		}
		return out, nil
	}
	sub := make([]Example, len(idx))
	for i, j := range idx {
		sub[i] = exs[j]
	}
	m := t.ref
	if m == nil { // LoRA: the policy with its adapter switched off
		t.Policy.SetAdapterEnabled(false)
		defer t.Policy.SetAdapterEnabled(true)
		m = t.Policy
	}
	return scoreExamples(m, sub, len(sub), nil)
}

// prefMicroBatch computes the preference loss of examples idx and
// accumulates its gradients (scaled by 1/GradAccum).
func (t *Trainer) prefMicroBatch(idx []int, met *pref.Metrics) (int64, error) {
	refs, err := t.refFor(idx, t.train, t.refTrain)
	if err != nil {
		return 0, err
	}
	pairs, s, tokens, err := t.scorePairs(t.tape, idx, t.train, refs)
	if err != nil {
		return 0, err
	}
	res, err := t.Spec.Batch(pairs, &t.state.BCO)
	if err != nil {
		return 0, err
	}
	n := len(idx)
	seed := make([]float32, 2*n)
	scale := 1 / float64(t.Cfg.GradAccum)
	for i, g := range res.Grads {
		seed[i] = float32(g.Chosen * scale)
		seed[n+i] = float32(g.Rejected * scale)
		met.Add(pairs[i], res.Losses[i])
	}
	t.tape.Backward(s, seed)
	t.tape.Reset()
	return tokens, nil
}

// scorePairs runs the policy on the chosen and rejected completions of
// examples idx (in one batch) and returns the pairs for package pref.
func (t *Trainer) scorePairs(tp *tensor.Tape, idx []int, exs []Example, refs RefLogps) ([]pref.Pair, *tensor.Tensor, int64, error) {
	n := len(idx)
	items := make([]model.Completion, 2*n)
	var tokens int64
	for i, j := range idx {
		e := exs[j]
		items[i] = model.Completion{Prompt: e.Prompt, Completion: e.Chosen}
		items[n+i] = model.Completion{Prompt: e.Prompt, Completion: e.Rejected}
		tokens += int64(e.Tokens())
	}
	s, err := t.Policy.LogProbs(tp, items)
	if err != nil {
		e := exs[idx[0]]
		return nil, nil, 0, fmt.Errorf("%s:%d: %w", e.Source, e.Line, err)
	}
	pairs := make([]pref.Pair, n)
	for i, j := range idx {
		e := exs[j]
		pairs[i] = pref.Pair{
			PolicyChosen: float64(s.Seq.Data[i]), PolicyRejected: float64(s.Seq.Data[n+i]),
			RefChosen: refs[i][0], RefRejected: refs[i][1],
			ChosenLen: len(e.Chosen), RejectedLen: len(e.Rejected),
			ChosenLogitsMean: float64(s.MeanLogit[i]), RejectedLogitsMean: float64(s.MeanLogit[n+i]),
		}
	}
	return pairs, s.Seq, tokens, nil
}

// sftMicroBatch computes the mean token NLL of the completions of examples
// idx and accumulates its gradients (scaled by 1/GradAccum).
func (t *Trainer) sftMicroBatch(idx []int) (loss float64, tokens int64, err error) {
	items := make([]model.Completion, len(idx))
	var ntok int
	for i, j := range idx {
		e := t.train[j]
		items[i] = model.Completion{Prompt: e.Prompt, Completion: e.Chosen}
		ntok += len(e.Chosen)
		tokens += int64(len(e.Prompt) + len(e.Chosen))
	}
	s, err := t.Policy.LogProbs(t.tape, items)
	if err != nil {
		e := t.train[idx[0]]
		return 0, 0, fmt.Errorf("%s:%d: %w", e.Source, e.Line, err)
	}
	seed := make([]float32, len(idx))
	g := -1 / (float64(ntok) * float64(t.Cfg.GradAccum))
	for i := range seed {
		loss -= float64(s.Seq.Data[i])
		seed[i] = float32(g)
	}
	t.tape.Backward(s.Seq, seed)
	t.tape.Reset()
	return loss / float64(ntok), tokens, nil
}

// Evaluate computes the step metrics over the eval examples (no gradients)
// and returns them with TRL's eval_ prefix.
func (t *Trainer) Evaluate() (map[string]float64, error) {
	c := t.Cfg
	out := map[string]float64{}
	if c.Mode == "sft" {
		var nll float64
		var ntok int
		for lo := 0; lo < len(t.eval); lo += c.BatchSize {
			hi := min(lo+c.BatchSize, len(t.eval))
			items := make([]model.Completion, 0, hi-lo)
			for _, e := range t.eval[lo:hi] {
				items = append(items, model.Completion{Prompt: e.Prompt, Completion: e.Chosen})
				ntok += len(e.Chosen)
			}
			s, err := t.Policy.LogProbs(nil, items)
			if err != nil {
				return nil, err
			}
			for _, v := range s.Seq.Data {
				nll -= float64(v)
			}
		}
		out["eval_loss"] = nll / float64(ntok)
	} else {
		met := pref.NewMetrics(t.Spec)
		bco := t.state.BCO // evaluation must not move the running mean
		for lo := 0; lo < len(t.eval); lo += c.BatchSize {
			idx := make([]int, 0, c.BatchSize)
			for j := lo; j < min(lo+c.BatchSize, len(t.eval)); j++ {
				idx = append(idx, j)
			}
			refs, err := t.refFor(idx, t.eval, t.refEval)
			if err != nil {
				return nil, err
			}
			pairs, _, _, err := t.scorePairs(nil, idx, t.eval, refs)
			if err != nil {
				return nil, err
			}
			res, err := t.Spec.Batch(pairs, &bco)
			if err != nil {
				return nil, err
			}
			for i := range pairs {
				met.Add(pairs[i], res.Losses[i])
			}
		}
		for k, v := range met.Values() {
			out["eval_"+k] = v
		}
	}
	out["step"] = float64(t.state.Step)
	return out, nil
}

func (t *Trainer) writeMetrics(m map[string]float64) error {
	clean := make(map[string]any, len(m))
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			clean[k] = nil // JSON has no NaN; plots skip nulls
			continue
		}
		clean[k] = v
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return err
	}
	_, err = t.metricsFile.Write(append(b, '\n'))
	return err
}

// truncateMetrics drops metric rows past step (left by a run that was
// killed after its last checkpoint), so a resumed run's file reads as one.
func truncateMetrics(path string, step int) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []byte
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var row map[string]any
		if json.Unmarshal(sc.Bytes(), &row) != nil {
			continue // a line cut by a kill
		}
		if s, ok := row["step"].(float64); ok && int(s) > step {
			continue
		}
		keep = append(append(keep, sc.Bytes()...), '\n')
	}
	if step == 0 {
		keep = nil
	}
	return atomicfile.WriteFile(path, keep)
}

// LastMetrics returns the metrics of the last step.
func (t *Trainer) LastMetrics() map[string]float64 { return t.lastMetrics }

// SetProgress sets the function called after each optimiser step.
func (t *Trainer) SetProgress(f func(step int, m map[string]float64)) { t.progress = f }

// Summary describes the finished run in a few lines.
func (t *Trainer) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "trained %d steps (%d tokens) into %s\n", t.state.Step, t.state.Tokens, t.Cfg.Output)
	keys := []string{"loss", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "dpop/penalty", "grad_norm", "tokens_per_s"}
	for _, k := range keys {
		if v, ok := t.lastMetrics[k]; ok {
			fmt.Fprintf(&b, "  last %-20s %.6g\n", k, v)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
