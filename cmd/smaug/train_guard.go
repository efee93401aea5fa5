package main

import (
	"fmt"
	"strings"

	"github.com/smaug-dev/smaug/memplan"
	"github.com/smaug-dev/smaug/train"
	"github.com/spf13/pflag"
)

// guardFlags are smaug train's and smaug sft's guard-rail switches.
type guardFlags struct {
	dryRun, skipMemoryCheck bool
}

func (g *guardFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&g.dryRun, "dry-run", false, "load the data, print the memory estimate (and what would fit) and stop before loading the model")
	f.BoolVar(&g.skipMemoryCheck, "skip-memory-check", false, "start even when the memory estimate exceeds the available memory")
}

// memoryGate logs the run's memory estimate and stops the run before any
// weights are loaded when it does not fit (unless --skip-memory-check), or
// after the estimate with --dry-run. stop reports that the command is done.
func memoryGate(cfg train.Config, exs []train.Example, g guardFlags) (stop bool, err error) {
	r, err := train.CheckMemory(cfg, exs)
	if err != nil {
		if g.dryRun {
			return true, err
		}
		logf("warning: %v", err) // e.g. a model given in memory: no estimate
		return false, nil
	}
	if r.Fits() || g.skipMemoryCheck {
		logf("%s", r)
		if !r.Fits() {
			logf("warning: the estimate exceeds the available memory; starting anyway (--skip-memory-check)")
		}
		return g.dryRun, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nthe run will not fit: estimated peak %s, available %s. Nothing was loaded.", r, memplan.GiB(r.Estimate.Total()), memplan.GiB(r.Available))
	anyFits := false
	for _, s := range r.Suggestions {
		verdict := "fits:        "
		if !s.Fits {
			verdict = "still too big:"
		}
		anyFits = anyFits || s.Fits
		fmt.Fprintf(&b, "\n  %s %-58s %s", verdict, suggestionFlags(cfg, r.Plan, s.Plan), s.Estimate)
	}
	if !anyFits {
		b.WriteString("\nno change above fits this machine: use one with more memory.")
	}
	b.WriteString("\n(--skip-memory-check starts anyway)")
	if g.dryRun {
		fmt.Println(b.String())
		return true, nil
	}
	return true, fmt.Errorf("%s", b.String())
}

// suggestionFlags renders the difference between two plans as the flags
// that make it.
func suggestionFlags(cfg train.Config, from, to memplan.Plan) string {
	var fl []string
	if from.LoRARank == 0 && to.LoRARank > 0 {
		fl = append(fl, fmt.Sprintf("--lora-r %d --lora-targets %s", to.LoRARank, strings.Join(to.LoRATargets, ",")))
	}
	if !from.BaseBF16 && to.BaseBF16 {
		fl = append(fl, "--base-dtype BF16")
	}
	if from.Reference != memplan.RefCached && from.Reference != memplan.RefNone && to.Reference == memplan.RefCached {
		fl = append(fl, "--precompute-ref")
	}
	if !from.GradientCheckpointing && to.GradientCheckpointing {
		fl = append(fl, "--gradient-checkpointing")
	}
	if to.Sequences < from.Sequences {
		per := max(to.PerExample, 1)
		bs := to.Sequences / per
		accum := cfg.GradAccum * (from.Sequences / to.Sequences)
		fl = append(fl, fmt.Sprintf("--batch-size %d --grad-accum %d", bs, accum))
	}
	return strings.Join(fl, " ")
}
