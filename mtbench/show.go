package mtbench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Stat is a score over judging repeats: the median of the per-repeat means
// and their range (all equal with one repeat). N counts the valid
// judgments behind the first repeat's mean.
type Stat struct {
	Median, Min, Max float64
	N                int
}

// ModelScores are one model's MT-Bench scores.
type ModelScores struct {
	Model                  string
	First, Second, Average Stat
	// Categories holds the mean of both turns per category.
	Categories map[string]Stat
}

// Summary is what FastChat's show_result.py prints for single-answer
// grading, per model and per category.
type Summary struct {
	// Models are sorted by average score, best first.
	Models []ModelScores
	// Categories in the order of the question file.
	Categories []string
	Repeats    int
}

// Summarize scores judgments as show_result.py does: judgments with score
// −1 are dropped; first turn is the mean of turn-1 scores, second turn of
// turn-2 scores, and average the mean of all valid scores (not the mean of
// the two turn means). Categories come from questions. With repeated
// judging, each repeat is scored alone and the median and range are
// reported.
func Summarize(judgments []Judgment, questions []Question) Summary {
	cat := map[int]string{}
	var cats []string
	for _, q := range questions {
		cat[q.QuestionID] = q.Category
		if !contains(cats, q.Category) {
			cats = append(cats, q.Category)
		}
	}
	type acc struct {
		sum float64
		n   int
	}
	// per model → per repeat → per key ("1", "2", "all", "cat:NAME")
	sums := map[string]map[int]map[string]*acc{}
	repeats := 0
	for _, j := range judgments {
		repeats = max(repeats, j.Repeat+1)
		if j.Score == -1 {
			continue
		}
		if sums[j.Model] == nil {
			sums[j.Model] = map[int]map[string]*acc{}
		}
		byKey := sums[j.Model][j.Repeat]
		if byKey == nil {
			byKey = map[string]*acc{}
			sums[j.Model][j.Repeat] = byKey
		}
		for _, k := range []string{fmt.Sprint(j.Turn), "all", "cat:" + cat[j.QuestionID]} {
			if byKey[k] == nil {
				byKey[k] = &acc{}
			}
			byKey[k].sum += j.Score
			byKey[k].n++
		}
	}
	stat := func(perRepeat map[int]map[string]*acc, key string) Stat {
		var means []float64
		n := 0
		for r := 0; r < repeats; r++ {
			if a := perRepeat[r][key]; a != nil && a.n > 0 {
				means = append(means, a.sum/float64(a.n))
				if r == 0 {
					n = a.n
				}
			}
		}
		if len(means) == 0 {
			return Stat{}
		}
		sort.Float64s(means)
		med := means[len(means)/2]
		if len(means)%2 == 0 {
			med = (means[len(means)/2-1] + means[len(means)/2]) / 2
		}
		return Stat{Median: med, Min: means[0], Max: means[len(means)-1], N: n}
	}
	s := Summary{Categories: cats, Repeats: repeats}
	for model, pr := range sums {
		ms := ModelScores{Model: model, First: stat(pr, "1"), Second: stat(pr, "2"), Average: stat(pr, "all"), Categories: map[string]Stat{}}
		for _, c := range cats {
			if st := stat(pr, "cat:"+c); st.N > 0 || st.Median != 0 {
				ms.Categories[c] = st
			}
		}
		s.Models = append(s.Models, ms)
	}
	sort.Slice(s.Models, func(a, b int) bool {
		if s.Models[a].Average.Median != s.Models[b].Average.Median {
			return s.Models[a].Average.Median > s.Models[b].Average.Median
		}
		return s.Models[a].Model < s.Models[b].Model
	})
	return s
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (s Summary) cell(st Stat) string {
	if s.Repeats > 1 {
		return fmt.Sprintf("%.2f [%.2f, %.2f]", st.Median, st.Min, st.Max)
	}
	return fmt.Sprintf("%.2f", st.Median)
}

// WriteTable prints the scores: first turn, second turn and average per
// model (with the median and range over repeats when judged repeatedly),
// then the per-category means.
func (s Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	note := ""
	if s.Repeats > 1 {
		note = fmt.Sprintf(" (median [min, max] over %d judging repeats)", s.Repeats)
	}
	fmt.Fprintf(tw, "MT-Bench%s\n", note)
	fmt.Fprintln(tw, "model\tfirst turn\tsecond turn\taverage\tjudgments")
	for _, m := range s.Models {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", m.Model, s.cell(m.First), s.cell(m.Second), s.cell(m.Average), m.Average.N)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "model\t"+strings.Join(s.Categories, "\t"))
	for _, m := range s.Models {
		row := []string{m.Model}
		for _, c := range s.Categories {
			if st, ok := m.Categories[c]; ok {
				row = append(row, fmt.Sprintf("%.2f", st.Median))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
