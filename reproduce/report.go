package reproduce

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/smaug-dev/smaug/report"
)

// Table renders the results table (Markdown). The columns are defined by
// ColumnNotes.
func (r *Results) Table() string {
	var b strings.Builder
	b.WriteString("| model | accuracy (held-out, greedy) | chosen log-prob | rejected log-prob | log-prob gap | chosen tokens after the first difference |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range r.Models {
		fmt.Fprintf(&b, "| %s | %.1f%% (%d/%d) | %.2f | %.2f | %.2f | %.3f |\n", m.Name, 100*m.Accuracy, m.Correct, m.Problems,
			m.ChosenLogp, m.RejectedLogp, m.LogpGap, m.ChosenAfterDiff)
	}
	return b.String()
}

// ColumnNotes defines the table's columns (Markdown list).
func (r *Results) ColumnNotes() string {
	s := r.Settings
	return fmt.Sprintf(`- **accuracy**: share of %d held-out problems whose greedy answer ends in the gold `+"`#### N`"+`.
- **chosen log-prob**, **rejected log-prob**: mean over %d held-out pairs of the log-probability of the whole completion given the prompt, in nats (the sum over the completion's tokens, as TRL's logps/chosen). Closer to 0 is more likely.
- **log-prob gap**: chosen log-prob − rejected log-prob. (The plots' *reward margin* is another quantity: β times the difference of the two log-probs' changes against the base.)
- **chosen tokens after the first difference**: the mean per-token log-prob of the chosen completion's tokens after the first token where chosen and rejected differ — the paper's measure (MetaMath: −0.37 base, −1.82 DPO, −0.26 DPOP).
`, s.EvalProblems, s.EvalPairs)
}

// Verdict states, from the numbers of this run, whether the paper's
// finding showed: DPO lowered the held-out chosen log-prob by more than one
// nat, and DPOP lowered it by less than a fifth of that (the DPOP penalty
// acts on training pairs; on held-out ones it need not rise).
func (r *Results) Verdict() string {
	base, dpo, dpop := r.Model("base"), r.Model("DPO"), r.Model("DPOP")
	dpoFall, dpopFall := base.ChosenLogp-dpo.ChosenLogp, base.ChosenLogp-dpop.ChosenLogp
	var b strings.Builder
	switch {
	case r.Quick:
		fmt.Fprintf(&b, "**A quick run: too small for the effect.** `--quick` runs every stage on tiny settings to check the pipeline; the paper's effect is not expected at this size and this run makes no claim about it. Held-out chosen log-prob: base %.2f, DPO %.2f, DPOP %.2f. Run `smaug reproduce` without `--quick` (about 5 minutes on 2 cores) for the real test.",
			base.ChosenLogp, dpo.ChosenLogp, dpop.ChosenLogp)
	case r.Reproduced():
		fmt.Fprintf(&b, "**The paper's finding reproduced in this run.** DPO lowered the mean held-out log-prob of the chosen (correct) solutions from %.2f to %.2f (−%.2f nats) while it widened the log-prob gap over the rejected ones; under DPOP it went to %.2f (%+.2f).",
			base.ChosenLogp, dpo.ChosenLogp, dpoFall, dpop.ChosenLogp, -dpopFall)
	case dpoFall > 1:
		fmt.Fprintf(&b, "**Not reproduced in this run.** DPO lowered the held-out chosen log-prob (%.2f → %.2f), but DPOP did too (→ %.2f).", base.ChosenLogp, dpo.ChosenLogp, dpop.ChosenLogp)
	default:
		fmt.Fprintf(&b, "**Not reproduced in this run.** DPO did not lower the held-out chosen log-prob by more than one nat (%.2f → %.2f; DPOP → %.2f).", base.ChosenLogp, dpo.ChosenLogp, dpop.ChosenLogp)
	}
	fmt.Fprintf(&b, " Accuracy: base %.1f%%, DPO %.1f%%, DPOP %.1f%%.", 100*base.Accuracy, 100*dpo.Accuracy, 100*dpop.Accuracy)
	return b.String()
}

