package train

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/atomicfile"
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

// Trainer runs one training job. The parts both modes share (the policy,
// the data order, the optimiser, checkpoints and metrics) live here; what
// a step computes belongs to the mode's objective, the preference trainer
// or the SFT trainer.
type Trainer struct {
	// Cfg is the run's configuration; the trainer does not change it.
	Cfg Config
	// Policy is the model being trained.
	Policy *model.Model
	// LoadStats are what loading the training data did (see [Options]).
	LoadStats LoadStats

	obj         objective
	train, eval []Example
	start       *model.Model // the starting model given in memory, if any
	lora        bool
	params      []*optim.Param
	opt         *optim.AdamW
	sched       optim.Schedule
	state       State
	order       []int // this epoch's example order (nil: not drawn yet)
	tape        *tensor.Tape
	totalSteps  int
	log         io.Writer
	progress    func(step int, m map[string]float64)
	metricsFile *os.File
	lastMetrics map[string]float64
	dir         *runDir // the run folder, locked
	resumed     bool    // started from a checkpoint
	kept        bool    // a step was made or something saved: the folder stays
	health      *health
	decode      func([]int) string
	lastSamples []Sample

	// batchEnd maps the start of each PaddingFree micro-batch in order to
	// its end (nil: not computed for this epoch yet).
	batchEnd map[int]int
	// positions and seqTokens sum model.Scores.Positions and SeqTokens of
	// the step's training forwards (see tokens_saved).
	positions, seqTokens int
}

// objective is what one mode computes: the preference trainer or the SFT
// trainer.
type objective interface {
	// check reports the first example the objective cannot train on.
	check(exs []Example) error
	// prepare readies what the steps need (reference log-probs).
	prepare(t *Trainer, newBar func(int, string) func(int)) error
	// beginStep starts a new optimiser step's metrics.
	beginStep()
	// accumulate adds the gradients of training examples idx, scaled by
	// 1/GradAccum, and returns the tokens it put through the model.
	accumulate(t *Trainer, idx []int) (int64, error)
	// stepMetrics returns the metrics of the micro-batches since beginStep.
	stepMetrics() map[string]float64
	// evaluate computes the metrics over the eval examples (no gradients),
	// without the eval_ prefix.
	evaluate(t *Trainer) (map[string]float64, error)
	// close releases what prepare loaded.
	close() error
}

// Options are the parts of a Trainer that come from outside the config:
// the data, already tokenized, an optional starting model in memory, and
// where to report.
type Options struct {
	// Train and Eval are the training and evaluation examples (Train is
	// required).
	Train, Eval []Example
	// LoadStats are recorded in the run folder (data_stats.json).
	LoadStats LoadStats
	// Policy, when set, is the starting model in memory, used instead of
	// Config.Model and Config.InitConfig: full fine-tuning trains it in
	// place, LoRA attaches the adapter to it. It also provides the default
	// reference (its weights before training). With Config.Resume, pass the
	// same starting model again: the trained weights come from the
	// checkpoint.
	Policy *model.Model
	// Log receives human-readable log lines (nil: discard).
	Log io.Writer
	// Progress is called after each optimiser step of Run (nil: none).
	Progress func(step int, m map[string]float64)
	// NewBar reports progress of long preparations (nil: none).
	NewBar func(n int, desc string) func(done int)
	// Decode turns token ids into text for samples.jsonl (nil: ids only).
	Decode func(ids []int) string
}

