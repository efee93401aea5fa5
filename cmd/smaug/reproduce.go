package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/smaug-dev/smaug/reproduce"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newReproduceCmd()) }

func newReproduceCmd() *cobra.Command {
	var o reproduce.Options
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "reproduce",
		Short: "Reproduce the DPOP paper's finding end to end: DPO lowers the chosen log-prob, DPOP does not",
		Long: `Run the whole pipeline on the embedded default, with no downloads:

  1. data   synth-math word problems (GSM8K layout), training and held-out
  2. base   a small Llama (and its BPE vocabulary) trained from scratch with SFT
  3. pairs  MetaMath-style pairs: one intermediate result corrupted
  4. dpo, dpop  preference training from the same base, seed and steps
            (β 0.3; DPOP λ 50)
  5. eval   held-out accuracy (greedy, exact "#### N"), held-out log-probs of
            chosen and rejected, and of the chosen tokens after the first
            difference (the paper's measure)
  6. report report.md, report.html, results.json and PNG plots in --out

Stages whose inputs did not change are reused, so a second run is cheap.
With --model and --data the same pipeline runs on your model (with its
tokenizer files) and GSM8K-style data, without the SFT stage.`,
		Example: `  smaug reproduce
  smaug reproduce --quick --out /tmp/quick
  smaug reproduce --model ./my-llama --data ../shared/data/gsm8k --out runs/mine`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (o.Model == "") != (o.Data == "") && o.Model != "" {
				return fmt.Errorf("--model needs --data (GSM8K-style question/answer rows)")
			}
			o.CommandLine = "smaug " + strings.Join(os.Args[1:], " ")
			o.Log = os.Stderr
			if !noProgress {
				o.Bar = func(n int, desc string) func(int) {
					b := newBar(n, desc)
					return func(k int) { b.Add(k) }
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := reproduce.Run(ctx, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout())
			fmt.Fprintln(cmd.OutOrStdout(), res.Table())
			fmt.Fprintln(cmd.OutOrStdout(), res.Verdict())
			fmt.Fprintf(cmd.OutOrStdout(), "\nreport: %s/report.md (and report.html)\n", o.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", "smaug-reproduce", "output folder")
	f.BoolVar(&o.Quick, "quick", false, "a small, fast run of the same pipeline (under 2 minutes; the effect is not expected to show)")
	f.StringVar(&o.Model, "model", "", "your base model folder (Hugging Face, with tokenizer files) instead of training one")
	f.StringVar(&o.Data, "data", "", "your GSM8K-style data: a folder with train.jsonl and test.jsonl, or one JSONL file")
	f.Uint64Var(&o.Seed, "seed", 0, "seed of data, initialisation, data order and pairs")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bars")
	return cmd
}