// Reproduced is the verdict's criterion: DPO's fall in held-out chosen
// log-prob exceeds one nat and DPOP's is under a fifth of DPO's. A quick
// run never reproduces.
func (r *Results) Reproduced() bool {
	if r.Quick {
		return false
	}
	base, dpo, dpop := r.Model("base"), r.Model("DPO"), r.Model("DPOP")
	dpoFall, dpopFall := base.ChosenLogp-dpo.ChosenLogp, base.ChosenLogp-dpop.ChosenLogp
	return dpoFall > 1 && dpopFall < dpoFall/5
}

// figure is one plot of the report: its file, title, axis label, the
// training metric it draws (for line plots) and what a reader should see.
type figure struct{ file, title, ylabel, metric, see string }

// lineFigures are the training curves, DPO and DPOP on one plot each.
var lineFigures = []figure{
	{"chosen_logps.png", "Held-out chosen log-prob during training", "held-out chosen log-prob, nats (sum over completion tokens)", "eval_logps/chosen",
		"The paper's failure mode: under DPO the correct solutions become less likely as training goes on; under DPOP they stay near the base's value."},
	{"rejected_logps.png", "Held-out rejected log-prob during training", "held-out rejected log-prob, nats (sum over completion tokens)", "eval_logps/rejected",
		"Both losses push the wrong solutions down; DPO pushes them further, dragging the chosen ones with them because the two differ in a few tokens."},
	{"train_chosen_logps.png", "Chosen log-prob of the training batches", "training-batch chosen log-prob, nats (sum over completion tokens)", "logps/chosen",
		"The same measure on the pairs being trained on (noisier: a new batch each step). DPOP's penalty acts here, where ρ_w < 0."},
	{"rewards_chosen.png", "Chosen reward during training", "chosen reward β·(log π − log π_ref), nats", "rewards/chosen",
		"The chosen completions' log-prob change against the base, scaled by β: below 0 means the model likes the correct solutions less than the base did."},
	{"margins.png", "Reward margin during training", "reward margin β·(Δ chosen − Δ rejected), nats", "rewards/margins",
		"What both losses maximise. DPO widens it faster — by lowering both completions — which is why a growing margin alone says nothing about the chosen answers."},
}

// writeReport writes report.md, report.html, results.json and the plots.
func (p *pipeline) writeReport(r *Results) error {
	out := p.o.Out
	runs := map[string]string{"DPO": filepath.Join(out, "dpo"), "DPOP": filepath.Join(out, "dpop")}
	var images []string
	for _, pl := range lineFigures {
		path := filepath.Join(out, pl.file)
		if err := report.CompareRuns(path, pl.title, pl.ylabel, pl.metric, runs); err != nil {
			return fmt.Errorf("plot %s: %w", pl.file, err)
		}
		images = append(images, path)
	}
	var labels []string
	acc := report.BarGroup{Name: "accuracy"}
	for _, m := range r.Models {
		labels = append(labels, m.Name)
		acc.Values = append(acc.Values, 100*m.Accuracy)
	}
	accPath := filepath.Join(out, "accuracy.png")
	if err := report.BarPlot(accPath, "Held-out accuracy (greedy, exact #### answer)", "accuracy, % of held-out problems", labels, []report.BarGroup{acc}); err != nil {
		return err
	}
	images = append(images, accPath)
	lp := []report.BarGroup{{Name: "chosen"}, {Name: "rejected"}}
	for _, m := range r.Models {
		lp[0].Values = append(lp[0].Values, m.ChosenLogp)
		lp[1].Values = append(lp[1].Values, m.RejectedLogp)
	}
	lpPath := filepath.Join(out, "heldout_logps.png")
	if err := report.BarPlot(lpPath, "Held-out mean log-prob of chosen and rejected solutions", "log-prob, nats (sum over completion tokens)", labels, lp); err != nil {
		return err
	}
	images = append(images, lpPath)

	md := p.markdown(r)
	if err := os.WriteFile(filepath.Join(out, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := report.HTML(filepath.Join(out, "report.html"), "smaug reproduce: DPO's failure and DPOP's fix", md, images); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "results.json"), b, 0o644)
}

