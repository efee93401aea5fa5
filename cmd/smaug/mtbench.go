package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/mtbench"
	"github.com/smaug-dev/smaug/serve"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newMTBenchCmd()) }

const benchDirUsage = "FastChat's data/mt_bench folder: question.jsonl, judge_prompts.jsonl, reference_answer/, model_answer/, model_judgment/"

func newMTBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mtbench",
		Short: "MT-Bench as FastChat's llm_judge runs it: answer, judge, show",
		Long: `MT-Bench (80 two-turn questions in 8 categories, graded 1–10 by a judge
model) with FastChat's files and protocol, so scores compare with published
ones (Smaug-72B: 8.18 first turn, 7.34 second, 7.76 average with GPT-4):

  answer  the model answers every question, both turns in its chat template,
          at the category's temperature, up to 1024 new tokens per turn
          → model_answer/ID.jsonl
  judge   a judge model grades each turn with FastChat's single-answer
          prompts (math, reasoning and coding against reference answers)
          → model_judgment/JUDGE_single.jsonl
  show    first-turn, second-turn and average scores per model and category

Every step resumes where it stopped. The files sit in FastChat's layout under
--bench-dir (default data/mt_bench), so FastChat's own question, answer and
judgment files can be used directly.`,
		Example: `  smaug mtbench answer --model ./smaug-tuned --model-id smaug-tuned
  OPENAI_API_KEY=... smaug mtbench judge --answers data/mt_bench/model_answer/smaug-tuned.jsonl --judge-model gpt-4
  smaug mtbench show --radar mtbench.png`,
	}
	cmd.AddCommand(newMTBenchAnswerCmd(), newMTBenchJudgeCmd(), newMTBenchShowCmd())
	return cmd
}

