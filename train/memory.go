package train

import (
	"fmt"
	"sort"
	"strings"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/memplan"
)

// MemoryReport is a run's peak-memory estimate against the memory the
// machine has available, with cheaper configurations when it does not fit.
type MemoryReport struct {
	// Plan is what the estimate was made from, and Estimate the estimate.
	Plan     memplan.Plan
	Estimate memplan.Estimate
	// Available is the memory available to the run (bytes) and Source
	// where that number comes from (MemAvailable, or a cgroup limit).
	Available int64
	Source    string
	// Suggestions are cheaper configurations, those that fit first (only
	// when the run does not fit).
	Suggestions []memplan.Suggestion
}

// Fits reports whether the estimate is within the available memory.
func (r MemoryReport) Fits() bool { return r.Estimate.Total() <= r.Available }

// String is the one-line summary logged at the start of every run.
func (r MemoryReport) String() string {
	return fmt.Sprintf("memory: estimated peak %s; available %s (%s); largest micro-batch %d sequences × %d tokens",
		r.Estimate, memplan.GiB(r.Available), r.Source, r.Plan.Sequences, r.Plan.SeqLen)
}

// StartConfig reads the config.json of the run's starting model (Model,
// or InitConfig), without loading any weights.
func StartConfig(cfg Config) (*hf.Config, error) {
	switch {
	case cfg.Model != "":
		return hf.LoadConfig(cfg.Model)
	case cfg.InitConfig != "":
		return hf.LoadConfig(cfg.InitConfig)
	}
	return nil, fmt.Errorf("no starting model config: set Model or InitConfig")
}

// MemoryPlan describes the run for the memory estimate: the model's shape,
// what is trained, how the reference is held, and the largest micro-batch
// the examples can make (the longest sequence, padded across BatchSize
// examples, and the BatchSize largest completions).
func MemoryPlan(cfg Config, model *hf.Config, exs []Example) memplan.Plan {
	p := memplan.Plan{Model: model, BaseBF16: cfg.BaseDType == dtype.BF16, GradientCheckpointing: cfg.GradientCheckpointing}
	if cfg.LoRA.R > 0 {
		p.LoRARank, p.LoRATargets = cfg.LoRA.R, cfg.LoRA.Targets
	}
	p.PerExample = 1
	if cfg.Mode == Preference {
		p.PerExample = 2
		switch {
		case !cfg.Loss.NeedsReference():
		case cfg.PrecomputeRef:
			p.Reference = memplan.RefCached
		case cfg.RefModel == "" && cfg.LoRA.R > 0:
			p.Reference = memplan.RefAdapterOff
		default:
			p.Reference = memplan.RefFrozenCopy
		}
	}
	comp := make([]int, len(exs))
	for i, e := range exs {
		p.SeqLen = max(p.SeqLen, len(e.Prompt)+len(e.Chosen), len(e.Prompt)+len(e.Rejected))
		comp[i] = len(e.Chosen)
		if cfg.Mode == Preference {
			comp[i] += len(e.Rejected)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(comp)))
	n := min(cfg.BatchSize, len(exs))
	for _, c := range comp[:n] {
		p.CompletionTokens += c
	}
	p.Sequences = n * p.PerExample
	return p
}

// CheckMemory estimates the run's peak memory from its config, the
// starting model's config.json and the examples' lengths alone (no weights
// are read), and compares it with the memory available now. When the run
// does not fit, the report lists cheaper configurations.
func CheckMemory(cfg Config, exs []Example) (MemoryReport, error) {
	mc, err := StartConfig(cfg)
	if err != nil {
		return MemoryReport{}, fmt.Errorf("memory estimate: %w", err)
	}
	avail, source, err := memplan.Available()
	if err != nil {
		return MemoryReport{}, err
	}
	return memoryReport(MemoryPlan(cfg, mc, exs), avail, source), nil
}

func memoryReport(p memplan.Plan, avail int64, source string) MemoryReport {
	r := MemoryReport{Plan: p, Estimate: p.Estimate(), Available: avail, Source: source}
	if !r.Fits() {
		r.Suggestions = p.Suggestions(avail)
	}
	return r
}

// Details lists the estimate's parts and, when the run does not fit, the
// suggestions with their estimates, one a line.
func (r MemoryReport) Details() string {
	var b strings.Builder
	fmt.Fprintln(&b, r.String())
	if r.Fits() {
		return strings.TrimRight(b.String(), "\n")
	}
	fmt.Fprintf(&b, "the run does not fit: %s estimated, %s available\n", memplan.GiB(r.Estimate.Total()), memplan.GiB(r.Available))
	for _, s := range r.Suggestions {
		verdict := "fits"
		if !s.Fits {
			verdict = "does not fit"
		}
		fmt.Fprintf(&b, "  %-12s %s: %s\n", verdict, s.Change, s.Estimate)
	}
	return strings.TrimRight(b.String(), "\n")
}
