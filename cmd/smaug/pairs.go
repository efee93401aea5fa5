package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/promptfmt"
	"github.com/smaug-dev/smaug/tokenizer"
)

func init() { rootCmd.AddCommand(newPairsCmd()) }

func newPairsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pairs",
		Short: "Build prompt/chosen/rejected pair datasets and measure their edit distance",
		Long: `pairs builds the pairwise datasets that DPO-style training reads, in the manner
of the Smaug datasets (MetaMath_DPO_FewShot, ARC_DPO_FewShot,
HellaSwag_DPO_FewShot), and reports how far chosen and rejected are apart.

That distance decides whether plain DPO works: when chosen and rejected differ
in a few tokens (MetaMath-style pairs, normalised edit distance of a few
percent), DPO can lower the likelihood of the chosen answer and fail, and DPOP
is the loss to use. Every build prints a statistics report (counts, skipped
rows and why, and the distribution of the normalised character edit distance,
and of the token edit distance with --tokenizer) and saves it as JSON.

Inputs are JSONL, parquet, CSV or llama.cpp HellaSwag text (by extension,
optionally .gz/.bz2); "-" reads JSONL from stdin. Outputs are JSONL (default)
or parquet (.parquet) with the columns prompt, chosen, rejected, source, id;
"-" writes JSONL to stdout. Files are written to a temporary name and renamed
when complete.`,
		Example: `  # MetaMath-style pairs from GSM8K train, two per solution:
  smaug pairs metamath --input gsm8k/train.jsonl --output gsm8k_dpo.jsonl --per-example 2

  # ARC pairs with 25-shot prompts, 5% held out for evaluation:
  smaug pairs arc --input ARC-Challenge-Test.jsonl --output arc_dpo.parquet \
      --shots 25 --fewshot-from ARC-Challenge-Dev.jsonl --eval-fraction 0.05

  # Statistics of an existing pairs file:
  smaug pairs stats MetaMath_DPO_FewShot/train.parquet`,
	}
	cmd.AddCommand(newPairsMetaMathCmd(), newPairsSynthMathCmd(), newPairsStatsCmd())
	for _, t := range mcTasks {
		cmd.AddCommand(newPairsMCCmd(t))
	}
	return cmd
}

// buildFlags are the flags every pair builder takes.
type buildFlags struct {
	inputs       []string
	output       string
	format       string
	fields       []string
	seed         int64
	evalFraction float64
	evalOutput   string
	limit        int
	skipBad      bool
	keepDups     bool
	statsPath    string
	tokenizer    string
	template     string
}

func (f *buildFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.inputs, "input", nil, `input file ("-" for JSONL on stdin); repeat it or use a glob ("mmlu/test/*.csv") for several`)
	fl.StringVar(&f.output, "output", "", `pairs file to write: .jsonl or .parquet ("-" for JSONL on stdout)`)
	fl.StringVar(&f.format, "format", "", "output format, jsonl or parquet (default: from the output name)")
	fl.StringArrayVar(&f.fields, "field", nil, `map a field to your column, as name=column (e.g. --field query=problem); repeatable`)
	fl.Int64Var(&f.seed, "seed", 0, "seed of every random choice (wrong numbers, few-shot samples, eval split)")
	fl.Float64Var(&f.evalFraction, "eval-fraction", 0, "fraction of questions (all pairs of a question together) written to the eval file")
	fl.StringVar(&f.evalOutput, "eval-output", "", `eval split file (default: the output name with ".eval" before its extension)`)
	fl.IntVar(&f.limit, "limit", 0, "read at most this many input rows (0: all)")
	fl.BoolVar(&f.skipBad, "skip-bad-rows", false, "skip rows with a missing field, bad JSON or a wrong label (counted in the report) instead of stopping")
	fl.BoolVar(&f.keepDups, "keep-duplicates", false, "keep exact duplicate pairs (by default they are removed)")
	fl.StringVar(&f.statsPath, "stats", "", `statistics JSON file (default: the output name with ".stats.json" for its extension; none for stdout unless given)`)
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer (tokenizer.json, .model or GGUF) for the token-level edit distance")
	fl.StringVar(&f.template, "prompt-template", "", promptTemplateUsage+"; writes the formatted text (format here or in smaug train, not both)")
	cmd.MarkFlagRequired("input")
	cmd.MarkFlagRequired("output")
}