func newMTBenchAnswerCmd() *cobra.Command {
	var modelDir, adapterDir, dtype, endpoint, apiKey, benchDir, questions, output string
	var cfg mtbench.AnswerConfig
	cmd := &cobra.Command{
		Use:   "answer",
		Short: "Answer the MT-Bench questions with a model folder or an OpenAI-compatible endpoint",
		Long: `Answer every MT-Bench question in two turns: turn 1, then turn 2 asked in the
same conversation after the model's turn-1 answer, through the model's chat
template. Temperatures follow FastChat: writing and roleplay 0.7, stem and
humanities 0.1, the rest greedy. Answers are stripped of surrounding spaces.

With --model the model is served in-process (as smaug serve does, with
continuous batching) and asked --parallel questions at a time; with
--endpoint (an OpenAI-style base URL ending in /v1) any server is asked,
under the name --model-id. Rows go to --output as they complete (FastChat's
model_answer/ID.jsonl), and questions already there are skipped.`,
		Example: `  smaug mtbench answer --model ./smaug-tuned --model-id smaug-tuned
  smaug mtbench answer --endpoint http://127.0.0.1:8080/v1 --model-id smaug-tuned --parallel 16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (modelDir == "") == (endpoint == "") {
				return fmt.Errorf("give exactly one of --model and --endpoint")
			}
			if questions == "" {
				questions = filepath.Join(benchDir, "question.jsonl")
			}
			if output == "" {
				output = filepath.Join(benchDir, "model_answer", cfg.Model+".jsonl")
			}
			qs, err := mtbench.ReadQuestions(questions)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if modelDir != "" {
				if err := resolveModelArg(ctx, &modelDir); err != nil {
					return err
				}
				url, stop, err := serveLocally(ctx, modelDir, adapterDir, dtype, cfg.Model, cfg.Parallel)
				if err != nil {
					return err
				}
				defer stop()
				endpoint = url
			}
			if apiKey == "" {
				apiKey = os.Getenv("OPENAI_API_KEY")
			}
			cfg.Client = &mtbench.Client{BaseURL: endpoint, APIKey: apiKey}
			cfg.Questions, cfg.Output = qs, output
			bar := newBar(len(qs), "answering")
			cfg.Progress = func(done, total int) { bar.ChangeMax(total); bar.Set(done) }
			n, err := mtbench.RunAnswers(ctx, cfg)
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "answered %d questions → %s\n", n, output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "model folder (or hub repo id, .gguf file) to serve in-process")
	f.StringVar(&adapterDir, "adapter", "", "PEFT LoRA adapter on --model")
	f.StringVar(&dtype, "dtype", "F32", dtypeUsage)
	f.StringVar(&endpoint, "endpoint", "", "OpenAI-compatible base URL (…/v1) to ask instead of --model")
	f.StringVar(&apiKey, "api-key", "", "bearer token for --endpoint (default $OPENAI_API_KEY)")
	f.StringVar(&cfg.Model, "model-id", "", "model name: the API model and the answers' model_id (required)")
	f.StringVar(&benchDir, "bench-dir", "data/mt_bench", benchDirUsage)
	f.StringVar(&questions, "questions", "", "question file (default BENCH-DIR/question.jsonl)")
	f.StringVar(&output, "output", "", "answer file (default BENCH-DIR/model_answer/MODEL-ID.jsonl)")
	f.IntVar(&cfg.MaxTokens, "max-new-tokens", mtbench.DefaultAnswerTokens, "new tokens per turn")
	f.IntVar(&cfg.Parallel, "parallel", mtbench.DefaultParallel, "questions answered at once")
	cmd.MarkFlagRequired("model-id")
	return cmd
}

// serveLocally serves a model folder on a loopback port and returns its
// API base URL and a function that stops it.
func serveLocally(ctx context.Context, dir, adapter, dtype, id string, concurrency int) (string, func(), error) {
	m, err := loadInference(dir, dtype)
	if err != nil {
		return "", nil, err
	}
	if adapter != "" {
		if _, err := model.LoadAdapter(m, adapter); err != nil {
			m.Close()
			return "", nil, err
		}
	}
	cfg, err := serve.ForModel(m, dir)
	if err != nil {
		m.Close()
		return "", nil, err
	}
	cfg.ModelID, cfg.MaxConcurrency = id, concurrency
	s, err := serve.New(cfg)
	if err != nil {
		m.Close()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.Close()
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(ctx, ln); close(done) }()
	return "http://" + ln.Addr().String() + "/v1", func() { cancel(); <-done; m.Close() }, nil
}

func newMTBenchJudgeCmd() *cobra.Command {
	var answers []string
	var benchDir, output, references string
	var cfg mtbench.JudgeConfig
	client := &mtbench.Client{}
	cmd := &cobra.Command{
		Use:   "judge",
		Short: "Grade MT-Bench answers with a judge model (FastChat's single-answer grading)",
		Long: `Grade each turn of each answer file with a judge model behind any
OpenAI-compatible endpoint (OpenAI's by default; smaug serve works too), as
FastChat's gen_judgment.py --mode single does: the single-v1 prompts, or
single-math-v1 with the reference answer for math, reasoning and coding, and
their -multi-turn forms for turn 2; temperature 0, up to 2048 tokens. The
score is the first [[N]] in the judgment, else the first [N], else −1 (such
judgments are kept in the file and dropped from the scores).

Requests answered 429 or 5xx are retried with exponential back-off (a
Retry-After header is honoured). Judgments are appended to --output as they
come and items already judged are skipped, so an interrupted run resumes.

Judges are not deterministic even at temperature 0: --repeats N judges every
item N times (rows carry "repeat": 0…N−1) and the scores are reported as the
median and range of the N per-repeat means. The model of each answer file is
its file name without .jsonl, as in FastChat.`,
		Example: `  OPENAI_API_KEY=... smaug mtbench judge --answers data/mt_bench/model_answer/smaug-tuned.jsonl --judge-model gpt-4
  smaug mtbench judge --answers a.jsonl,b.jsonl --judge-endpoint http://127.0.0.1:8080/v1 --judge-model judge --repeats 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, err := mtbench.ReadQuestions(filepath.Join(benchDir, "question.jsonl"))
			if err != nil {
				return err
			}
			if cfg.Prompts, err = mtbench.ReadJudgePrompts(filepath.Join(benchDir, "judge_prompts.jsonl")); err != nil {
				return err
			}
			if references == "" {
				references = filepath.Join(benchDir, "reference_answer", "gpt-4.jsonl")
			}
			if cfg.References, err = mtbench.ReadAnswers(references); err != nil {
				return err
			}
			for _, path := range answers {
				a, err := mtbench.ReadAnswers(path)
				if err != nil {
					return err
				}
				cfg.Answers = append(cfg.Answers, mtbench.ModelAnswers{Model: strings.TrimSuffix(filepath.Base(path), ".jsonl"), Answers: a})
			}
			if output == "" {
				output = filepath.Join(benchDir, "model_judgment", cfg.JudgeModel+"_single.jsonl")
			}
			if client.APIKey == "" {
				client.APIKey = os.Getenv("OPENAI_API_KEY")
			}
			cfg.Client, cfg.Questions, cfg.Output = client, qs, output
			bar := newBar(1, "judging")
			cfg.Progress = func(done, total int) { bar.ChangeMax(total); bar.Set(done) }
			n, err := mtbench.RunJudge(cmd.Context(), cfg)
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d judgments → %s\n\n", n, output)
			models := map[string]bool{}
			for _, a := range cfg.Answers {
				models[a.Model] = true
			}
			return showJudgments(cmd.OutOrStdout(), []string{output}, qs, models, "")
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&answers, "answers", nil, "answer files (model_answer/ID.jsonl), comma-separated or repeated (required)")
	f.StringVar(&client.BaseURL, "judge-endpoint", "https://api.openai.com/v1", "OpenAI-compatible base URL of the judge")
	f.StringVar(&client.APIKey, "judge-api-key", "", "bearer token for the judge (default $OPENAI_API_KEY)")
	f.StringVar(&cfg.JudgeModel, "judge-model", "gpt-4", "judge model name")
	f.IntVar(&cfg.Repeats, "repeats", 1, "judge each item this many times; report the median and range")
	f.IntVar(&cfg.Parallel, "parallel", mtbench.DefaultParallel, "judge requests at once")
	f.IntVar(&client.MaxRetries, "max-retries", mtbench.DefaultMaxRetries, "retries of a request answered 429 or 5xx")
	f.StringVar(&benchDir, "bench-dir", "data/mt_bench", benchDirUsage)
	f.StringVar(&references, "references", "", "reference answers (default BENCH-DIR/reference_answer/gpt-4.jsonl)")
	f.StringVar(&output, "output", "", "judgment file (default BENCH-DIR/model_judgment/JUDGE-MODEL_single.jsonl)")
	cmd.MarkFlagRequired("answers")
	return cmd
}

func newMTBenchShowCmd() *cobra.Command {
	var judgments, benchDir, radar string
	var models []string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print MT-Bench scores per model and category (and a radar chart)",
		Long: `Print first-turn, second-turn and average scores per model, as FastChat's
show_result.py computes them (judgments scored −1 dropped; the average is the
mean of all valid judgments), then the mean score per category. --judgments
is a judgment file or a folder of *_single.jsonl files — FastChat's own
judgment files work too. With --radar, the per-category scores are drawn on a
radar chart PNG.`,
		Example: `  smaug mtbench show
  smaug mtbench show --judgments data/mt_bench/model_judgment/gpt-4_single.jsonl --models smaug-tuned,vicuna-13b-v1.3 --radar mtbench.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if judgments == "" {
				judgments = filepath.Join(benchDir, "model_judgment")
			}
			files := []string{judgments}
			if st, err := os.Stat(judgments); err != nil {
				return err
			} else if st.IsDir() {
				if files, err = filepath.Glob(filepath.Join(judgments, "*_single.jsonl")); err != nil {
					return err
				}
				if len(files) == 0 {
					return fmt.Errorf("%s has no *_single.jsonl judgment files", judgments)
				}
				sort.Strings(files)
			}
			qs, err := mtbench.ReadQuestions(filepath.Join(benchDir, "question.jsonl"))
			if err != nil {
				return err
			}
			var keep map[string]bool
			if len(models) > 0 {
				keep = map[string]bool{}
				for _, m := range models {
					keep[m] = true
				}
			}
			return showJudgments(cmd.OutOrStdout(), files, qs, keep, radar)
		},
	}
	f := cmd.Flags()
	f.StringVar(&judgments, "judgments", "", "judgment file or folder (default BENCH-DIR/model_judgment)")
	f.StringVar(&benchDir, "bench-dir", "data/mt_bench", benchDirUsage)
	f.StringSliceVar(&models, "models", nil, "only these models (comma-separated)")
	f.StringVar(&radar, "radar", "", "also write a radar chart of the category scores to this PNG file")
	return cmd
}

// showJudgments prints the summary of the judgments in files (of the given
// models; all when nil) and draws the radar chart when radar is set.
func showJudgments(w io.Writer, files []string, qs []mtbench.Question, models map[string]bool, radar string) error {
	var all []mtbench.Judgment
	for _, f := range files {
		js, err := mtbench.ReadJudgments(f)
		if err != nil {
			return err
		}
		for _, j := range js {
			if models == nil || models[j.Model] {
				all = append(all, j)
			}
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("no judgments in %s", strings.Join(files, ", "))
	}
	s := mtbench.Summarize(all, qs)
	if err := s.WriteTable(w); err != nil {
		return err
	}
	if radar != "" {
		if err := s.WriteRadarPNG(radar); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nradar chart → %s\n", radar)
	}
	return nil
}
