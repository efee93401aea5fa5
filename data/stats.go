package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io"
	"math"
	"sort"
	"strings"
)

// HistogramBins is the most equal-width bins of the reported edit-distance
// histograms (their range and width follow the data: Distribution.Summarize).
const HistogramBins = 20

// maxSkipExamples is how many skipped rows a Report lists by location.
const maxSkipExamples = 20

// Report is the statistics of one pairs run or pairs file.
type Report struct {
	Command string   `json:"command"`
	Inputs  []string `json:"inputs"`
	Output  string   `json:"output,omitempty"`
	// EvalOutput is the evaluation split's file, when there is one.
	EvalOutput string `json:"eval_output,omitempty"`
	// Examples is the number of input rows read (questions, solutions,
	// or pairs for stats).
	Examples int `json:"examples"`
	// Pairs and EvalPairs count the pairs written to each split.
	Pairs     int `json:"pairs"`
	EvalPairs int `json:"eval_pairs"`
	// Duplicates counts exact duplicate pairs left out.
	Duplicates int `json:"duplicates"`
	// Skipped counts the rows that gave no pair, by reason.
	Skipped map[string]int `json:"skipped"`
	// SkippedRows lists the first skipped rows as "file:line: reason".
	SkippedRows []string `json:"skipped_rows,omitempty"`
	// CharEditDistance is the distribution of character Levenshtein
	// distance between chosen and rejected over the longer length.
	CharEditDistance Summary `json:"char_edit_distance"`
	// TokenEditDistance is the same over token ids, when a tokenizer was
	// given.
	TokenEditDistance *Summary `json:"token_edit_distance,omitempty"`
	Seconds           float64  `json:"seconds"`
	RowsPerSecond     float64  `json:"rows_per_second"`
}

// StatsBuilder accumulates a Report.
type StatsBuilder struct {
	Report
	chars, tokens Distribution
	enc           Encoder
}

// NewStatsBuilder starts a report; enc may be nil (no token-level
// distance).
func NewStatsBuilder(command string, inputs []string, enc Encoder) *StatsBuilder {
	return &StatsBuilder{Report: Report{Command: command, Inputs: inputs, Skipped: map[string]int{}}, enc: enc}
}

// CharDistance is the normalised character edit distance between a
// pair's chosen and rejected texts.
func CharDistance(p Pair) float64 {
	return NormalizedEditDistance(Text(p.Chosen), Text(p.Rejected))
}

// AddPair records the edit distances of a pair that was kept. charDist is
// CharDistance(p), which callers may compute in parallel; the token-level
// distance is computed here, one pair at a time.
func (s *StatsBuilder) AddPair(p Pair, charDist float64) {
	s.chars.Add(charDist)
	if s.enc != nil {
		s.tokens.Add(NormalizedTokenEditDistance(s.enc.Encode(Text(p.Chosen), false), s.enc.Encode(Text(p.Rejected), false)))
	}
}

// Skip records a row that gave no pair.
func (s *StatsBuilder) Skip(source string, line int, reason string) {
	s.Skipped[reason]++
	if len(s.SkippedRows) < maxSkipExamples {
		s.SkippedRows = append(s.SkippedRows, fmt.Sprintf("%s:%d: %s", source, line, reason))
	}
}

// SkipError records a bad row; its reason is the error with the location
// taken off, so that equal problems are counted together.
func (s *StatsBuilder) SkipError(err *RowError) {
	reason := err.Err.Error()
	if err.Field != "" {
		reason = fmt.Sprintf("field %q: %s", err.Field, reason)
	}
	s.Skipped[reason]++
	if len(s.SkippedRows) < maxSkipExamples {
		s.SkippedRows = append(s.SkippedRows, err.Error())
	}
}

// Finish fills in the distributions and the timing.
func (s *StatsBuilder) Finish(seconds float64) Report {
	r := s.Report
	r.CharEditDistance = s.chars.Summarize(HistogramBins)
	if s.enc != nil {
		t := s.tokens.Summarize(HistogramBins)
		r.TokenEditDistance = &t
	}
	r.Seconds = seconds
	if seconds > 0 {
		r.RowsPerSecond = float64(r.Examples) / seconds
	}
	return r
}

