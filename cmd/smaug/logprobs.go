package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/train"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newLogprobsCmd()) }

// logprobsArgs are the settings of smaug logprobs.
type logprobsArgs struct {
	modelDir, refDir, dataPath, outPath, dtype string
	compute                                    dtype.DType
	tokenizer, promptTemplate                  string
	chatTemplate, noShare                      bool
	batchSize                                  int
}

func newLogprobsCmd() *cobra.Command {
	var a logprobsArgs
	cmd := &cobra.Command{
		Use:   "logprobs",
		Short: "Score completions: sequence and per-token log-probs of chosen/rejected given the prompt",
		Long: `Score each row of a data file with a model (and optionally a reference model).

The data is what smaug train reads (JSONL or parquet): prompt/chosen/rejected
as strings (tokenised with the model's tokenizer, formatted with
--prompt-template) or message lists (rendered with the chat template, as
TRL does), or prompt_ids/chosen_ids/rejected_ids. The rejected completion
may be left out. Every field of the row is kept; the output adds

  chosen_logp, rejected_logp              log π(completion | prompt): the sum of the
                                          log-softmax of each completion token
  chosen_token_logps, rejected_token_logps  the per-token values
  ref_chosen_logp, ref_rejected_logp      the same under --ref-model

Prompt tokens and padding are excluded, as in TRL; nothing is truncated.
Results do not depend on --batch-size, nor on --no-share-prefix (by default a
prefix common to several sequences of a batch, such as a row's prompt, runs
once; the flag runs every sequence whole, for comparison). --dtype BF16 holds the weights in
bfloat16: half the memory, the same results for a checkpoint stored in BF16.
--compute-dtype BF16 runs the matrix products with bfloat16 operands and
float32 sums, as torch autocast does (faster where the CPU has AVX512-BF16;
the log-probs move by the bfloat16 rounding, measured in the README).
A summary line (rows, means, how often chosen beats rejected) ends the run.
The output is written to a temporary file and renamed, so a failed run
leaves nothing half-written.`,
		Example: `  smaug logprobs --model ./policy --ref-model ./ref --data pairs.jsonl --output scored.jsonl
  smaug logprobs --model runs/dpop --data metamath.jsonl --prompt-template gsm8k --output scored.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(resolveModelArg(cmd.Context(), &a.modelDir), resolveModelArg(cmd.Context(), &a.refDir)); err != nil {
				return err
			}
			return runLogprobs(cmd.OutOrStdout(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.modelDir, "model", "", "Hugging Face model folder (config.json + safetensors), hub repo id or .gguf file (required)")
	f.StringVar(&a.refDir, "ref-model", "", "reference model (folder, hub repo id or .gguf file); adds ref_chosen_logp and ref_rejected_logp")
	f.StringVar(&a.dataPath, "data", "", "data in smaug train's layouts: JSONL or parquet (required)")
	f.StringVar(&a.outPath, "output", "", "output JSONL (required)")
	f.StringVar(&a.tokenizer, "tokenizer", "", "tokenizer for text rows (default: the model folder)")
	f.StringVar(&a.promptTemplate, "prompt-template", "", promptTemplateUsage)
	f.BoolVar(&a.chatTemplate, "chat-template", false, chatTemplateUsage)
	f.IntVar(&a.batchSize, "batch-size", 8, "sequences scored together")
	f.BoolVar(&a.noShare, "no-share-prefix", false, "run every sequence whole instead of running prefixes common to several (a row's prompt) once; same results, more work")
	f.StringVar(&a.dtype, "dtype", "F32", dtypeUsage)
	f.Var(&a.compute, "compute-dtype", computeDTypeUsage)
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("data")
	cmd.MarkFlagRequired("output")
	return cmd
}

// scoredRow is one input row: its fields, to which the scores are added,
// and its example.
type scoredRow struct {
	fields map[string]any
	ex     train.Example
}

// readScoreRows reads the data file as smaug train does (train.LoadExamples,
// the rejected completion optional, no truncation) and keeps each row's
// fields for the output.
func readScoreRows(a logprobsArgs) ([]scoredRow, error) {
	lo := train.LoadOptions{Mode: train.Preference, MaxLength: math.MaxInt, MaxPromptLength: math.MaxInt - 1, OptionalRejected: true}
	if err := textSupport(&lo, a.tokenizer, a.modelDir, a.promptTemplate, a.chatTemplate); err != nil {
		return nil, err
	}
	exs, _, err := train.LoadExamples(a.dataPath, lo)
	if err != nil {
		return nil, &flagError{dataTerms.Replace(err.Error()), err}
	}
	rr, err := data.OpenRows(a.dataPath, data.ReadOptions{})
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	rows := make([]scoredRow, 0, len(exs))
	for {
		row, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, scoredRow{fields: row.Fields})
	}
	if len(rows) != len(exs) {
		return nil, fmt.Errorf("%s: %d rows but %d examples", a.dataPath, len(rows), len(exs))
	}
	for i := range rows {
		rows[i].ex = exs[i]
	}
	return rows, nil
}

// scoreRows adds "<prefix>chosen_logp" etc. to every row using m, scoring
// about batchSize sequences at a time in train.PairItems' layout (a row's
// rejected completion, when it has one, in the same batch as its chosen).
func scoreRows(m *model.Model, rows []scoredRow, prefix string, perToken bool, batchSize int, progress func(int)) error {
	batchSize = max(batchSize, 1)
	for lo := 0; lo < len(rows); {
		// Rows while their sequences fit in batchSize (at least one row).
		hi, seqs := lo, 0
		for hi < len(rows) && (hi == lo || seqs+rowSeqs(rows[hi]) <= batchSize) {
			seqs += rowSeqs(rows[hi])
			hi++
		}
		exs := make([]train.Example, hi-lo)
		for i, r := range rows[lo:hi] {
			exs[i] = r.ex
		}
		items, rejected := train.PairItems(exs)
		s, err := m.LogProbs(nil, items)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", rows[lo].ex.Source, rows[lo].ex.Line, err)
		}
		for i := range exs {
			f := rows[lo+i].fields
			for _, c := range []struct {
				field string
				at    int
			}{{"chosen", i}, {"rejected", rejected[i]}} {
				if c.at < 0 {
					continue
				}
				if err := finiteScores(s.Seq.Data[c.at], s.Tokens[c.at]); err != nil {
					r := rows[lo+i]
					return fmt.Errorf("%s:%d: field %q: %w", r.ex.Source, r.ex.Line, r.fieldName(c.field), err)
				}
				f[prefix+c.field+"_logp"] = float64(s.Seq.Data[c.at])
				if perToken {
					f[c.field+"_token_logps"] = s.Tokens[c.at]
				}
			}
		}
		progress(seqs)
		lo = hi
	}
	return nil
}

// finiteScores refuses a NaN or infinite log-prob, which only a model with
// non-finite weights produces (JSON cannot hold it either).
func finiteScores(seq float32, tokens []float32) error {
	bad := func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }
	pos := -1
	for i, v := range tokens {
		if bad(v) {
			pos = i
			break
		}
	}
	if pos < 0 && !bad(seq) {
		return nil
	}
	what := fmt.Sprintf("sequence log-prob %v", seq)
	if pos >= 0 {
		what = fmt.Sprintf("%v at completion token %d", tokens[pos], pos)
	}
	return fmt.Errorf("non-finite log-prob (%s): the model's weights are not finite — was it trained with too high a learning rate?", what)
}

// checkRowIDs checks every row's token ids against the model's vocabulary,
// so a bad id is reported with its file line before any scoring.
func checkRowIDs(rows []scoredRow, vocab int) error {
	for _, r := range rows {
		for _, f := range []struct {
			name string
			ids  []int
		}{{"prompt", r.ex.Prompt}, {"chosen", r.ex.Chosen}, {"rejected", r.ex.Rejected}} {
			f.name = r.fieldName(f.name)
			for _, id := range f.ids {
				if id < 0 || id >= vocab {
					return fmt.Errorf("%s:%d: field %q: token id %d is outside the model's vocabulary (0..%d)", r.ex.Source, r.ex.Line, f.name, id, vocab-1)
				}
			}
		}
	}
	return nil
}

// fieldName is the row's field for a part (prompt, chosen, rejected): the
// _ids field when the row gives token ids, else the text field.
func (r scoredRow) fieldName(part string) string {
	if _, ok := r.fields[part+"_ids"]; ok {
		return part + "_ids"
	}
	return part
}

// rowSeqs is the number of sequences a row puts through the model.
func rowSeqs(r scoredRow) int {
	if r.ex.Rejected != nil {
		return 2
	}
	return 1
}

func runLogprobs(stdout io.Writer, a logprobsArgs) error {
	rows, err := readScoreRows(a)
	if err != nil {
		return err
	}
	if err := model.CheckCompute(a.compute); err != nil {
		return fmt.Errorf("--compute-dtype: %w", err)
	}
	m, err := loadInference(a.modelDir, a.dtype)
	if err != nil {
		return err
	}
	defer m.Close()
	m.NoSharePrefix, m.ComputeDType = a.noShare, a.compute
	if err := checkRowIDs(rows, m.Config.VocabSize); err != nil {
		return err
	}
	total := 0
	for _, r := range rows {
		total += rowSeqs(r)
	}
	bar := newBar(total, "policy")
	if err := scoreRows(m, rows, "", true, a.batchSize, func(n int) { bar.Add(n) }); err != nil {
		return err
	}
	bar.Finish()
	if a.refDir != "" {
		ref, err := loadInference(a.refDir, a.dtype)
		if err != nil {
			return err
		}
		defer ref.Close()
		ref.NoSharePrefix, ref.ComputeDType = a.noShare, a.compute
		if err := checkRowIDs(rows, ref.Config.VocabSize); err != nil {
			return err
		}
		bar := newBar(total, "reference")
		if err := scoreRows(ref, rows, "ref_", false, a.batchSize, func(n int) { bar.Add(n) }); err != nil {
			return err
		}
		bar.Finish()
	}
	if err := atomicfile.Write(a.outPath, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, r := range rows {
			b, err := json.Marshal(r.fields)
			if err != nil {
				return err
			}
			bw.Write(b)
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, scoreSummary(rows, a))
	return nil
}

// scoreSummary is the line that ends smaug logprobs: what was read and
// written, the mean log-probs, and how often chosen beats rejected (and,
// with a reference, the mean implicit reward margin).
func scoreSummary(rows []scoredRow, a logprobsArgs) string {
	var chosen, rejected, margin float64
	var pairs, wins, tokens int
	for _, r := range rows {
		c := r.fields["chosen_logp"].(float64)
		chosen += c
		tokens += len(r.ex.Chosen) + len(r.ex.Rejected)
		if v, ok := r.fields["rejected_logp"].(float64); ok {
			pairs++
			rejected += v
			if c > v {
				wins++
			}
			if a.refDir != "" {
				margin += (c - r.fields["ref_chosen_logp"].(float64)) - (v - r.fields["ref_rejected_logp"].(float64))
			}
		}
	}
	n := float64(len(rows))
	s := fmt.Sprintf("scored %d rows (%d completion tokens) of %s with %s into %s: mean chosen logp %.4f", len(rows), tokens, a.dataPath, a.modelDir, a.outPath, chosen/n)
	if pairs > 0 {
		s += fmt.Sprintf(", mean rejected logp %.4f, chosen > rejected in %d of %d pairs", rejected/float64(pairs), wins, pairs)
		if a.refDir != "" {
			s += fmt.Sprintf(", mean log-ratio margin vs %s %.4f", a.refDir, margin/float64(pairs))
		}
	}
	return s
}
