package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/smaug-dev/smaug/contamination"
	"github.com/smaug-dev/smaug/eval"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newContaminationCmd()) }

type contaminationArgs struct {
	modelDir, refDir, task, data, dataDir, method, output, dtype string
	n, samples, workers                                          int
	ratio, k, threshold                                          float64
	seed                                                         int64
	noProgress                                                   bool
}

func newContaminationCmd() *cobra.Command {
	var a contaminationArgs
	cmd := &cobra.Command{
		Use:   "contamination",
		Short: "Check whether a benchmark was seen in training (neighbour comparison, Min-K% Prob)",
		Long: `Estimate whether a model saw a benchmark's examples in training.

--method neighbours (the default) is what the Smaug README's contamination
numbers are: the method of swj0419/detect-pretrain-code-contamination. It takes
--n examples (Python random.seed(--seed), shuffle, first n); the text is the
question, a space and the correct answer (ARC-Challenge test; TruthfulQA with
the mc1 answer; MMLU test; GSM8K with the rationale before "####"). The
--ref-model gets the first ⌈ratio·words⌉ words and samples --samples
continuations (temperature 1, top-k 50, as many new tokens as words remain);
each example scores the fraction of those neighbours with a lower mean token
loss under --model than the example itself. The number is the fraction of
examples scoring below --threshold; above 0.85 the README calls the benchmark
"highly likely" seen. (Smaug-72B: ARC 0.20, TruthfulQA 0.45, GSM8K 1.00.)

--method min-k is the real Min-K% Prob (Shi et al. 2023), which the tool above
is named after but does not compute: minus the mean of the lowest --k fraction
of the example's token log-probs under --model. Lower means more likely seen;
compare with scores on text known to be unseen.

The task is arc_challenge, truthfulqa, mmlu or gsm8k — data from --data (a
local PATH, or a hub dataset ORG/NAME[@REVISION][/FOLDER]), else --data-dir
DIR/<task>, else the task's own hub dataset, exactly as smaug eval reads them
(see smaug eval --help) — or a JSONL file whose
rows have "text" (or "question" and "answer"). --output writes one JSONL row per
example with its loss, score and (neighbours) the neighbours and their losses.`,
		Example: `  smaug contamination --model ./smaug --ref-model ./llama-2-7b --task gsm8k --data ./gsm8k --output gsm8k_contam.jsonl
  smaug contamination --model ./smaug --task truthfulqa --data ./truthfulqa --method min-k --k 0.2
  smaug contamination --model ./smaug --ref-model ./base --task arc_challenge   # allenai/ai2_arc from the hub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runContamination(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.modelDir, "model", "", "model checked: Hugging Face folder with its tokenizer (required)")
	f.StringVar(&a.refDir, "ref-model", "", "reference model that samples the neighbours (required for neighbours)")
	f.StringVar(&a.task, "task", "", "arc_challenge, truthfulqa, mmlu, gsm8k, or a JSONL file (required)")
	f.StringVar(&a.data, "data", "", "the task's data file or folder, or hub dataset ORG/NAME[@REVISION][/FOLDER] (default: the task's own hub dataset)")
	f.StringVar(&a.dataDir, "data-dir", "", "folder holding DIR/<task>/")
	f.StringVar(&a.method, "method", string(contamination.Neighbours), "neighbours or min-k")
	f.IntVar(&a.n, "n", contamination.DefaultExamples, "examples checked (0: all)")
	f.IntVar(&a.samples, "samples", contamination.DefaultSamples, "neighbours per example")
	f.Float64Var(&a.ratio, "ratio", contamination.DefaultRatio, "fraction of words given to the reference model")
	f.Float64Var(&a.k, "k", contamination.DefaultK, "Min-K%: fraction of lowest token log-probs averaged")
	f.Float64Var(&a.threshold, "threshold", contamination.DefaultThreshold, "an example counts when its score is below this")
	f.Int64Var(&a.seed, "seed", 0, "Python random.seed of the example shuffle; also seeds the neighbours' sampling")
	f.IntVar(&a.workers, "workers", 4, "examples checked at once")
	f.StringVar(&a.output, "output", "", "write one JSONL row per example here")
	f.StringVar(&a.dtype, "dtype", "F32", dtypeUsage)
	f.BoolVar(&a.noProgress, "no-progress", false, "no progress bar")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("task")
	return cmd
}

func loadModelAndTokenizer(dir, dtype string) (*model.Model, *tokenizer.Tokenizer, error) {
	m, err := loadInference(dir, dtype)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, tok, nil
}

// contaminationExamples loads a task's documents or a JSONL file's rows.
func contaminationExamples(ctx context.Context, errw io.Writer, a contaminationArgs) ([]contamination.Example, error) {
	if strings.HasSuffix(a.task, ".jsonl") {
		f, err := os.Open(a.task)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var docs []eval.Doc
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for line := 1; sc.Scan(); line++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var r struct{ Text, Question, Answer string }
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", a.task, line, err)
			}
			d := eval.Doc{Index: len(docs), Question: r.Question, Correct: r.Answer}
			if r.Text != "" {
				d.Question, d.Correct = r.Text, ""
			} else if r.Question == "" {
				return nil, fmt.Errorf("%s:%d: field text (or question and answer) missing", a.task, line)
			}
			docs = append(docs, d)
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		ex := contamination.Texts(docs, a.n, a.seed)
		for i := range ex {
			ex[i].Text = strings.TrimSpace(ex[i].Text)
		}
		return ex, nil
	}
	name := a.task
	switch a.task {
	case "truthfulqa":
		name = "truthfulqa_mc2"
	case "arc_challenge", "mmlu", "gsm8k":
	default:
		return nil, fmt.Errorf("--task %q: want arc_challenge, truthfulqa, mmlu, gsm8k or a .jsonl file", a.task)
	}
	data := map[string]string{}
	if a.data != "" {
		data[name] = a.data
	}
	srcs, err := eval.TaskSources([]string{name}, a.dataDir, data)
	if err != nil {
		return nil, err
	}
	path, err := fetchTaskData(ctx, errw, name, srcs[name])
	if err != nil {
		return nil, err
	}
	ts, err := eval.Load(name, path, eval.LeaderboardV1, -1)
	if err != nil {
		return nil, err
	}
	var docs []eval.Doc
	for _, t := range ts { // MMLU: subjects in name order, as one list
		for _, d := range t.Docs {
			d.Index = len(docs)
			docs = append(docs, d)
		}
	}
	return contamination.Texts(docs, a.n, a.seed), nil
}

func runContamination(ctx context.Context, w, errw io.Writer, a contaminationArgs) error {
	if err := errors.Join(resolveModelArg(ctx, &a.modelDir), resolveModelArg(ctx, &a.refDir)); err != nil {
		return err
	}
	ex, err := contaminationExamples(ctx, errw, a)
	if err != nil {
		return err
	}
	c := contamination.Config{Method: contamination.Method(a.method), Examples: ex, Samples: a.samples,
		Ratio: a.ratio, K: a.k, Threshold: a.threshold, Seed: uint64(a.seed), Workers: a.workers}
	if c.Method != contamination.Neighbours && c.Method != contamination.MinK {
		return fmt.Errorf("--method %q: want neighbours or min-k", a.method)
	}
	if c.Target, c.TargetTok, err = loadModelAndTokenizer(a.modelDir, a.dtype); err != nil {
		return err
	}
	defer c.Target.Close()
	if c.Method == contamination.Neighbours {
		if a.refDir == "" {
			return fmt.Errorf("--ref-model is required for --method neighbours")
		}
		if c.Ref, c.RefTok, err = loadModelAndTokenizer(a.refDir, a.dtype); err != nil {
			return err
		}
		defer c.Ref.Close()
	}
	if !a.noProgress {
		bar := newBar(len(ex), "contamination")
		c.Progress = func(done, _ int) { bar.Set(done) }
	}
	rep, err := contamination.Run(ctx, c)
	if err != nil {
		return err
	}
	if a.output != "" {
		err := atomicfile.Write(a.output, func(out io.Writer) error {
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			for _, r := range rep.Results {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%s %s: %.4f\n\n%s\n", a.task, rep.Method, rep.Headline, contamination.Explain(rep, c))
	return nil
}
