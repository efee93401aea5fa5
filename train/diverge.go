package train

import (
	"fmt"
	"math"
	"path/filepath"
)

// DivergedError is a training step that produced non-finite numbers: a
// loss or gradient norm that is NaN or infinite, or weights that are (or
// give non-finite log-probs). The trainer never saves such weights; the
// checkpoints written before are kept.
type DivergedError struct {
	// Step is the optimiser step (1-based) that diverged.
	Step int
	// What says which number was not finite, e.g. "the loss is NaN".
	What string
	// LastCheckpoint is the newest checkpoint folder in the run folder
	// ("" when there is none).
	LastCheckpoint string
}

func (e *DivergedError) Error() string {
	msg := fmt.Sprintf("diverged at step %d: %s: lower the learning rate (or warm it up over more steps, or clip gradients harder); no weights of this step were saved", e.Step, e.What)
	if e.LastCheckpoint != "" {
		msg += fmt.Sprintf(", %s is the last finite checkpoint", e.LastCheckpoint)
	}
	return msg
}

// checkStep is the divergence check of one optimiser step, made before the
// weights are updated: it returns a *DivergedError when the step's loss or
// gradient norm is NaN or infinite, and nil otherwise. It is the one place
// that decides whether a step diverged.
func checkStep(step int, loss, gradNorm float64) *DivergedError {
	switch {
	case !isFinite(loss):
		return &DivergedError{Step: step, What: fmt.Sprintf("the loss is %v", loss)}
	case !isFinite(gradNorm):
		return &DivergedError{Step: step, What: fmt.Sprintf("the gradient norm is %v", gradNorm)}
	}
	return nil
}

// checkLogps is the divergence check of the policy's sequence log-probs in
// a step's forward (seq holds one value per item of exs, chosen then
// rejected for pairs): a NaN or infinite log-prob is a *DivergedError
// naming the example.
func checkLogps(step int, seq []float32, exs []Example) *DivergedError {
	for i, v := range seq {
		if !isFinite(float64(v)) {
			return &DivergedError{Step: step, What: fmt.Sprintf("the policy's log-prob of %s is %v", where(exs[i%len(exs)]), v)}
		}
	}
	return nil
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkWeights is the check made before weights are saved: every trained
// parameter finite, and the log-probs of the first training example under
// the policy finite (weights of 1e9, finite themselves, overflow in the
// forward). It returns a *DivergedError naming the step and what was not
// finite.
func (t *Trainer) checkWeights() error {
	for _, p := range t.trainable() {
		for i, v := range p.Tensor.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return t.diverged(fmt.Sprintf("weight %s[%d] is %v", p.Name, i, v))
			}
		}
	}
	items, _ := PairItems(t.train[:1])
	s, err := t.Policy.LogProbs(nil, items)
	if err != nil {
		return fmt.Errorf("check the weights before saving: %w", err)
	}
	for _, v := range s.Seq.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return t.diverged(fmt.Sprintf("the trained weights give a log-prob of %v on %s", v, where(t.train[0])))
		}
	}
	return nil
}

// checkStartWeights refuses a starting model (or resumed checkpoint) whose
// trained parameters are not all finite: training from it could only
// diverge at once.
func (t *Trainer) checkStartWeights() error {
	for _, p := range t.trainable() {
		for i, v := range p.Tensor.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("starting model: weight %s[%d] is %v: the checkpoint is not finite (saved from a diverged run?)", p.Name, i, v)
			}
		}
	}
	return nil
}

// diverged is a DivergedError at the current step, naming the run
// folder's newest checkpoint.
func (t *Trainer) diverged(what string) *DivergedError {
	return &DivergedError{Step: t.state.Step, What: what, LastCheckpoint: t.lastCheckpoint()}
}

// lastCheckpoint is the run folder's newest complete checkpoint folder, or
// "".
func (t *Trainer) lastCheckpoint() string {
	steps := checkpointSteps(t.Cfg.Output)
	if len(steps) == 0 {
		return ""
	}
	return filepath.Join(t.Cfg.Output, fmt.Sprintf("checkpoint-%d", steps[len(steps)-1]))
}
