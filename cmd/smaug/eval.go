package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/smaug-dev/smaug/eval"
	"github.com/smaug-dev/smaug/hub"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/report"
	"github.com/smaug-dev/smaug/tokenizer"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newEvalCmd()) }

type evalArgs struct {
	modelDir, tasks, protocol, dataDir, dtype, output, logSamples, cachePath string
	data                                                                     []string
	numFewshot, limit, batchSize, maxLength                                  int
	addBOS, chatTemplate, noProgress                                         bool
}

func newEvalCmd() *cobra.Command {
	var a evalArgs
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Open LLM Leaderboard v1 evaluation: ARC, HellaSwag, MMLU, TruthfulQA, Winogrande, GSM8K",
		Long: `Evaluate a model on the six Open LLM Leaderboard v1 tasks exactly as
lm-evaluation-harness commit b281b09 runs them (--protocol leaderboard-v1, the
default), or with harness v0.4's differences (--protocol harness-v0.4:
size-weighted MMLU, GSM8K strict-match and flexible-extract).

  task            shots  metric     scored split
  arc_challenge   25     acc_norm   test
  hellaswag       10     acc_norm   validation
  mmlu            5      acc        test (57 subjects, unweighted mean; shots: first 5 dev rows)
  truthfulqa_mc2  0      mc2        validation
  winogrande      5      acc        validation (partial scoring)
  gsm8k           5      acc        test (greedy, stops at ":", "Question:", "Question", 256 tokens)

--tasks leaderboard runs all six. Documents are shuffled with Python's
random.Random(42) and each document's few-shot examples drawn from the same
generator (a CPython-exact generator), so contexts are the harness's byte for
byte; no BOS token is added unless --add-bos. Under harness-v0.4 GSM8K stops
at "Question:", "</s>", "<|im_end|>" and reports exact_match,strict-match and
exact_match,flexible-extract.

Where each task's data come from, first match wins:
  1. --data task=PATH: a local file or folder; or, when no such path exists, a
     hub dataset ORG/NAME[@REVISION][/FOLDER] (huggingface_hub's hf:// path
     syntax; FOLDER is a config's folder, e.g. allenai/ai2_arc/ARC-Challenge;
     write a revision holding "/" with %2F: @refs%2Fconvert%2Fparquet).
  2. --data-dir DIR: DIR/<task>/ (DIR/truthfulqa for truthfulqa_mc2).
  3. The task's own dataset on the hub, as the harness reads it:
       arc_challenge   allenai/ai2_arc/ARC-Challenge
       hellaswag       Rowan/hellaswag (its parquet conversion while main
                       holds only a loading script)
       mmlu            cais/mmlu/all
       truthfulqa_mc2  truthfulqa/truthful_qa/multiple_choice
       winogrande      allenai/winogrande/winogrande_xl
       gsm8k           openai/gsm8k/main
Hub datasets go through the shared hub cache (see smaug pull): only the splits
a task reads are downloaded, once; a cached dataset is used without a request;
HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE=1 work as in Python. Offline or without
a network, pass local files with --data or --data-dir instead.

Local layouts: the hub's parquet shards (SPLIT-00000-of-0000N.parquet, all
shards read in order; CONFIG/SPLIT/0000.parquet), Hugging Face jsonl rows,
MMLU <subject>_{dev,test}.csv or the hub's all/ and per-subject folders,
TruthfulQA mc_task.json, llm-foundry's Winogrande, llama.cpp's HellaSwag text.
In a folder the scored split is test (validation for HellaSwag, Winogrande and
TruthfulQA, whose test answers are hidden) and the few-shot pool train; without
a training split the examples come from the scored split, as the harness does.

Prints the Smaug README's table (Average, ARC, HellaSwag, MMLU, TruthfulQA,
Winogrande, GSM8K, percent ± standard error); --output writes the results in
lm-evaluation-harness's JSON shape (results.<task>.<metric>,none, *_stderr,
configs, versions, n-shot); --log-samples writes one row per document with the
exact context, every continuation's log-likelihood and greedy flag (or the
generation) and the metric values.

Requests that share a context are computed once: the shared prefix's keys and
values are reused for every continuation (MMLU's 5-shot prefix per subject,
every choice of a question). Results do not depend on --batch-size (how many
groups of requests run at once). --cache FILE keeps finished requests, so an
interrupted evaluation resumes where it stopped.`,
		Example: `  smaug eval --model ./smaug-dpop --tasks leaderboard --data-dir ./data --output results.json
  smaug eval --model Qwen/Qwen2.5-0.5B --tasks leaderboard --output results.json   # datasets from the hub
  smaug eval --model ./m --tasks arc_challenge,mmlu --limit 100 --data arc_challenge=./ARC-Challenge --data mmlu=cais/mmlu/all
  smaug eval --model ./m --tasks hellaswag --data hellaswag=Rowan/hellaswag@refs%2Fconvert%2Fparquet/default
  HF_HUB_OFFLINE=1 smaug eval --model ./m --tasks gsm8k   # from the cache only
  smaug eval --model ./m --tasks gsm8k --protocol harness-v0.4 --data gsm8k=./gsm8k --log-samples gsm8k.jsonl
  smaug eval compare base.json dpo.json dpop.json --names base,DPO,DPOP --plot leaderboard.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runEval(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.modelDir, "model", "", "Hugging Face model folder with its tokenizer, hub repo id or .gguf file (required)")
	f.StringVar(&a.tasks, "tasks", "leaderboard", "comma-separated tasks: arc_challenge, hellaswag, mmlu, truthfulqa_mc2, winogrande, gsm8k, or leaderboard (all six)")
	f.IntVar(&a.numFewshot, "num-fewshot", -1, "examples before each document (default: each task's leaderboard count)")
	f.IntVar(&a.limit, "limit", 0, "score only the first N shuffled documents of each task (each MMLU subject)")
	f.IntVar(&a.batchSize, "batch-size", 0, "groups of requests scored at once (default: one per core); results do not depend on it")
	f.StringVar(&a.protocol, "protocol", string(eval.LeaderboardV1), "leaderboard-v1 or harness-v0.4")
	f.StringVar(&a.dataDir, "data-dir", "", "folder holding one folder per task (DIR/<task>/...); without it, tasks not given --data read their hub datasets")
	f.StringArrayVar(&a.data, "data", nil, "task=PATH or task=ORG/NAME[@REVISION][/FOLDER]: one task's data file or folder, or hub dataset (repeatable; overrides --data-dir)")
	f.BoolVar(&a.addBOS, "add-bos", false, "put the BOS token before every context (the leaderboard does not)")
	f.BoolVar(&a.chatTemplate, "apply-chat-template", false, "render each context as a user message with the model's chat template")
	f.StringVar(&a.dtype, "dtype", "F32", dtypeUsage)
	f.IntVar(&a.maxLength, "max-length", 0, "context length; longer inputs keep their last tokens (default: the model's max_position_embeddings)")
	f.StringVar(&a.output, "output", "", "write the results JSON here")
	f.StringVar(&a.logSamples, "log-samples", "", "write one JSONL row per document here")
	f.StringVar(&a.cachePath, "cache", "", "JSONL file of finished requests, read to resume and appended as requests finish (one file per model: keys name the tokens, not the weights)")
	f.BoolVar(&a.noProgress, "no-progress", false, "no progress bar or progress lines")
	cmd.MarkFlagRequired("model")
	cmd.AddCommand(newEvalCompareCmd())
	return cmd
}

func runEval(ctx context.Context, w, errw io.Writer, a evalArgs) error {
	p := eval.Protocol(a.protocol)
	if p != eval.LeaderboardV1 && p != eval.HarnessV04 {
		return fmt.Errorf("--protocol %q: want leaderboard-v1 or harness-v0.4", a.protocol)
	}
	var names []string
	for _, n := range strings.Split(a.tasks, ",") {
		if n = strings.TrimSpace(n); n == "leaderboard" {
			for _, s := range eval.Leaderboard {
				names = append(names, s.Name)
			}
		} else if n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("--tasks: no task named")
	}
	data := map[string]string{}
	for _, d := range a.data {
		k, v, ok := strings.Cut(d, "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("--data %q: want task=PATH or task=ORG/NAME[@REVISION][/FOLDER]", d)
		}
		data[k] = v
	}
	srcs, err := eval.TaskSources(names, a.dataDir, data)
	if err != nil {
		return err
	}
	var tasks []*eval.Task
	for _, n := range names {
		path, err := fetchTaskData(ctx, errw, n, srcs[n])
		if err != nil {
			return err
		}
		ts, err := eval.Load(n, path, p, a.numFewshot)
		if err != nil {
			return err
		}
		tasks = append(tasks, ts...)
	}
	if err := resolveModelArg(ctx, &a.modelDir); err != nil {
		return err
	}
	m, err := loadInference(a.modelDir, a.dtype)
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := tokenizer.Load(a.modelDir)
	if err != nil {
		return err
	}
	cfg := eval.Config{Model: m, Tokenizer: tok, Tasks: tasks, Limit: a.limit, BatchSize: a.batchSize,
		AddBOS: a.addBOS, MaxLength: a.maxLength}
	if a.chatTemplate {
		if cfg.Template, err = eval.ChatTemplate(a.modelDir); err != nil {
			return err
		}
	}
	if a.cachePath != "" {
		c, err := eval.OpenFileCache(a.cachePath)
		if err != nil {
			return err
		}
		defer c.Close()
		if c.Len() > 0 {
			fmt.Fprintf(errw, "eval: resuming with %d finished requests from %s\n", c.Len(), a.cachePath)
		}
		cfg.Cache = c
	}
	if !a.noProgress {
		cfg.Progress = newStageProgress()
	}
	start := time.Now()
	trs, err := eval.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res := eval.Aggregate(trs, map[string]any{
		"model": a.modelDir, "protocol": string(p), "limit": a.limit, "batch_size": a.batchSize,
		"add_bos": a.addBOS, "apply_chat_template": a.chatTemplate, "dtype": strings.ToUpper(a.dtype),
	})
	if a.output != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(a.output, append(b, '\n')); err != nil {
			return err
		}
	}
	if a.logSamples != "" {
		if err := atomicfile.Write(a.logSamples, func(w io.Writer) error { return eval.WriteSamples(w, trs) }); err != nil {
			return err
		}
	}
	fmt.Fprintf(errw, "eval: %d tasks in %s\n", len(tasks), time.Since(start).Round(time.Millisecond))
	return eval.WriteTable(w, []string{filepath.Base(filepath.Clean(a.modelDir))}, []*eval.Results{res})
}

// fetchTaskData returns a local path for a task's data source, a hub
// dataset resolved through the hub cache (downloaded when missing); a
// failure says how to pass local data instead.
func fetchTaskData(ctx context.Context, errw io.Writer, task string, src eval.Source) (string, error) {
	if src.Path != "" {
		return src.Path, nil
	}
	fmt.Fprintf(errw, "task %s: reading %s through the hub cache\n", task, src)
	path, err := src.Fetch(ctx, hub.FromEnv(), task, byteProgress("download "+src.Hub.Repo))
	if err != nil {
		return "", fmt.Errorf("%w\n(without the hub, pass the task's data as local files: --data %s=PATH, or --data-dir DIR holding %s/)", err, task, task)
	}
	return path, nil
}

// newStageProgress returns a progress callback: a bar per stage on a
// terminal, otherwise a log line at every tenth of a stage with its ETA.
func newStageProgress() func(stage string, done, total int) {
	var mu sync.Mutex
	var bar *progressbar.ProgressBar
	cur, lastTenth := "", -1
	var began time.Time
	term := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		term = true
	}
	return func(stage string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if stage != cur {
			if bar != nil {
				bar.Finish()
			}
			cur, lastTenth, began = stage, -1, time.Now()
			bar = newBar(total, "eval "+stage)
		}
		if term {
			bar.Set(done)
			return
		}
		if tenth := done * 10 / total; tenth != lastTenth {
			lastTenth = tenth
			el := time.Since(began)
			eta := time.Duration(float64(el) / float64(done) * float64(total-done))
			fmt.Fprintf(os.Stderr, "eval: %s %d/%d (%d%%), %s elapsed, ETA %s\n", stage, done, total, 100*done/total,
				el.Round(time.Second), eta.Round(time.Second))
		}
	}
}

func newEvalCompareCmd() *cobra.Command {
	var names, plot, title string
	cmd := &cobra.Command{
		Use:   "compare RESULTS.json...",
		Short: "The leaderboard table of several results side by side, and a grouped bar chart",
		Long: `Read results JSON files (written by smaug eval --output, or by
lm-evaluation-harness, v0.3 or v0.4) and print the Smaug README's table with
one row per file: Average, ARC, HellaSwag, MMLU, TruthfulQA, Winogrande, GSM8K
in percent with standard errors. A column a file lacks shows "–" and its
average, over the columns present, is marked "*". --plot writes a grouped bar
chart PNG (one group per column, one bar per file).`,
		Example: `  smaug eval compare base.json dpo.json dpop.json --names base,DPO,DPOP --plot leaderboard.png`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvalCompare(cmd.OutOrStdout(), args, names, plot, title)
		},
	}
	cmd.Flags().StringVar(&names, "names", "", "comma-separated row names (default: the file names without .json)")
	cmd.Flags().StringVar(&plot, "plot", "", "write a grouped bar chart PNG here")
	cmd.Flags().StringVar(&title, "title", "Open LLM Leaderboard v1", "chart title")
	return cmd
}

func runEvalCompare(w io.Writer, files []string, names, plot, title string) error {
	var labels []string
	if names != "" {
		labels = strings.Split(names, ",")
		if len(labels) != len(files) {
			return fmt.Errorf("--names: %d names for %d files", len(labels), len(files))
		}
	} else {
		for _, f := range files {
			labels = append(labels, strings.TrimSuffix(filepath.Base(f), ".json"))
		}
	}
	var rs []*eval.Results
	for _, f := range files {
		r, err := eval.ReadResults(f)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if err := eval.WriteTable(w, labels, rs); err != nil {
		return err
	}
	if plot == "" {
		return nil
	}
	var cols []string
	for _, s := range eval.Leaderboard {
		cols = append(cols, eval.Columns[s.Name])
	}
	groups := make([]report.BarGroup, len(rs))
	for i, r := range rs {
		groups[i].Name = labels[i]
		for _, s := range eval.Leaderboard {
			v, _, ok := r.Score(s.Name)
			if !ok {
				v = math.NaN() // BarPlot leaves the bar out
			}
			groups[i].Values = append(groups[i].Values, v)
		}
	}
	return report.BarPlot(plot, title, "score (%)", cols, groups)
}
