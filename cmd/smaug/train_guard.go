package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/memplan"
	"github.com/smaug-dev/smaug/train"
	"github.com/spf13/pflag"
)

// guardFlags are smaug train's and smaug sft's guard-rail switches.
type guardFlags struct {
	dryRun, skipMemoryCheck bool
	allow                   []string
	maxTruncated            float64
	// encoded counts the texts the data loader encoded: 0 for token-id
	// data.
	encoded int
	// decode is the tokenizer's decoder (nil without a tokenizer).
	decode func([]int) string
}

// countingEncoder counts the texts a data loader encodes.
type countingEncoder struct {
	train.TextEncoder
	n *int
}

func (c countingEncoder) Encode(text string, addSpecial bool) []int {
	*c.n++
	return c.TextEncoder.Encode(text, addSpecial)
}

// watch makes the data loader's encoder count what it encodes, to tell
// text data from token ids.
func (g *guardFlags) watch(lo *train.LoadOptions) {
	if lo.Encoder == nil {
		return
	}
	if d, ok := lo.Encoder.(interface{ Decode([]int, bool) string }); ok {
		g.decode = func(ids []int) string { return d.Decode(ids, false) }
	}
	lo.Encoder = countingEncoder{lo.Encoder, &g.encoded}
}

func (g *guardFlags) register(f *pflag.FlagSet) {
	f.StringSliceVar(&g.allow, "allow-data-issue", nil, "train despite these data checks: "+strings.Join([]string{train.CheckNoEOS, train.CheckEOTInPrompt, train.CheckTruncation, train.CheckIdenticalPair, train.CheckDoubleBOS}, ", "))
	f.Float64Var(&g.maxTruncated, "max-truncated-share", train.DefaultMaxTruncatedShare, "largest share of completions that may be cut by --max-length before the data is refused")
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

// dataGate runs the data checks (refusing with the flag that allows the
// issue), prints the first training example as the model sees it, and
// returns that text for the run folder's example.txt.
func dataGate(cfg train.Config, exs []train.Example, stats train.LoadStats, lo train.LoadOptions, g guardFlags) (string, error) {
	c := train.DataChecks{BOS: -1, MaxLength: cfg.MaxLength, MaxTruncatedShare: g.maxTruncated, Allow: g.allow}
	if mc, err := train.StartConfig(cfg); err == nil {
		c.BOS = mc.BOSTokenID
		c.EOS = slices.Clone(mc.EOSTokenIDs)
	}
	if lo.Encoder != nil {
		if c.BOS < 0 {
			c.BOS = lo.Encoder.BOS()
		}
		if eos := lo.Encoder.EOS(); eos >= 0 && !slices.Contains(c.EOS, eos) {
			c.EOS = append(c.EOS, eos)
		}
	}
	issues := train.CheckData(exs, stats, c)
	for _, issue := range issues {
		if g.encoded == 0 {
			// Token ids: their formatting is the user's own.
			logf("warning: %s: %s (token-id data: not refused; text data would be, unless --allow-data-issue %s)", cfg.Data, issue.Msg, issue.Check)
		}
	}
	if len(issues) > 0 && g.encoded > 0 {
		issue := issues[0]
		return "", &flagError{fmt.Sprintf("%s: %s; to train anyway: --allow-data-issue %s", cfg.Data, issue.Msg, issue.Check), issue}
	}
	text := train.FormatExample(exs[0], c, g.decode)
	fmt.Fprintf(os.Stderr, "the first training example as the model sees it:\n%s", text)
	return text, nil
}

// saveExample writes example.txt into the run folder.
func saveExample(dir, text string) error {
	return atomicfile.WriteFile(filepath.Join(dir, "example.txt"), []byte(text))
}