// New prepares a run: checks the config, creates and locks the run folder
// (see [RunFolder]; a folder holding another run, a model folder, or an
// output inside an input is a [*RunFolderError], before any work), loads
// (or resumes) the policy, attaches LoRA, computes the reference log-probs
// and sets up the optimiser. Call Run, or Step repeatedly, next, and Close
// at the end. The run folder is locked until Close; when New fails, or no
// step was made before Close, a folder New created is removed (one it
// found empty is emptied again).
func New(cfg Config, o Options) (_ *Trainer, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case o.Policy != nil && (cfg.Model != "" || cfg.InitConfig != ""):
		return nil, fmt.Errorf("a starting model in memory (Options.Policy) and Config.Model or Config.InitConfig exclude each other")
	case o.Policy == nil && cfg.Model == "" && cfg.InitConfig == "" && cfg.Resume == "":
		return nil, fmt.Errorf("no starting model: set Config.Model, Config.InitConfig or Options.Policy")
	case len(o.Train) == 0:
		return nil, fmt.Errorf("no training examples")
	}
	t := &Trainer{Cfg: cfg, train: o.Train, eval: o.Eval, log: o.Log, progress: o.Progress, LoadStats: o.LoadStats,
		start: o.Policy, tape: tensor.NewTape(), decode: o.Decode}
	if t.log == nil {
		t.log = io.Discard
	}
	if cfg.Mode == SFT {
		t.obj = &sftTrainer{}
	} else {
		t.obj = &prefTrainer{spec: cfg.Loss}
	}
	for _, set := range [][]Example{t.train, t.eval} {
		if err := t.obj.check(set); err != nil {
			return nil, err
		}
	}
	var resume string
	if cfg.Resume != "" {
		if resume, err = FindCheckpoint(cfg.Resume); err != nil {
			return nil, err
		}
	}
	if t.Cfg.Output, err = RunFolder(cfg); err != nil {
		return nil, err
	}
	if t.dir, err = openRunDir(t.Cfg, resume, t.logf); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if err := t.loadPolicy(resume); err != nil {
		return nil, err
	}
	if err := t.checkStartWeights(); err != nil {
		return nil, err
	}
	for _, set := range [][]Example{t.train, t.eval} {
		if err := checkVocab(set, t.Policy.Config.VocabSize); err != nil {
			return nil, err
		}
	}
	if err := t.obj.prepare(t, o.NewBar); err != nil {
		return nil, err
	}
	if err := t.setupOptimizer(); err != nil {
		return nil, err
	}
	t.health = newHealth(cfg)
	if msg := t.health.scheduleMessage(t.totalSteps, cfg.BatchSize, cfg.GradAccum, len(t.train)); msg != "" {
		fmt.Fprintf(t.log, "warning: %s\n", msg)
	}
	if resume != "" {
		if err := t.loadCheckpointState(resume); err != nil {
			return nil, err
		}
		fmt.Fprintf(t.log, "resumed from %s at step %d\n", resume, t.state.Step)
		t.resumed = true
	}
	return t, nil
}

// logf writes a line to the trainer's log.
func (t *Trainer) logf(format string, args ...any) { fmt.Fprintf(t.log, format+"\n", args...) }

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

func (t *Trainer) loadPolicy(resume string) error {
	c := t.Cfg
	bf16 := c.BaseDType == dtype.BF16
	var err error
	switch {
	case resume != "" && c.LoRA.R == 0:
		t.Policy, err = model.Load(resume)
	case t.start != nil:
		t.Policy = t.start
	case c.InitConfig != "":
		var cfg *hf.Config
		if cfg, err = hf.LoadConfig(c.InitConfig); err == nil {
			t.Policy, err = model.NewRandom(cfg, c.Seed, initializerRange(cfg))
		}
	case c.LoRA.R > 0:
		// The base is frozen under the adapter.
		t.Policy, err = model.LoadFrozen(c.Model, bf16)
	default:
		t.Policy, err = model.Load(c.Model)
	}
	if err != nil {
		return fmt.Errorf("starting model: %w", err)
	}
	t.Policy.GradientCheckpointing = c.GradientCheckpointing
	t.Policy.NoSharePrefix = c.NoSharePrefix
	t.Policy.ComputeDType = c.ComputeDType
	if c.LoRA.R > 0 {
		t.lora = true
		if resume != "" {
			if _, err := model.LoadAdapter(t.Policy, resume); err != nil {
				return fmt.Errorf("resume %s: %w", resume, err)
			}
		} else if err := t.Policy.AttachLoRA(c.LoRA, c.Seed); err != nil {
			return fmt.Errorf("LoRA: %w", err)
		}
		t.Policy.SetDropoutSeed(c.Seed)
		if bf16 {
			t.Policy.HoldFrozenBF16() // a base from InitConfig or in memory
		}
	}
	return nil
}

// Close releases the files that frozen bfloat16 weights read from (see
// model.LoadFrozen), what the objective loaded and the run folder's lock;
// the trainer must not be used afterwards. A starting model given in
// memory is not closed. When no step was made and nothing saved, a run
// folder New created is removed.
func (t *Trainer) Close() error {
	var err error
	if t.Policy != nil && t.Policy != t.start {
		err = t.Policy.Close()
	}
	err = errors.Join(err, t.obj.close())
	if t.dir != nil {
		err = errors.Join(err, t.dir.close(!t.kept))
		t.dir = nil
	}
	return err
}

// loadFrozen loads a reference model, held as BaseDType says.
func (t *Trainer) loadFrozen(dir string) (*model.Model, error) {
	m, err := model.LoadFrozen(dir, t.Cfg.BaseDType == dtype.BF16)
	if err == nil {
		m.NoSharePrefix = t.Cfg.NoSharePrefix
		m.ComputeDType = t.Cfg.ComputeDType
	}
	return m, err
}