func (p *pipeline) markdown(r *Results) string {
	s := r.Settings
	var b strings.Builder
	b.WriteString("# smaug reproduce: DPO's failure and DPOP's fix\n\n")
	b.WriteString(r.Verdict() + "\n\n")
	b.WriteString(r.Table() + "\n")
	b.WriteString("What the columns mean:\n\n" + r.ColumnNotes() + "\n")
	b.WriteString("## Training curves\n\n")
	for _, f := range lineFigures {
		fmt.Fprintf(&b, "### %s\n\n%s\n\n![%s](%s)\n\n", f.title, f.see, f.title, f.file)
	}
	b.WriteString("## After training\n\n")
	b.WriteString("### Held-out accuracy\n\nGreedy answers to the held-out problems, counted correct when the final `#### N` equals the gold one. DPO's falling chosen log-prob shows up here as wrong intermediate results.\n\n![Held-out accuracy](accuracy.png)\n\n")
	b.WriteString("### Held-out log-probs\n\nThe table's chosen and rejected log-probs as bars: DPO lowers both, DPOP keeps the chosen ones where the base had them.\n\n![Held-out log-probs](heldout_logps.png)\n\n")
	b.WriteString("## What ran\n\n")
	if p.o.Model == "" {
		steps := fmt.Sprintf("%d–%d", s.MinSteps, s.MaxSteps)
		if s.MinSteps == s.MaxSteps {
			steps = fmt.Sprint(s.MinSteps)
		}
		fmt.Fprintf(&b, "- Data: %d training and %d held-out synth-math problems (%s calculations, numbers ≤ %d), in GSM8K's layout.\n",
			s.TrainProblems, s.TestProblems, steps, s.MaxValue)
		fmt.Fprintf(&b, "- Base: a Llama with a byte-level BPE vocabulary trained on the problems (hidden %d, %d layers, %d heads, MLP %d) trained from scratch with `smaug sft` for %d steps of %d problems (lr %g, cosine).\n",
			s.Hidden, s.Layers, s.Heads, s.Inter, s.SFTSteps, s.SFTBatch, s.SFTLR)
	} else {
		fmt.Fprintf(&b, "- Data: %s. Base: %s (no SFT stage).\n", p.o.Data, p.o.Model)
	}
	fmt.Fprintf(&b, "- Pairs: `pairs metamath` on the training problems — chosen is the solution, rejected the same solution with one intermediate result replaced by a wrong number.\n")
	fmt.Fprintf(&b, "- DPO and DPOP from the same base, seed %d and data order: %d steps of %d pairs, β %g, DPOP λ %g, lr %g (constant), reference log-probs of the base.\n",
		r.Seed, s.PrefSteps, s.PrefBatch, s.Beta, s.Lambda, s.PrefLR)
	fmt.Fprintf(&b, "- Evaluation: greedy answers to %d held-out problems (exact match of `#### N`), and log-probs of %d held-out pairs.\n\n", s.EvalProblems, s.EvalPairs)
	b.WriteString("## Samples\n\n")
	for _, m := range r.Models {
		for i, smp := range m.Samples {
			if i == 1 {
				break
			}
			fmt.Fprintf(&b, "**%s** (gold %s, %s):\n\n```\n%s%s\n```\n\n", m.Name, smp.Gold, map[bool]string{true: "correct", false: "wrong"}[smp.Correct], promptText(smp.Question), smp.Generated)
		}
	}
	b.WriteString("## Reproduce\n\n```\n" + r.CommandLine + "\n```\n\n")
	var stages []string
	for _, name := range []string{"data", "base", "pairs", "dpo", "dpop", "eval"} {
		if sec, ok := r.StageSeconds[name]; ok {
			stages = append(stages, fmt.Sprintf("%s %.0f s", name, sec))
		}
	}
	fmt.Fprintf(&b, "Time of each stage when it ran: %s (a stage whose inputs did not change is reused, with its recorded time). This invocation took %.0f s. Stage folders: `data/`, `base/`, `pairs/`, `dpo/`, `dpop/` (run folders with metrics.jsonl and plots), `eval/`.\n", strings.Join(stages, ", "), r.TotalSeconds)
	return b.String()
}
