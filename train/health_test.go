package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/pref"
)

// TestChosenFallingAlarm constructs DPO's failure mode (pairs that differ
// in one token, as in TestDPOLowersChosenDPOPDoesNot) and checks that the
// falling-chosen alarm is raised by DPO within its first 50 steps, with the
// numbers in the log and in metrics.jsonl, and that DPOP on the same pairs
// does not raise it.
func TestChosenFallingAlarm(t *testing.T) {
	dir := t.TempDir()
	base, pairs, _ := oneTokenPairs(t, dir)
	for _, loss := range []string{"dpo", "dpop"} {
		pc := Defaults(Preference)
		pc.Model, pc.Data, pc.Output = base, "pairs", filepath.Join(dir, loss)
		spec, err := pref.ParseSpec(loss, "")
		if err != nil {
			t.Fatal(err)
		}
		spec.Beta = 0.3
		pc.Loss = spec
		pc.Optim.LR, pc.Optim.Schedule, pc.BatchSize, pc.MaxSteps, pc.MaxLength, pc.MaxPromptLength = 1e-3, "constant", 4, 50, 32, 8
		var log bytes.Buffer
		tr, err := New(pc, Options{Train: pairs, Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		rows := metricRows(t, pc.Output)
		alarmStep, minShift := 0, math.Inf(1)
		for _, r := range rows {
			shift, ok := r[MetricChosenVsRef]
			if !ok {
				t.Fatalf("%s: step %v has no %s", loss, r["step"], MetricChosenVsRef)
			}
			// The metric is the chosen log-ratio: rewards/chosen / β.
			if d := shift - r["rewards/chosen"]/0.3; math.Abs(d) > 1e-9 {
				t.Fatalf("%s: %s is %.6g from rewards/chosen/β", loss, MetricChosenVsRef, d)
			}
			minShift = min(minShift, shift)
			if r[MetricAlarmChosen] == 1 {
				if alarmStep != 0 {
					t.Errorf("%s: alarm raised twice (steps %d and %v)", loss, alarmStep, r["step"])
				}
				alarmStep = int(r["step"])
				if !(shift < -pc.Health.ChosenDrop) {
					t.Errorf("%s: alarm at step %d with the chosen log-ratio at %.3f", loss, alarmStep, shift)
				}
			}
		}
		t.Logf("%s: lowest chosen log-ratio %.3f nats, alarm at step %d", loss, minShift, alarmStep)
		hasMsg := strings.Contains(log.String(), "below the reference") && strings.Contains(log.String(), "--loss dpop")
		switch loss {
		case "dpo":
			if alarmStep == 0 || alarmStep > 50 || !hasMsg {
				t.Errorf("dpo: alarm at step %d (want 1..50), message in log %v:\n%s", alarmStep, hasMsg, log.String())
			}
		case "dpop":
			if alarmStep != 0 || hasMsg {
				t.Errorf("dpop: alarm raised at step %d:\n%s", alarmStep, log.String())
			}
		}
	}
}

// tinyPairs are n one-token-difference pairs over the counting sequences,
// with ids in 3..31.
func tinyPairs(n int) []Example {
	var out []Example
	for i := 0; i < n; i++ {
		s := countingSeq(3*i, 1, 10)
		rej := slices.Clone(s[4:])
		rej[0] = 3 + (rej[0]-3+5)%29
		out = append(out, Example{Prompt: append([]int{1}, s[:4]...), Chosen: s[4:], Rejected: rej, Source: "pairs", Line: i + 1})
	}
	return out
}

// TestLossStuckAlarm: with a learning rate of 0 the policy stays equal to
// the reference, and DPO's loss stays at log 2; the alarm is raised after
// StuckSteps steps. With a working learning rate it is not.
func TestLossStuckAlarm(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, tinyConfig(32), filepath.Join(dir, "m"), 3)
	for _, tc := range []struct {
		lr        float64
		wantAlarm int
	}{{0, 6}, {1e-2, 0}} {
		pc := Defaults(Preference)
		spec, _ := pref.ParseSpec("dpo", "")
		pc.Loss, pc.Model, pc.Output = spec, filepath.Join(dir, "m"), t.TempDir()
		pc.Optim.LR, pc.Optim.Schedule, pc.BatchSize, pc.MaxSteps, pc.MaxLength, pc.MaxPromptLength = tc.lr, "constant", 2, 10, 32, 8
		pc.Health.StuckSteps = 6
		var log bytes.Buffer
		tr, err := New(pc, Options{Train: tinyPairs(8), Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		got := 0
		for _, r := range metricRows(t, pc.Output) {
			if r[MetricAlarmStuck] == 1 {
				got = int(r["step"])
				if math.Abs(r["loss"]-math.Ln2) > 1e-4 {
					t.Errorf("lr %g: alarm with loss %.6f, log 2 = %.6f", tc.lr, r["loss"], math.Ln2)
				}
			}
		}
		if got != tc.wantAlarm || (got > 0) != strings.Contains(log.String(), "not moving away from the reference") {
			t.Errorf("lr %g: stuck alarm at step %d, want %d; log:\n%s", tc.lr, got, tc.wantAlarm, log.String())
		}
	}
}

// poisonedRun returns a trainer whose policy has NaN in the embedding row
// of token 31, which only the pair at index 2 of its data uses, and whose
// reference is the clean model.
func poisonedRun(t *testing.T, maxSkipped int, log *bytes.Buffer) *Trainer {
	t.Helper()
	dir := t.TempDir()
	c := tinyConfig(32)
	saveRandomModel(t, c, filepath.Join(dir, "ref"), 4)
	pol, err := model.Load(filepath.Join(dir, "ref"))
	if err != nil {
		t.Fatal(err)
	}
	exs := tinyPairs(6)
	for i := range exs {
		for _, ids := range [][]int{exs[i].Prompt, exs[i].Chosen, exs[i].Rejected} {
			for k, id := range ids {
				if id == 31 {
					ids[k] = 30
				}
			}
		}
	}
	exs[2].Chosen[3] = 31
	pc := Defaults(Preference)
	pc.RefModel, pc.Output = filepath.Join(dir, "ref"), filepath.Join(dir, "run")
	pc.Optim.LR, pc.BatchSize, pc.MaxSteps, pc.MaxLength, pc.MaxPromptLength = 1e-3, 1, 6, 32, 8
	pc.Health.MaxSkippedSteps = maxSkipped
	tr, err := New(pc, Options{Train: exs, Policy: pol, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// Poison token 31's embedding after New, which refuses a starting
	// model that is not finite: only the pair that uses it gives NaN.
	h := c.HiddenSize
	for i := 31 * h; i < 32*h; i++ {
		pol.Embed.Data[i] = float32(math.NaN())
	}
	return tr
}

// TestNonFiniteStepSkipped: the step of the poisoned pair gives NaN
// log-probs; it is skipped (weights and optimiser unchanged), counted in
// the metrics, and the others train. With no skipped step allowed the run
// stops with ErrTooManySkipped.
func TestNonFiniteStepSkipped(t *testing.T) {
	var log bytes.Buffer
	tr := poisonedRun(t, 1, &log)
	defer tr.Close()
	skipped := 0
	for s := 0; s < 6; s++ {
		before := slices.Clone(tr.Policy.Layers[0].Q.W.Data)
		adamStep := tr.opt.Step
		m, err := tr.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		after := tr.Policy.Layers[0].Q.W.Data
		if _, ok := m[MetricSkippedSteps]; ok {
			skipped++
			if !slices.Equal(before, after) || tr.opt.Step != adamStep {
				t.Errorf("step %d was skipped but changed the weights or the optimiser", s+1)
			}
			if !math.IsNaN(m["loss"]) || m[MetricSkippedSteps] != 1 {
				t.Errorf("skipped step metrics: %v", m)
			}
		} else if slices.Equal(before, after) {
			t.Errorf("step %d: weights did not change", s+1)
		}
	}
	if skipped != 1 || !strings.Contains(log.String(), "step skipped, weights unchanged") {
		t.Errorf("%d steps skipped, want 1; log:\n%s", skipped, log.String())
	}

	tr2 := poisonedRun(t, 0, &log)
	defer tr2.Close()
	err := tr2.Run(context.Background())
	if !errors.Is(err, ErrTooManySkipped) {
		t.Fatalf("Run with MaxSkippedSteps 0: %v, want ErrTooManySkipped", err)
	}
	t.Log(err)
}

// TestScheduleEndsBeforeData: 2 steps of 4 examples over 12 examples
// cover two thirds of the data; the warning says so and the first metrics
// row carries the fraction.
func TestScheduleEndsBeforeData(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, tinyConfig(32), filepath.Join(dir, "m"), 5)
	pc := Defaults(Preference)
	pc.Model, pc.Output = filepath.Join(dir, "m"), filepath.Join(dir, "run")
	pc.BatchSize, pc.MaxSteps, pc.MaxLength, pc.MaxPromptLength = 4, 2, 32, 8
	var log bytes.Buffer
	tr, err := New(pc, Options{Train: tinyPairs(12), Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := metricRows(t, pc.Output)
	if got := rows[0][MetricDataFraction]; math.Abs(got-8.0/12) > 1e-12 {
		t.Errorf("%s = %v, want 8/12", MetricDataFraction, got)
	}
	if _, ok := rows[1][MetricDataFraction]; ok {
		t.Error("the fraction is repeated after the first step")
	}
	if !strings.Contains(log.String(), "8 of 12 training examples (66.7% of one pass)") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestHealthConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		h    HealthConfig
		want string
	}{
		{DefaultHealth, ""},
		{HealthConfig{}, ""},
		{HealthConfig{ChosenDrop: -1}, "Health.ChosenDrop"},
		{HealthConfig{ChosenDrop: math.NaN()}, "Health.ChosenDrop"},
		{HealthConfig{StuckSteps: -1}, "Health.StuckSteps"},
		{HealthConfig{MaxSkippedSteps: -2}, "Health.MaxSkippedSteps"},
	} {
		err := tc.h.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.h, err, tc.want)
		}
	}
}