// startIdentity hashes what identifies the starting weights: the folder's
// files (see modelIdentity), or the weights themselves for a model given
// in memory.
func (t *Trainer) startIdentity(h hash.Hash) error {
	if t.start != nil {
		weightsIdentity(h, t.start)
		return nil
	}
	if t.Cfg.Model != "" {
		return modelIdentity(h, t.Cfg.Model)
	}
	return nil
}

// weightsIdentity hashes every parameter of m (names and values), for a
// model that has no folder to identify it by.
func weightsIdentity(h hash.Hash, m *model.Model) {
	fmt.Fprintf(h, "in-memory model\n")
	var buf [4]byte
	for _, p := range m.Params() {
		fmt.Fprintf(h, "%s %v\n", p.Name, p.Tensor.Shape)
		for _, v := range p.Tensor.Data {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			h.Write(buf[:])
		}
		for _, v := range p.Tensor.BF16 {
			binary.LittleEndian.PutUint16(buf[:2], v)
			h.Write(buf[:2])
		}
	}
}

func (t *Trainer) trainable() []model.Param {
	if t.lora {
		return t.Policy.LoRAParams()
	}
	return t.Policy.Params()
}

func (t *Trainer) setupOptimizer() error {
	c, o := t.Cfg, t.Cfg.Optim
	for _, p := range t.trainable() {
		t.params = append(t.params, &optim.Param{Name: p.Name, Data: p.Tensor.Data, Grad: p.Tensor.Grad,
			Decay: o.DecayAllParams || !optim.NoDecay(p.Name)})
	}
	var err error
	if t.opt, err = optim.NewAdamW(o.Beta1, o.Beta2, o.Eps, o.WeightDecay); err != nil {
		return err
	}
	t.totalSteps = c.MaxSteps
	if t.totalSteps == 0 {
		batches := (len(t.train) + c.BatchSize - 1) / c.BatchSize
		if c.PaddingFree {
			// Epochs differ in order, so slightly in batches: the first's
			// count stands for all.
			batches = len(t.tokenBatches(t.epochOrder(0)))
		}
		t.totalSteps = c.Epochs * max(batches/c.GradAccum, 1)
	}
	t.sched = optim.Schedule{Kind: o.Schedule, Warmup: o.Warmup(t.totalSteps), Total: t.totalSteps, Base: o.LR}
	return t.sched.Validate()
}

// TotalSteps is the number of optimiser steps Run makes in all.
func (t *Trainer) TotalSteps() int { return t.totalSteps }

// StepsDone is the number of optimiser steps done (resumed ones included).
func (t *Trainer) StepsDone() int { return t.state.Step }