// WriteJSON writes the report to path through a temporary file and a
// rename.
func (r Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// WriteText prints the report for people.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d examples read", r.Command, r.Examples)
	if r.Output != "" {
		fmt.Fprintf(&b, ", %d pairs written to %s", r.Pairs, r.Output)
	}
	if r.EvalOutput != "" {
		fmt.Fprintf(&b, ", %d to %s", r.EvalPairs, r.EvalOutput)
	}
	if r.Seconds > 0 {
		fmt.Fprintf(&b, " in %.2fs (%.0f rows/s)", r.Seconds, r.RowsPerSecond)
	}
	b.WriteString("\n")
	if r.Duplicates > 0 {
		fmt.Fprintf(&b, "duplicates removed: %d\n", r.Duplicates)
	}
	if len(r.Skipped) > 0 {
		total := 0
		reasons := make([]string, 0, len(r.Skipped))
		for k, n := range r.Skipped {
			reasons = append(reasons, k)
			total += n
		}
		sort.Slice(reasons, func(i, j int) bool {
			return r.Skipped[reasons[i]] > r.Skipped[reasons[j]] ||
				(r.Skipped[reasons[i]] == r.Skipped[reasons[j]] && reasons[i] < reasons[j])
		})
		fmt.Fprintf(&b, "skipped: %d\n", total)
		for _, k := range reasons {
			fmt.Fprintf(&b, "  %7d  %s\n", r.Skipped[k], k)
		}
	}
	writeSummary(&b, "character", r.CharEditDistance)
	if r.TokenEditDistance != nil {
		writeSummary(&b, "token", *r.TokenEditDistance)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSummary(b *strings.Builder, kind string, s Summary) {
	fmt.Fprintf(b, "normalised %s edit distance, chosen vs rejected (%d pairs):\n", kind, s.Count)
	if s.Count == 0 {
		return
	}
	fmt.Fprintf(b, "  mean %.4f  median %.4f  p10 %.4f  p90 %.4f  min %.4f  max %.4f\n",
		s.Mean, s.Median, s.P10, s.P90, s.Min, s.Max)
	// Print the bins from the first to the last non-empty one.
	first, last, most := len(s.Histogram), -1, 0
	for i, h := range s.Histogram {
		if h.Count > 0 {
			first, last = min(first, i), i
		}
		most = max(most, h.Count)
	}
	// Enough decimals to tell the bin edges apart (0.005 wide: 3).
	digits := 0
	if w := s.Histogram[0].Hi - s.Histogram[0].Lo; w > 0 {
		digits = max(0, int(math.Ceil(-math.Log10(w)-1e-9)))
	}
	for _, h := range s.Histogram[first : last+1] {
		bar := 0
		if most > 0 {
			bar = (h.Count*40 + most - 1) / most
		}
		fmt.Fprintf(b, "  [%.*f, %.*f) %8d %s\n", digits, h.Lo, digits, h.Hi, h.Count, strings.Repeat("#", bar))
	}
}

// FileStats computes the statistics of an existing pairs file (JSONL or
// parquet with prompt, chosen and rejected, mapped through fields). With
// skipBad, unreadable rows are counted as skipped; otherwise the first one
// is returned as the error.
func FileStats(path string, fields FieldMap, enc Encoder, skipBad bool) (Report, error) {
	s := NewStatsBuilder("pairs stats", []string{path}, enc)
	rr, err := OpenRows(path, ReadOptions{})
	if err != nil {
		return Report{}, err
	}
	defer rr.Close()
	for {
		row, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			var p Pair
			if p, err = PairFromRow(row, fields); err == nil {
				s.Examples++
				s.Pairs++
				s.AddPair(p, CharDistance(p))
				continue
			}
		}
		var re *RowError
		if !skipBad || !errors.As(err, &re) {
			return Report{}, err
		}
		s.Examples++
		s.SkipError(re)
	}
	return s.Finish(0), nil
}