// withSuffix replaces path's extension (after any .gz/.bz2) by suffix.
func withSuffix(path, suffix string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + suffix
}

// expandInputs resolves globs; a pattern that matches nothing is an error.
func expandInputs(inputs []string) ([]string, error) {
	var out []string
	for _, in := range inputs {
		if in == "-" || !strings.ContainsAny(in, "*?[") {
			if err := resolveDataArg(context.Background(), &in, "train"); err != nil { // a hub dataset id: its train split
				return nil, err
			}
			out = append(out, in)
			continue
		}
		m, err := filepath.Glob(in)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("input %q matches no file", in)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

func loadEncoder(path string) (data.Encoder, error) {
	if path == "" {
		return nil, nil
	}
	t, err := tokenizer.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// rowBuilder turns one input row into pairs, or a reason for none.
type rowBuilder func(row data.Row) (pairs []data.Pair, reason string, err error)

// runBuild streams every input row through build (in parallel, output in
// input order) and writes the pairs, the report and its JSON.
func runBuild(cmd *cobra.Command, name string, f *buildFlags, build rowBuilder) error {
	start := time.Now()
	inputs, err := expandInputs(f.inputs)
	if err != nil {
		return err
	}
	enc, err := loadEncoder(f.tokenizer)
	if err != nil {
		return err
	}
	if f.evalFraction < 0 || f.evalFraction >= 1 {
		return fmt.Errorf("--eval-fraction %v: want 0 <= f < 1", f.evalFraction)
	}
	format, err := promptfmt.Parse(f.template)
	if err != nil {
		return fmt.Errorf("--prompt-template: %w", err)
	}
	stdout := cmd.OutOrStdout()
	out, err := data.CreatePairFile(f.output, data.Format(f.format), stdout)
	if err != nil {
		return err
	}
	var eval *data.PairFile
	if f.evalFraction > 0 {
		ep := f.evalOutput
		if ep == "" {
			if f.output == "-" {
				out.Abort()
				return errors.New("--eval-fraction with --output -: give --eval-output")
			}
			ep = withSuffix(f.output, ".eval"+filepath.Ext(f.output))
		}
		if eval, err = data.CreatePairFile(ep, data.Format(f.format), stdout); err != nil {
			out.Abort()
			return err
		}
	}
	abort := func(err error) error {
		out.Abort()
		if eval != nil {
			eval.Abort()
		}
		return err
	}
	stats := data.NewStatsBuilder("pairs "+name, inputs, enc)
	var dedup *data.Deduper
	if !f.keepDups {
		dedup = data.NewDeduper()
	}
	err = buildParallel(inputs, data.ReadOptions{Stdin: cmd.InOrStdin()}, f.limit, build, func(it *buildItem) error {
		stats.Examples++
		if it.err != nil {
			var re *data.RowError
			if !errors.As(it.err, &re) {
				return it.err
			}
			if !f.skipBad {
				return fmt.Errorf("%w (use --skip-bad-rows to skip such rows)", it.err)
			}
			stats.SkipError(re)
			return nil
		}
		if len(it.pairs) == 0 {
			stats.Skip(it.row.Source, it.row.Line, it.reason)
			return nil
		}
		for i, p := range it.pairs {
			if dedup != nil && dedup.Seen(p) {
				stats.Duplicates++
				continue
			}
			stats.AddPair(p, it.dists[i])
			if p, err = formatPair(p, format); err != nil {
				return err
			}
			if eval != nil && data.InEvalSplit(data.Text(p.Prompt), f.evalFraction, f.seed) {
				stats.EvalPairs++
				if err := eval.Write(p); err != nil {
					return err
				}
				continue
			}
			stats.Pairs++
			if err := out.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return abort(err)
	}
	if err := out.Close(); err != nil {
		return abort(err)
	}
	stats.Output = f.output
	if eval != nil {
		if err := eval.Close(); err != nil {
			return err
		}
		stats.EvalOutput = eval.Path()
	}
	report := stats.Finish(time.Since(start).Seconds())
	return writeReport(cmd, report, f.output, f.statsPath)
}

// writeReport prints the report (to stderr when the pairs go to stdout)
// and saves its JSON.
func writeReport(cmd *cobra.Command, r data.Report, output, statsPath string) error {
	w := cmd.OutOrStdout()
	if output == "-" {
		w = cmd.ErrOrStderr()
	}
	if statsPath == "" && output != "-" && output != "" {
		statsPath = withSuffix(output, ".stats.json")
	}
	if err := r.WriteText(w); err != nil {
		return err
	}
	if statsPath == "" {
		return nil
	}
	if err := r.WriteJSON(statsPath); err != nil {
		return err
	}
	fmt.Fprintf(w, "statistics saved to %s\n", statsPath)
	return nil
}

func newPairsMetaMathCmd() *cobra.Command {
	var f buildFlags
	var perExample, shots int
	var fewshotFrom []string
	cmd := &cobra.Command{
		Use:   "metamath",
		Short: "Pairs from step-by-step math solutions with one intermediate result made wrong",
		Long: `metamath builds MetaMath_DPO_FewShot-style pairs: prompt = the question, chosen
= the original step-by-step solution, rejected = the same text with the result
of one intermediate calculation replaced by a wrong number. Everything after
that number, the final answer included, is left unchanged.

Calculations are found in GSM8K's calculator annotations ("48/2 = <<48/2=24>>24":
the 24 after the annotation is changed) and in free text ("a op b = c",
chains, decimals, "$" amounts, percentages, thousands separators), and a
free-text calculation counts only when its left side evaluates to its result.
A calculation whose result equals the final answer ("#### N" or
"The answer is: N") is not intermediate and is never changed. The wrong
number is plausible: the same sign, number of digits, decimals and separators,
and near the right value. Solutions without an intermediate calculation are
skipped and counted in the report. The same --seed gives the same pairs.

Reads MetaMathQA (query, response) and GSM8K (question, answer) layouts; map
other column names with --field query=COL --field response=COL.

--shots N --fewshot-from FILE writes prompts in the lm-evaluation-harness
GSM8K few-shot layout (the Open LLM Leaderboard's 5-shot GSM8K): N examples
from FILE, each "Question: " + question + "\nAnswer: " + its full solution,
joined by blank lines, then a blank line and "Question: " + the question +
"\nAnswer:"; completions are " " + solution. The examples are drawn as
"smaug pairs arc --shots" draws them: a sample seeded by --seed and the
row's id, never the row itself (the same question in FILE is skipped). Such
rows hold the whole formatted prompt: train them with the raw template
(smaug train's default), as the multiple-choice builders' rows are;
--prompt-template other than raw is refused with --shots, since it would
wrap the few-shot context a second time.`,
		Example: `  smaug pairs metamath --input gsm8k/train.jsonl --output gsm8k_dpo.jsonl
  smaug pairs metamath --input MetaMathQA-395K.json --output metamath_dpo.parquet \
      --per-example 2 --eval-fraction 0.0025 --seed 7
  smaug pairs metamath --input mine.parquet --field query=problem --field response=solution --output -
  # 5-shot GSM8K prompts, examples from the same file (never the row itself):
  smaug pairs metamath --input gsm8k/train.jsonl --output gsm8k_5shot_dpo.jsonl \
      --shots 5 --fewshot-from gsm8k/train.jsonl --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fields, err := data.ParseFieldMap(f.fields)
			if err != nil {
				return err
			}
			if perExample < 1 {
				return fmt.Errorf("--per-example %d: want at least 1", perExample)
			}
			if shots < 0 {
				return fmt.Errorf("--shots %d: want at least 0", shots)
			}
			if shots > 0 && len(fewshotFrom) == 0 {
				return fmt.Errorf("--shots %d needs --fewshot-from", shots)
			}
			if shots > 0 && f.template != "" && f.template != "raw" {
				return fmt.Errorf("--shots %d writes prompts in the GSM8K few-shot layout already; --prompt-template %q would format them again (leave it raw)", shots, f.template)
			}
			pool, err := loadFewShot(data.TaskGSM8K, fewshotFrom, func(row data.Row) (data.MCItem, error) {
				return data.MathItem(row, fields)
			}, f.skipBad, cmd.InOrStdin())
			if err != nil {
				return err
			}
			opts := data.MathOptions{Fields: fields, PerExample: perExample, Seed: f.seed, Shots: shots, FewShot: pool}
			return runBuild(cmd, "metamath", &f, func(row data.Row) ([]data.Pair, string, error) {
				return data.MathPairs(row, opts)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&perExample, "per-example", 1, "pairs per solution, each corrupting a different calculation while there are enough")
	cmd.Flags().IntVar(&shots, "shots", 0, "few-shot examples in each prompt (GSM8K layout; needs --fewshot-from)")
	cmd.Flags().StringArrayVar(&fewshotFrom, "fewshot-from", nil, "file(s) (or globs) the few-shot examples come from, e.g. GSM8K train")
	return cmd
}

var mcTasks = []struct {
	task          data.Task
	short, layout string
	example       string
}{
	{data.TaskARC, "ARC pairs: one per wrong option, prompt \"Question: …\\nAnswer:\"",
		"Hugging Face (question, choices{text,label}, answerKey), the original release\n(question{stem,choices}, answerKey) or llm-foundry ICL (query, choices, gold).\nPrompt: \"Question: \" + question + \"\\nAnswer:\"; completions \" \" + option.",
		"  smaug pairs arc --input ARC-Challenge-Test.jsonl --output arc_dpo.jsonl \\\n      --shots 25 --fewshot-from ARC-Challenge-Dev.jsonl"},
	{data.TaskHellaSwag, "HellaSwag pairs: one per wrong ending, in the harness's preprocessed format",
		"Hugging Face (activity_label, ctx_a, ctx_b, endings, label) or llama.cpp text\n(.txt, six lines per item). Prompt: preprocess(activity_label + \": \" + ctx_a\n+ \" \" + capitalize(ctx_b)); completions \" \" + preprocess(ending). llama.cpp text\nkeeps only ctx_a + \" \" + ctx_b; ctx_b is recovered as the lower-case unfinished\nlast sentence.",
		"  smaug pairs hellaswag --input hellaswag_val_full.txt.bz2 --output hellaswag_dpo.jsonl\n  smaug pairs hellaswag --input hellaswag/train.parquet --output hs.parquet --shots 10 \\\n      --fewshot-from hellaswag/train.parquet"},
	{data.TaskMMLU, "MMLU pairs: prompt with lettered options, completions \" A\"…\" D\"",
		"Hugging Face (question, choices, answer, subject) or per-subject CSVs\n(question, choice0..choice3, answer; subject from \"<subject>_test.csv\").\nPrompt: the subject's description, the first --shots dev questions in order,\nthen \"{question}\\nA. …\\nB. …\\nC. …\\nD. …\\nAnswer:\".",
		"  smaug pairs mmlu --input 'mmlu/test/*.csv' --fewshot-from 'mmlu/dev/*.csv' --shots 5 \\\n      --output mmlu_dpo.jsonl"},
	{data.TaskWinogrande, "Winogrande pairs: the blank filled with the right and the wrong option",
		"Hugging Face (sentence, option1, option2, answer) or llm-foundry ICL\n(context_options, continuation, gold). Partial scoring: the prompt is the\nsentence before the blank; chosen and rejected are each option followed by\nthe rest of the sentence.",
		"  smaug pairs winogrande --input winogrande.jsonl --output wg_dpo.jsonl --shots 5 \\\n      --fewshot-from winogrande_train.jsonl"},
	{data.TaskMC, "Generic multiple-choice pairs (query, choices, gold)",
		"llm-foundry ICL multiple choice: query (used verbatim as the prompt), choices,\ngold (an index or a letter); completions --delimiter + choice.",
		"  smaug pairs mc --input piqa.jsonl --output piqa_dpo.jsonl\n  smaug pairs mc --input mine.jsonl --field query=prompt --field choices=options --field gold=label --output -"},
}

func newPairsMCCmd(t struct {
	task          data.Task
	short, layout string
	example       string
}) *cobra.Command {
	var f buildFlags
	var shots int
	var fewshotFrom []string
	var delimiter string
	cmd := &cobra.Command{
		Use:   string(t.task),
		Short: t.short,
		Long: t.short + `.

Reads ` + t.layout + `

One pair per incorrect option: chosen = the correct option, rejected = the
incorrect one, so a 4-option question gives 3 pairs. The prompt is the
evaluation prompt of the Open LLM Leaderboard v1 (lm-evaluation-harness),
with --shots examples from --fewshot-from joined by blank lines, so training
and evaluation prompts agree. Trailing whitespace of the prompt moves to the
start of both completions, as the harness moves it to the continuation.`,
		Example: t.example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fields, err := data.ParseFieldMap(f.fields)
			if err != nil {
				return err
			}
			opts := data.MCOptions{Fields: fields, Delimiter: delimiter}
			if shots > 0 && len(fewshotFrom) == 0 {
				return fmt.Errorf("--shots %d needs --fewshot-from", shots)
			}
			pool, err := loadFewShot(t.task, fewshotFrom, func(row data.Row) (data.MCItem, error) {
				return data.DecodeMC(t.task, row, opts)
			}, f.skipBad, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return runBuild(cmd, string(t.task), &f, func(row data.Row) ([]data.Pair, string, error) {
				it, err := data.DecodeMC(t.task, row, opts)
				if err != nil {
					return nil, "", err
				}
				return data.MCPairs(it, pool.Prefix(it, shots, f.seed), string(t.task)+":"+filepath.Base(row.Source)), "", nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&shots, "shots", 0, "few-shot examples in each prompt")
	cmd.Flags().StringArrayVar(&fewshotFrom, "fewshot-from", nil, "file(s) (or globs) the few-shot examples come from, e.g. the train or dev split")
	if t.task == data.TaskMC {
		cmd.Flags().StringVar(&delimiter, "delimiter", " ", "text between the query and each choice")
	}
	return cmd
}

// loadFewShot reads the few-shot examples of files (globs allowed) with
// decode; with skipBad, rows decode rejects as bad input are left out.
func loadFewShot(task data.Task, files []string, decode func(data.Row) (data.MCItem, error), skipBad bool, stdin io.Reader) (*data.FewShotPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	paths, err := expandInputs(files)
	if err != nil {
		return nil, err
	}
	var items []data.MCItem
	for _, p := range paths {
		rows, _, err := data.ReadAllRows(p, data.ReadOptions{Stdin: stdin}, skipBad)
		if err != nil {
			return nil, fmt.Errorf("few-shot examples: %w", err)
		}
		for _, row := range rows {
			it, err := decode(row)
			if err != nil {
				var re *data.RowError
				if skipBad && errors.As(err, &re) {
					continue
				}
				return nil, fmt.Errorf("few-shot examples: %w", err)
			}
			items = append(items, it)
		}
	}
	return data.NewFewShotPool(task, items), nil
}

func newPairsStatsCmd() *cobra.Command {
	var fields []string
	var tok, jsonPath string
	var skipBad bool
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Edit-distance statistics of an existing pairs file",
		Long: `stats reads a pairs file (JSONL or parquet with prompt, chosen and rejected,
strings or message lists) and reports the distribution (mean, median, p10,
p90, histogram) of the normalised edit distance between chosen and rejected:
character Levenshtein distance divided by the longer length, and the same over
token ids with --tokenizer. Message lists are compared as their contents
joined by newlines.

A median of a few percent means MetaMath-like pairs, on which DPO can fail
and DPOP is needed; ARC-like pairs sit near 90%.`,
		Example: `  smaug pairs stats MetaMath_DPO_FewShot/train.parquet
  smaug pairs stats pairs.jsonl --tokenizer llama3/tokenizer.json --json pairs.stats.json
  smaug pairs stats mine.jsonl --field chosen=better --field rejected=worse`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fm, err := data.ParseFieldMap(fields)
			if err != nil {
				return err
			}
			enc, err := loadEncoder(tok)
			if err != nil {
				return err
			}
			start := time.Now()
			r, err := data.FileStats(args[0], fm, enc, skipBad)
			if err != nil {
				return err
			}
			r.Seconds = time.Since(start).Seconds()
			if r.Seconds > 0 {
				r.RowsPerSecond = float64(r.Examples) / r.Seconds
			}
			return writeReport(cmd, r, "", jsonPath)
		},
	}
	cmd.Flags().StringArrayVar(&fields, "field", nil, "map prompt, chosen or rejected to your column, as name=column; repeatable")
	cmd.Flags().StringVar(&tok, "tokenizer", "", "tokenizer (tokenizer.json, .model or GGUF) for the token-level edit distance")
	cmd.Flags().StringVar(&jsonPath, "json", "", "also save the statistics as JSON here")
	cmd.Flags().BoolVar(&skipBad, "skip-bad-rows", false, "count unreadable rows as skipped instead of stopping")
	return cmd
}

func newPairsSynthMathCmd() *cobra.Command {
	var n int
	var seed int64
	var output string
	cmd := &cobra.Command{
		Use:   "synth-math",
		Short: "Generate GSM8K-style arithmetic word problems (no external data)",
		Long: `synth-math writes generated arithmetic word problems in GSM8K's layout: JSONL
rows with "question" and "answer", the answer a step-by-step solution with
calculator annotations ("12 * 3 = <<12*3=36>>36") and a final "#### N" line.
Three templates, 1–4 steps, whole numbers, every result between 1 and 999,
a small vocabulary; the same --seed gives the same problems. Pipe them into
"smaug pairs metamath" to get pairs for a demo or a test.`,
		Example: `  smaug pairs synth-math --n 1000 --output synth.jsonl
  smaug pairs synth-math --n 200 --seed 3 --output - | smaug pairs metamath --input - --output synth_dpo.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 {
				return fmt.Errorf("--n %d: want at least 1", n)
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			for _, p := range data.SynthMath(n, seed) {
				row := struct {
					Question string `json:"question"`
					Answer   string `json:"answer"`
				}{p.Question, p.Answer}
				if err := enc.Encode(row); err != nil {
					return err
				}
			}
			if output == "-" {
				_, err := cmd.OutOrStdout().Write(b.Bytes())
				return err
			}
			if err := atomicfile.WriteFile(output, b.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d problems to %s\n", n, output)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "n", 1000, "number of problems")
	cmd.Flags().Int64Var(&seed, "seed", 0, "generator seed")
	cmd.Flags().StringVar(&output, "output", "", `JSONL file to write ("-" for stdout)`)
	cmd.MarkFlagRequired("output")
	return cmd
}

// formatPair applies the prompt template to a text pair; a template other
// than raw on a pair of messages is an error.
func formatPair(p data.Pair, f *promptfmt.Format) (data.Pair, error) {
	if f.IsRaw() {
		return p, nil
	}
	prompt, ok1 := p.Prompt.(string)
	chosen, ok2 := p.Chosen.(string)
	rejected, ok3 := p.Rejected.(string)
	if !ok1 || !ok2 || !ok3 {
		return p, fmt.Errorf("%s:%d: --prompt-template formats text pairs; this pair holds messages (they get the chat template in smaug train)", p.Source, p.Line)
	}
	var err error
	if p.Prompt, err = f.Prompt(prompt, nil); err != nil {
		return p, fmt.Errorf("%s:%d: %w", p.Source, p.Line, err)
	}
	p.Chosen, p.Rejected = f.Completion(chosen), f.Completion(rejected)
	return p, nil
}
