package train

// Log lines for runs without a terminal: a start block, a line every
// LoggingSteps steps and an end block.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/model"
)

// StepLogger writes one progress line every Config.LoggingSteps optimiser
// steps (and at the last step): step, loss, margin, chosen and rejected
// log-probs, learning rate, tokens per second and the time left. Feed it
// from [Options].Progress; it is for logs where no progress bar shows.
type StepLogger struct {
	w                  io.Writer
	prefix             string
	every, total, from int
	start              time.Time
}

// NewStepLogger returns a logger for a run of total steps that starts (or
// resumes) after step from, writing lines that begin with prefix to w.
func NewStepLogger(w io.Writer, prefix string, every, total, from int) *StepLogger {
	return &StepLogger{w: w, prefix: prefix, every: every, total: total, from: from, start: time.Now()}
}

// Step writes step's line when the step is due.
func (l *StepLogger) Step(step int, m map[string]float64) {
	if line, ok := l.Line(step, m); ok {
		fmt.Fprintln(l.w, l.prefix+line)
	}
}

// Line returns step's line, and whether the step is due (every
// LoggingSteps steps, and the last).
func (l *StepLogger) Line(step int, m map[string]float64) (string, bool) {
	if l.every <= 0 || step%l.every != 0 && step != l.total {
		return "", false
	}
	return StepLine(step, l.total, m, time.Since(l.start), step-l.from), true
}

// StepLine formats one progress line of step out of total, elapsed being
// the time the done steps of this session took (for the ETA).
func StepLine(step, total int, m map[string]float64, elapsed time.Duration, done int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d/%d", step, total)
	for _, f := range []struct{ key, name, format string }{
		{"loss", "loss", "%.4f"}, {"rewards/margins", "margin", "%.4f"},
		{"logps/chosen", "logp chosen", "%.3f"}, {"logps/rejected", "rejected", "%.3f"},
		{"learning_rate", "lr", "%.3g"}, {"tokens_per_s", "tok/s", "%.0f"},
	} {
		if v, ok := m[f.key]; ok {
			fmt.Fprintf(&b, "  %s "+f.format, f.name, v)
		}
	}
	if done > 0 && step < total {
		eta := time.Duration(float64(elapsed) / float64(done) * float64(total-step))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	return b.String()
}

// ParamCounts returns the number of trained parameters and of all
// parameters (base and adapter).
func (t *Trainer) ParamCounts() (trainable, total int64) {
	count := func(ps []model.Param) int64 {
		var n int64
		for _, p := range ps {
			k := int64(1)
			for _, d := range p.Tensor.Shape {
				k *= int64(d)
			}
			n += k
		}
		return n
	}
	trainable = count(t.trainable())
	total = count(t.Policy.Params())
	if t.lora {
		total += trainable
	}
	return trainable, total
}

// StartBlock describes the run about to start: the model, the parameters
// trained out of all, the data and its truncation, the steps and the
// memory in use.
func (t *Trainer) StartBlock() string {
	c := t.Cfg
	var b strings.Builder
	src := c.Model
	switch {
	case src == "" && c.InitConfig != "":
		src = "random weights of " + c.InitConfig
	case src == "":
		src = "a model in memory"
	}
	fmt.Fprintf(&b, "model:      %s\n", src)
	tr, all := t.ParamCounts()
	what := "full fine-tuning"
	if t.lora {
		what = fmt.Sprintf("LoRA r %d on %s", c.LoRA.R, strings.Join(c.LoRA.Targets, ","))
	}
	fmt.Fprintf(&b, "parameters: %s trainable of %s (%.2f%%, %s)\n", groupDigits(tr), groupDigits(all), 100*float64(tr)/float64(max(all, 1)), what)
	st := t.LoadStats
	fmt.Fprintf(&b, "data:       %d training examples", len(t.train))
	if c.Data != "" {
		fmt.Fprintf(&b, " from %s", c.Data)
	}
	if st.Rows > 0 {
		fmt.Fprintf(&b, " (%d rows, %d skipped)", st.Rows, st.Skipped)
	}
	fmt.Fprintf(&b, ", %d eval examples\n", len(t.eval))
	fmt.Fprintf(&b, "truncation: %d prompts (max %d tokens), %d completions (max %d tokens with the prompt)\n",
		st.TruncatedPrompt, c.MaxPromptLength, st.TruncatedCompletion, c.MaxLength)
	fmt.Fprintf(&b, "steps:      %d (batch %d × accumulation %d), starting at %d\n", t.totalSteps, c.BatchSize, c.GradAccum, t.state.Step)
	fmt.Fprintf(&b, "memory:     %s", memoryInUse())
	return b.String()
}

// EndBlock describes the finished run: its time, final metrics and what
// was written where.
func (t *Trainer) EndBlock(elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "done:       %d steps in %s\n", t.state.Step, elapsed.Round(time.Second))
	for _, k := range []string{"loss", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "grad_norm"} {
		if v, ok := t.lastMetrics[k]; ok {
			fmt.Fprintf(&b, "  final %-20s %.6g\n", k, v)
		}
	}
	final := "model (config.json and safetensors)"
	if t.lora {
		final = "PEFT adapter (adapter_config.json and adapter_model.safetensors)"
	}
	fmt.Fprintf(&b, "written:    %s: %s, config.yaml, metrics.jsonl, data_stats.json", t.Cfg.Output, final)
	if t.Cfg.SaveSteps > 0 {
		b.WriteString(", checkpoint-N/")
	}
	return b.String()
}

// memoryInUse is the process's resident memory (Linux), or the Go
// runtime's when that cannot be read.
func memoryInUse() string {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					return fmt.Sprintf("%.2f GiB resident", kb/(1<<20))
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("%.2f GiB from the Go runtime", float64(ms.Sys)/(1<<30))
}

// groupDigits writes n with thin groups of three digits (1,234,567).
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
