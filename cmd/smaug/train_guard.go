package main

import (
	"crypto/sha256"
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
	// encoded is 1 when the training data was text, 0 for token ids.
	encoded int
	// decode is the tokenizer's decoder (nil without a tokenizer).
	decode func([]int) string
}

func (g *guardFlags) register(f *pflag.FlagSet) {
	f.StringSliceVar(&g.allow, "allow-data-issue", nil, "train despite these data checks: "+strings.Join([]string{train.CheckNoEOS, train.CheckEOTInPrompt, train.CheckTruncation, train.CheckIdenticalPair, train.CheckDoubleBOS}, ", "))
	f.Float64Var(&g.maxTruncated, "max-truncated-share", train.DefaultMaxTruncatedShare, "largest share of completions that may be cut by --max-length before the data is refused")
	f.BoolVar(&g.dryRun, "dry-run", false, "load the data, print the memory estimate (and what would fit) and stop before loading the model")
	f.BoolVar(&g.skipMemoryCheck, "skip-memory-check", false, "start even when the memory estimate exceeds the available memory")
}

// watch keeps the tokenizer's decoder, for example.txt and samples.
func (g *guardFlags) watch(lo *train.LoadOptions) {
	if d, ok := lo.Encoder.(interface{ Decode([]int, bool) string }); ok {
		g.decode = func(ids []int) string { return d.Decode(ids, false) }
	}
}

// load reads the training data through the token cache in the run
// folder's parent (.smaug-tokcache), keyed by the data, the tokenizer and
// template files and the settings, and remembers whether it was text.
func (g *guardFlags) load(cfg train.Config, lo train.LoadOptions) ([]train.Example, train.LoadStats, error) {
	src := cfg.Tokenizer
	if src == "" {
		src = cfg.Model
	}
	h := sha256.New()
	if src != "" && lo.Encoder != nil {
		dir := src
		if st, err := os.Stat(src); err == nil && !st.IsDir() {
			dir = filepath.Dir(src)
			train.HashFiles(h, src)
		}
		for _, n := range []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "chat_template.jinja"} {
			if err := train.HashFiles(h, filepath.Join(dir, n)); err != nil {
				return nil, train.LoadStats{}, err
			}
		}
	}
	out, _ := filepath.Abs(cfg.Output)
	c := &train.TokenCache{Dir: filepath.Join(filepath.Dir(out), ".smaug-tokcache"), Tokenizer: fmt.Sprintf("%x", h.Sum(nil))}
	exs, st, hit, err := c.Load(cfg.Data, lo)
	if err != nil {
		return nil, st, err
	}
	if c.Text {
		g.encoded = 1
	}
	if hit {
		logf("data: tokenised examples read from the cache in %s (no re-tokenisation)", c.Dir)
	}
	return exs, st, nil
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