// epochOrder returns the example order of an epoch: a permutation seeded
// by the run's seed and the epoch, grouped by length in mega-batches of 50
// batches (as the HF LengthGroupedSampler) when asked.
func (t *Trainer) epochOrder(epoch int) []int {
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
func (t *Trainer) nextBatch() []int { return t.drawBatch(&t.state.Epoch, &t.state.Pos, &t.order) }

// drawBatch returns the micro-batch at epoch and pos of order (nil: not
// drawn yet) and moves them on: nextBatch's walk, also run ahead of time
// by stepExamples.
func (t *Trainer) drawBatch(epoch, pos *int, order *[]int) []int {
	if *order == nil {
		*order = t.epochOrder(*epoch)
	}
	if t.Cfg.PaddingFree {
		return t.nextTokenBatch()
	}
	var idx []int
	for len(idx) < t.Cfg.BatchSize {
		if *pos >= len(*order) {
			if len(idx) > 0 {
				break // the epoch's last, smaller batch
			}
			*epoch++
			*pos = 0
			*order = t.epochOrder(*epoch)
		}
		idx = append(idx, (*order)[*pos])
		*pos++
	}
	return idx
}

// nextTokenBatch is nextBatch for PaddingFree: the epoch's order is cut
// into consecutive batches by the token budget, and the batch starting at
// the current position is returned.
func (t *Trainer) nextTokenBatch() []int {
	if t.state.Pos >= len(t.order) {
		t.state.Epoch++
		t.state.Pos = 0
		t.order = t.epochOrder(t.state.Epoch)
		t.batchEnd = nil
	}
	if t.batchEnd == nil {
		t.batchEnd = map[int]int{}
		start := 0
		for _, b := range t.tokenBatches(t.order) {
			t.batchEnd[start] = start + len(b)
			start += len(b)
		}
	}
	end, ok := t.batchEnd[t.state.Pos]
	if !ok {
		// A checkpoint from a run batched otherwise: continue from here.
		end = t.state.Pos + len(t.tokenBatches(t.order[t.state.Pos:])[0])
	}
	idx := t.order[t.state.Pos:end]
	t.state.Pos = end
	return idx
}

// tokenBatches cuts the examples order lists into PaddingFree batches
// (positions in order, model.Model.TokenBatches).
func (t *Trainer) tokenBatches(order []int) [][]int {
	return t.Policy.TokenBatches(len(order), func(i int) []model.Completion {
		items, _ := PairItems([]Example{t.train[order[i]]})
		if t.Cfg.Mode == SFT {
			items = items[:1]
		}
		return items
	}, t.Cfg.TokenBudget())
}

// countPositions adds a training forward's positions to the step's count.
func (t *Trainer) countPositions(s *model.Scores) {
	t.positions += s.Positions
	t.seqTokens += s.SeqTokens
}

// Run trains until TotalSteps steps are done, writing metrics and
// checkpoints as it goes, then writes the final model into the run folder.
// When ctx is cancelled, Run finishes the step in progress, saves a
// checkpoint that Config.Resume continues from exactly, and returns an
// error that wraps ctx.Err().
//
// Run on a resumed run that had already finished (see Finished) writes
// nothing and returns nil.
func (t *Trainer) Run(ctx context.Context) error {
	c := t.Cfg
	if t.Finished() {
		t.logf("%s already holds the finished run (%d of %d steps, final %s saved): nothing to do", c.Output, t.state.Step, t.totalSteps, t.finalWeights())
		return nil
	}
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
	// samples.jsonl rows carry their step too: a resumed run drops those
	// past its checkpoint, a fresh one starts the file again.
	if err := truncateMetrics(filepath.Join(c.Output, "samples.jsonl"), t.state.Step); err != nil {
		return err
	}
	f, err := os.OpenFile(mpath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	t.metricsFile = f
	defer func() {
		f.Close()
		t.metricsFile = nil
	}()
	if c.EvalOnStart && len(t.eval) > 0 && t.state.Step == 0 {
		if err := t.evaluateAndLog(); err != nil {
			return err
		}
	}
	for t.state.Step < t.totalSteps {
		if ctx.Err() != nil {
			if err := t.SaveCheckpoint(); err != nil {
				return errors.Join(ctx.Err(), err)
			}
			return fmt.Errorf("stopped after step %d, checkpoint saved in %s: %w", t.state.Step, c.Output, ctx.Err())
		}
		m, err := t.Step(ctx)
		if err != nil {
			return err
		}
		if err := t.writeMetrics(m); err != nil {
			return err
		}
		if c.EvalSteps > 0 && len(t.eval) > 0 && t.state.Step%c.EvalSteps == 0 {
			if err := t.evaluateAndLog(); err != nil {
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
		if err := t.evaluateAndLog(); err != nil {
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

func (t *Trainer) evaluateAndLog() error {
	em, err := t.Evaluate()
	if err != nil {
		return err
	}
	ss, err := t.generateSamples()
	if err != nil {
		return err
	}
	if len(ss) > 0 {
		for k, v := range sampleMetrics(ss) {
			em["eval_"+k] = v
		}
	}
	return t.writeMetrics(em)
}

// Finished reports whether the trainer resumed a run that had already made
// all its steps and saved its final weights in the run folder; Run then
// changes nothing.
func (t *Trainer) Finished() bool {
	if !t.resumed || t.state.Step < t.totalSteps {
		return false
	}
	_, err := os.Stat(filepath.Join(t.Cfg.Output, t.finalWeights()))
	return err == nil
}

// finalWeights is the file the end of the run writes the weights to: the
// adapter with LoRA, else the index of a sharded model when the run folder
// has one, else model.safetensors.
func (t *Trainer) finalWeights() string {
	if t.lora {
		return "adapter_model.safetensors"
	}
	if _, err := os.Stat(filepath.Join(t.Cfg.Output, "model.safetensors.index.json")); err == nil {
		return "model.safetensors.index.json"
	}
	return "model.safetensors"
}

// Step does one optimiser step over GradAccum micro-batches of the next
// training examples and returns its metrics (TRL names). It is Run's step,
// for callers that drive their own loop: it writes no metrics file and no
// checkpoint (see SaveCheckpoint), and goes on past TotalSteps, where the
// learning-rate schedule has ended. It returns ctx.Err() without doing
// anything when ctx is already cancelled.
func (t *Trainer) Step(ctx context.Context) (map[string]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := t.Cfg
	start := time.Now()
	t.obj.beginStep()
	var tokens int64
	var diverged *DivergedError // the first non-finite micro-batch
	for a := 0; a < c.GradAccum; a++ {
		n, err := t.obj.accumulate(t, t.nextBatch())
		var d *DivergedError
		if errors.As(err, &d) {
			if diverged == nil {
				diverged = d
			}
			continue // the step's other micro-batches are still consumed
		}
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", t.state.Step+1, err)
		}
		tokens += n
	}
	m := t.obj.stepMetrics()
	gradNorm := optim.ClipGradNorm(t.params, c.Optim.MaxGradNorm)
	lr := t.sched.LR(t.state.Step)
	if diverged == nil {
		diverged = checkStep(t.state.Step+1, m["loss"], gradNorm)
	}
	if diverged != nil {
		return t.skipStep(lr, gradNorm, diverged, tokens)
	}
	if err := t.opt.Update(t.params, lr); err != nil {
		return nil, fmt.Errorf("step %d: %w", t.state.Step+1, err)
	}
	for _, p := range t.params {
		clear(p.Grad)
	}
	t.state.Step++
	t.state.Tokens += tokens
	t.kept = true
	secs := time.Since(start).Seconds()
	m["step"] = float64(t.state.Step)
	m["epoch"] = float64(t.state.Epoch) + float64(t.state.Pos)/float64(len(t.train))
	m["learning_rate"] = lr
	m["grad_norm"] = gradNorm
	m["tokens_per_s"] = float64(tokens) / secs
	// The share of sequence positions the model did not run: shared
	// prefixes run once, and no position after a sequence's last input.
	m["tokens_saved"] = 1 - float64(t.positions)/float64(max(t.seqTokens, 1))
	t.positions, t.seqTokens = 0, 0
	m["step_time_s"] = secs
	for _, msg := range t.health.observe(t.state.Step, m) {
		fmt.Fprintf(t.log, "warning: %s\n", msg)
	}
	t.health.lastGoodStep = t.state.Step
	t.lastMetrics = m
	return m, nil
}

// skipStep ends a step whose log-probs, loss or gradients are NaN or Inf
// (d says which) without updating the weights or the optimiser: the data is
// consumed and the step counted. Once more than Health.MaxSkippedSteps
// steps were skipped the run stops with d, which then wraps
// ErrTooManySkipped and names the last finite checkpoint.
func (t *Trainer) skipStep(lr, gradNorm float64, d *DivergedError, tokens int64) (map[string]float64, error) {
	for _, p := range t.params {
		clear(p.Grad)
	}
	t.tape.Reset()
	if t.health.skip() { // the run stops: the step is not counted
		d.Skipped, d.Allowed, d.LastGoodStep = t.health.skipped, t.Cfg.Health.MaxSkippedSteps, t.health.lastGoodStep
		d.LastCheckpoint = t.lastCheckpoint()
		return nil, d
	}
	t.state.Step++
	t.state.Tokens += tokens
	fmt.Fprintf(t.log, "warning: step %d: %s: step skipped, weights unchanged (%d skipped, at most %d allowed)\n",
		t.state.Step, d.What, t.health.skipped, t.Cfg.Health.MaxSkippedSteps)
	m := map[string]float64{"step": float64(t.state.Step), "learning_rate": lr, "grad_norm": gradNorm,
		"loss": math.NaN(), MetricSkippedSteps: float64(t.health.skipped),
		"epoch": float64(t.state.Epoch) + float64(t.state.Pos)/float64(len(t.train))}
	t.lastMetrics = m
	return m, nil
}

// Evaluate computes the metrics over the eval examples (no gradients) and
// returns them with TRL's eval_ prefix.
func (t *Trainer) Evaluate() (map[string]float64, error) {
	m, err := t.obj.evaluate(t)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	out := make(map[string]float64, len(m)+1)
	for k, v := range m {
		out["eval_"+k] = v
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

// SetProgress sets the function called after each optimiser step of Run.
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
	if s := t.samplesSummary(); s != "" {
		fmt.Fprintln(&b, s)
	}
	return strings.TrimRight(b.String(), "\n")
}

// frozenDType adds how frozen weights are held to a reference identity: a
// reference held in bfloat16 scores differently unless its checkpoint is
// stored in BF16.
func frozenDType(h hash.Hash, c Config) {
	if c.BaseDType == dtype.BF16 {
		fmt.Fprintf(h, "base-dtype BF16\n")
	}
}

// computeDType adds the compute dtype to a reference identity: bfloat16
// products score differently (float32 adds nothing, so identities from
// before the setting existed still match).
func computeDType(h hash.Hash, c Config) {
	if c.ComputeDType != dtype.F32 {
		fmt.Fprintf(h, "compute-dtype %v\n", c.ComputeDType)
	}
}
