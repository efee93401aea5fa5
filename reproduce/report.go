package reproduce

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/smaug-dev/smaug/report"
)

// Table renders the results table (Markdown).
func (r *Results) Table() string {
	var b strings.Builder
	b.WriteString("| model | accuracy (held-out, greedy) | chosen log-prob | rejected log-prob | margin | chosen tokens after the first difference |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range r.Models {
		fmt.Fprintf(&b, "| %s | %.1f%% (%d/%d) | %.2f | %.2f | %.2f | %.3f |\n", m.Name, 100*m.Accuracy, m.Correct, m.Problems,
			m.ChosenLogp, m.RejectedLogp, m.Margin, m.ChosenAfterDiff)
	}
	return b.String()
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
	case r.Reproduced():
		fmt.Fprintf(&b, "**The paper's finding reproduced in this run.** DPO lowered the mean held-out log-prob of the chosen (correct) solutions from %.2f to %.2f (−%.2f nats) while it widened the margin over the rejected ones; under DPOP it went to %.2f (%+.2f).",
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
// log-prob exceeds one nat and DPOP's is under a fifth of DPO's.
func (r *Results) Reproduced() bool {
	base, dpo, dpop := r.Model("base"), r.Model("DPO"), r.Model("DPOP")
	dpoFall, dpopFall := base.ChosenLogp-dpo.ChosenLogp, base.ChosenLogp-dpop.ChosenLogp
	return dpoFall > 1 && dpopFall < dpoFall/5
}

// writeReport writes report.md, report.html, results.json and the plots.
func (p *pipeline) writeReport(r *Results) error {
	out := p.o.Out
	runs := map[string]string{"DPO": filepath.Join(out, "dpo"), "DPOP": filepath.Join(out, "dpop")}
	type plot struct{ file, title, metric string }
	var images []string
	for _, pl := range []plot{
		{"chosen_logps.png", "Held-out chosen log-prob during training", "eval_logps/chosen"},
		{"rejected_logps.png", "Held-out rejected log-prob during training", "eval_logps/rejected"},
		{"train_chosen_logps.png", "Training batch chosen log-prob", "logps/chosen"},
		{"rewards_chosen.png", "Chosen reward β·(log π − log π_ref)", "rewards/chosen"},
		{"margins.png", "Reward margin (chosen − rejected)", "rewards/margins"},
	} {
		path := filepath.Join(out, pl.file)
		if err := report.CompareRuns(path, pl.title, pl.metric, runs); err != nil {
			return fmt.Errorf("plot %s: %w", pl.file, err)
		}
		images = append(images, path)
	}
	var labels []string
	acc := report.BarGroup{Name: "accuracy (%)"}
	for _, m := range r.Models {
		labels = append(labels, m.Name)
		acc.Values = append(acc.Values, 100*m.Accuracy)
	}
	accPath := filepath.Join(out, "accuracy.png")
	if err := report.BarPlot(accPath, "Held-out accuracy (greedy, exact #### answer)", "accuracy (%)", labels, []report.BarGroup{acc}); err != nil {
		return err
	}
	images = append(images, accPath)
	lp := []report.BarGroup{{Name: "chosen"}, {Name: "rejected"}}
	for _, m := range r.Models {
		lp[0].Values = append(lp[0].Values, m.ChosenLogp)
		lp[1].Values = append(lp[1].Values, m.RejectedLogp)
	}
	lpPath := filepath.Join(out, "heldout_logps.png")
	if err := report.BarPlot(lpPath, "Held-out mean log-prob of chosen and rejected solutions", "log-prob", labels, lp); err != nil {
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
	b.WriteString("![Held-out chosen log-prob during training](chosen_logps.png)\n\n")
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
	fmt.Fprintf(&b, "Total time %.0f s. Stage folders: `data/`, `base/`, `pairs/`, `dpo/`, `dpop/` (run folders with metrics.jsonl and plots), `eval/`.\n", r.TotalSeconds)
	return b.String()
}
