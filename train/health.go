package train

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/smaug-dev/smaug/pref"
)

// HealthConfig sets the thresholds of the alarms a run raises while it
// trains. Each alarm is logged once, with its numbers, and marked in
// metrics.jsonl (health/… keys) on the step that raised it; the numbers it
// watches are in every step's row.
type HealthConfig struct {
	// ChosenDrop is how far, in nats, the mean chosen log-prob may fall
	// below the reference's while the reward margin grows before the
	// falling-chosen alarm (DPO's failure mode) is raised; 0 turns it off.
	ChosenDrop float64
	// StuckSteps is the number of consecutive steps whose loss stays at
	// its value for a policy equal to the reference (log 2 for DPO) before
	// the stuck-loss alarm is raised; 0 turns it off.
	StuckSteps int
	// MaxSkippedSteps is the number of steps with non-finite (NaN or Inf)
	// log-probs or gradients that are skipped (no update) before the run
	// stops; 0 stops at the first.
	MaxSkippedSteps int
}

// DefaultHealth are the alarm thresholds of [Defaults].
var DefaultHealth = HealthConfig{ChosenDrop: 2, StuckSteps: 20, MaxSkippedSteps: 5}

// Validate reports a threshold that cannot work.
func (h HealthConfig) Validate() error {
	switch {
	case !(h.ChosenDrop >= 0) || math.IsInf(h.ChosenDrop, 0):
		return fmt.Errorf("Health.ChosenDrop must be a finite value ≥ 0, got %v", h.ChosenDrop)
	case h.StuckSteps < 0:
		return fmt.Errorf("Health.StuckSteps must be ≥ 0, got %d", h.StuckSteps)
	case h.MaxSkippedSteps < 0:
		return fmt.Errorf("Health.MaxSkippedSteps must be ≥ 0, got %d", h.MaxSkippedSteps)
	}
	return nil
}

// Metric names of the health monitor in metrics.jsonl.
const (
	// MetricChosenVsRef is the step's mean log π_θ(y_w|x) − log π_ref(y_w|x)
	// in nats (reference-based losses only).
	MetricChosenVsRef = "health/chosen_vs_ref"
	// MetricSkippedSteps counts the steps skipped so far for non-finite
	// values (in the rows of skipped steps).
	MetricSkippedSteps = "health/skipped_steps"
	// MetricAlarmChosen is 1 on the step that raised the falling-chosen
	// alarm.
	MetricAlarmChosen = "health/alarm_chosen_falling"
	// MetricAlarmStuck is 1 on the step that raised the stuck-loss alarm.
	MetricAlarmStuck = "health/alarm_loss_stuck"
	// MetricDataFraction is the share of one pass over the training data
	// the schedule covers, in the first step's row when it is under 1.
	MetricDataFraction = "health/schedule_data_fraction"
)

// ErrTooManySkipped is wrapped by the error Run returns when more steps
// than HealthConfig.MaxSkippedSteps had non-finite values.
var ErrTooManySkipped = errors.New("too many steps with NaN or Inf values")

// health watches the step metrics of a run and raises the alarms.
type health struct {
	cfg       HealthConfig
	spec      pref.Spec
	reference bool    // the loss uses a reference (preference mode)
	idleLoss  float64 // the loss when the policy equals the reference
	stuckOK   bool    // idleLoss is defined (not for bco_pair)

	firstMargin   float64
	haveMargin    bool
	chosenRaised  bool
	stuckRun      int
	stuckRaised   bool
	skipped       int
	lastGoodStep  int
	dataFraction  float64
	fractionShown bool
}

func newHealth(c Config) *health {
	h := &health{cfg: c.Health, spec: c.Loss, dataFraction: 1}
	if c.Mode == Preference && c.Loss.NeedsReference() {
		h.reference = true
		h.stuckOK = !strings.Contains(strings.Join(c.Loss.Losses, ","), "bco_pair")
		h.idleLoss, _ = c.Loss.Compute(pref.Pair{ChosenLen: 1, RejectedLen: 1})
	}
	return h
}

// observe adds the health numbers to a finished step's metrics m and
// returns the alarm messages the step raised.
func (h *health) observe(step int, m map[string]float64) []string {
	var out []string
	if !h.fractionShown {
		h.fractionShown = true
		if h.dataFraction < 1 {
			m[MetricDataFraction] = h.dataFraction
		}
	}
	if !h.reference || h.spec.Beta == 0 {
		return out
	}
	b := h.spec.Beta
	chosen, ok1 := m["rewards/chosen"]
	margin, ok2 := m["rewards/margins"]
	loss, ok3 := m["loss"]
	if !ok1 || !ok2 || !ok3 {
		return out
	}
	shift, marginNats := chosen/b, margin/b
	m[MetricChosenVsRef] = shift
	if !h.haveMargin {
		h.firstMargin, h.haveMargin = marginNats, true
	}
	if h.cfg.ChosenDrop > 0 && !h.chosenRaised && shift < -h.cfg.ChosenDrop && marginNats > 0 && marginNats > h.firstMargin {
		h.chosenRaised = true
		m[MetricAlarmChosen] = 1
		out = append(out, fmt.Sprintf("step %d: the mean chosen log-prob is %.3f nats below the reference's (alarm at %.3g) while the reward margin grew from %.3f to %.3f nats: the model prefers chosen over rejected by making both less likely (DPO's failure mode). Try the DPOP loss (--loss dpop) or a DPOP penalty on this loss (--dpop-lambda 50).",
			step, -shift, h.cfg.ChosenDrop, h.firstMargin, marginNats))
	}
	if h.cfg.StuckSteps > 0 && h.stuckOK && !h.stuckRaised {
		if math.Abs(loss-h.idleLoss) < 1e-4 && math.Abs(marginNats) < 1e-4 {
			h.stuckRun++
		} else {
			h.stuckRun = 0
		}
		if h.stuckRun >= h.cfg.StuckSteps {
			h.stuckRaised = true
			m[MetricAlarmStuck] = 1
			out = append(out, fmt.Sprintf("step %d: the loss has stayed at %.4f, its value when the policy equals the reference (log 2 = %.4f for DPO), with a reward margin of %.2g nats, for %d steps: the policy is not moving away from the reference. Check the learning rate, that the reference is not the policy being trained, and that the completions carry tokens.",
				step, loss, math.Ln2, marginNats, h.stuckRun))
		}
	}
	return out
}

// scheduleMessage reports a schedule that ends before one pass over the
// data (MaxSteps set too low), or "" when it covers the data.
func (h *health) scheduleMessage(steps, batch, accum, examples int) string {
	seen := steps * batch * accum
	if seen >= examples {
		return ""
	}
	h.dataFraction = float64(seen) / float64(examples)
	return fmt.Sprintf("the schedule ends before the data: %d steps × %d examples per step = %d of %d training examples (%.1f%% of one pass); the learning rate reaches its end value with %d examples never seen. Raise the steps, or use epochs instead of a step count.",
		steps, batch*accum, seen, examples, 100*h.dataFraction, examples-seen)
}

// skip records a step skipped for non-finite values and reports whether
// that makes more than the allowed number, which stops the run.
func (h *health) skip() bool {
	h.skipped++
	return h.skipped > h.cfg.MaxSkippedSteps
}

// finite reports whether every value of xs is a finite number.
func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
