package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/train"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newLogprobsCmd()) }

func newLogprobsCmd() *cobra.Command {
	var modelDir, refDir, dataPath, outPath, dtype string
	var batchSize int
	var noShare bool
	cmd := &cobra.Command{
		Use:   "logprobs",
		Short: "Score completions: sequence and per-token log-probs of chosen/rejected given the prompt",
		Long: `Score each row of a JSONL file with a model (and optionally a reference model).

Each input row needs "prompt_ids" and "chosen_ids" (lists of token ids) and
may have "rejected_ids". Every field of the row is kept; the output adds

  chosen_logp, rejected_logp              log π(completion | prompt): the sum of the
                                          log-softmax of each completion token
  chosen_token_logps, rejected_token_logps  the per-token values
  ref_chosen_logp, ref_rejected_logp      the same under --ref-model

Prompt tokens and padding are excluded, as in TRL. Results do not depend on
--batch-size, nor on --no-share-prefix (by default a prefix common to several
sequences of a batch, such as a row's prompt, runs once; the flag runs every
sequence whole, for comparison). --dtype BF16 holds the weights in bfloat16: half the memory,
the same results for a checkpoint stored in BF16. The output is written to
a temporary file and renamed, so a failed run leaves nothing half-written.`,
		Example: `  smaug logprobs --model ./policy --ref-model ./ref --data pairs.jsonl --out scored.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(resolveModelArg(cmd.Context(), &modelDir), resolveModelArg(cmd.Context(), &refDir)); err != nil {
				return err
			}
			return runLogprobs(modelDir, refDir, dataPath, outPath, dtype, batchSize, noShare)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "Hugging Face model folder (config.json + safetensors) (required)")
	f.StringVar(&refDir, "ref-model", "", "reference model folder; adds ref_chosen_logp and ref_rejected_logp")
	f.StringVar(&dataPath, "data", "", "input JSONL with prompt_ids, chosen_ids and optionally rejected_ids (required)")
	f.StringVar(&outPath, "out", "", "output JSONL (required)")
	f.IntVar(&batchSize, "batch-size", 8, "sequences scored together")
	f.BoolVar(&noShare, "no-share-prefix", false, "run every sequence whole instead of running prefixes common to several (a row's prompt) once; same results, more work")
	f.StringVar(&dtype, "dtype", "F32", dtypeUsage)
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("data")
	cmd.MarkFlagRequired("out")
	return cmd
}

// idRow is one input row: its raw fields plus the parsed id lists.
type idRow struct {
	fields                   map[string]json.RawMessage
	prompt, chosen, rejected []int
	hasRejected              bool
	line                     int // line in the input file
}

func readIDRows(path string) ([]idRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a JSONL file", path)
	}
	var rows []idRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff")) // a byte order mark
		}
		if len(trimSpace(b)) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("%s:%d: invalid UTF-8: the file must be UTF-8 text", path, line)
		}
		r := idRow{line: line}
		if err := json.Unmarshal(b, &r.fields); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		get := func(name string, required bool) ([]int, bool, error) {
			raw, ok := r.fields[name]
			if ok && string(raw) == "null" {
				if required {
					return nil, false, fmt.Errorf("%s:%d: field %q is null", path, line, name)
				}
				return nil, false, nil
			}
			if !ok {
				if required {
					return nil, false, fmt.Errorf("%s:%d: missing field %q", path, line, name)
				}
				return nil, false, nil
			}
			var ids []int
			if err := json.Unmarshal(raw, &ids); err != nil {
				return nil, false, fmt.Errorf("%s:%d: field %q: want a list of token ids: %w", path, line, name, err)
			}
			if len(ids) == 0 {
				return nil, false, fmt.Errorf("%s:%d: field %q is empty", path, line, name)
			}
			return ids, true, nil
		}
		if r.prompt, _, err = get("prompt_ids", true); err != nil {
			return nil, err
		}
		if r.chosen, _, err = get("chosen_ids", true); err != nil {
			return nil, err
		}
		if r.rejected, r.hasRejected, err = get("rejected_ids", false); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return rows, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// scoreRows adds "<prefix>chosen_logp" etc. to every row using m, scoring
// about batchSize sequences at a time in train.PairItems' layout (a row's
// rejected completion, when it has one, in the same batch as its chosen).
func scoreRows(m *model.Model, rows []idRow, prefix string, perToken bool, batchSize int, progress func(int)) error {
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
			exs[i] = train.Example{Prompt: r.prompt, Chosen: r.chosen, Rejected: r.rejected}
		}
		items, rejected := train.PairItems(exs)
		s, err := m.LogProbs(nil, items)
		if err != nil {
			return &data.RowError{Line: rows[lo].line, Err: err}
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
					return &data.RowError{Line: rows[lo+i].line, Field: c.field + "_ids", Err: err}
				}
				f[prefix+c.field+"_logp"] = mustJSON(s.Seq.Data[c.at])
				if perToken {
					f[c.field+"_token_logps"] = mustJSON(s.Tokens[c.at])
				}
			}
		}
		progress(seqs)
		lo = hi
	}
	return nil
}

// rowSeqs is the number of sequences a row puts through the model.
func rowSeqs(r idRow) int {
	if r.hasRejected {
		return 2
	}
	return 1
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

// checkRowIDs checks every row's ids against the model's vocabulary, so a
// bad id is reported with its line before any scoring.
func checkRowIDs(path string, rows []idRow, vocab int) error {
	for _, r := range rows {
		for _, f := range []struct {
			name string
			ids  []int
		}{{"prompt_ids", r.prompt}, {"chosen_ids", r.chosen}, {"rejected_ids", r.rejected}} {
			for _, id := range f.ids {
				if id < 0 || id >= vocab {
					return fmt.Errorf("%s:%d: field %q: token id %d is outside the model's vocabulary (0..%d)", path, r.line, f.name, id, vocab-1)
				}
			}
		}
	}
	return nil
}

// atLine names the input file in a row error from scoreRows.
func atLine(path string, err error) error {
	var re *data.RowError
	if errors.As(err, &re) {
		re.Source = path
		return re
	}
	return fmt.Errorf("%s: %w", path, err)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func runLogprobs(modelDir, refDir, dataPath, outPath, dtype string, batchSize int, noShare bool) error {
	rows, err := readIDRows(dataPath)
	if err != nil {
		return err
	}
	m, err := loadInference(modelDir, dtype)
	if err != nil {
		return err
	}
	defer m.Close()
	m.NoSharePrefix = noShare
	if err := checkRowIDs(dataPath, rows, m.Config.VocabSize); err != nil {
		return err
	}
	total := 0
	for _, r := range rows {
		total += rowSeqs(r)
	}
	bar := newBar(total, "policy")
	if err := scoreRows(m, rows, "", true, batchSize, func(n int) { bar.Add(n) }); err != nil {
		return atLine(dataPath, err)
	}
	bar.Finish()
	if refDir != "" {
		ref, err := loadInference(refDir, dtype)
		if err != nil {
			return err
		}
		defer ref.Close()
		ref.NoSharePrefix = noShare
		bar := newBar(total, "reference")
		if err := checkRowIDs(dataPath, rows, ref.Config.VocabSize); err != nil {
			return err
		}
		if err := scoreRows(ref, rows, "ref_", false, batchSize, func(n int) { bar.Add(n) }); err != nil {
			return atLine(dataPath, err)
		}
		bar.Finish()
	}
	return atomicfile.Write(outPath, func(w io.Writer) error {
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
	})
}
