package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Results are an evaluation's numbers in lm-evaluation-harness's JSON
// shape: results.<task>.<metric>,none and <metric>_stderr,none, groups
// (mmlu), configs, versions, n-shot, n-samples and the run's config.
type Results struct {
	Results       map[string]map[string]any `json:"results"`
	Groups        map[string]map[string]any `json:"groups,omitempty"`
	GroupSubtasks map[string][]string       `json:"group_subtasks,omitempty"`
	Configs       map[string]TaskConfig     `json:"configs"`
	Versions      map[string]int            `json:"versions"`
	NShot         map[string]int            `json:"n-shot"`
	NSamples      map[string]NSamples       `json:"n-samples"`
	Config        map[string]any            `json:"config"`
}

// TaskConfig describes how a task was run.
type TaskConfig struct {
	Task             string          `json:"task"`
	Group            string          `json:"group,omitempty"`
	OutputType       string          `json:"output_type"`
	NumFewshot       int             `json:"num_fewshot"`
	Description      string          `json:"description,omitempty"`
	Metrics          []string        `json:"metric_list"`
	Protocol         Protocol        `json:"protocol"`
	GenerationKwargs *GenerationArgs `json:"generation_kwargs,omitempty"`
}

// GenerationArgs are a generation task's decoding settings.
type GenerationArgs struct {
	Until        []string `json:"until"`
	MaxGenTokens int      `json:"max_gen_toks"`
	DoSample     bool     `json:"do_sample"`
}

// NSamples counts a task's documents and those scored.
type NSamples struct {
	Original  int `json:"original"`
	Effective int `json:"effective"`
}

// Aggregate turns per-document results into the task numbers: the mean of
// each metric and its standard error (sample standard deviation / √n, as
// the harness computes it), and for a group (mmlu) the unweighted mean of
// its tasks under leaderboard-v1 (standard error √Σse²/k) or the
// size-weighted mean under harness-v0.4 with the pooled standard error,
// both over the subjects themselves: v0.4's consolidate_group_results
// aggregates a group over every leaf task below it, so its category
// groups (mmlu_humanities, ...) do not change the mmlu number, and they
// are not reported here.
func Aggregate(trs []TaskResult, config map[string]any) *Results {
	r := &Results{Results: map[string]map[string]any{}, Configs: map[string]TaskConfig{},
		Versions: map[string]int{}, NShot: map[string]int{}, NSamples: map[string]NSamples{}, Config: config}
	type member struct {
		vals map[string]float64
		n    int
	}
	groups := map[string][]member{}
	groupProto := map[string]Protocol{}
	for _, tr := range trs {
		t := tr.Task
		row := map[string]any{"alias": t.Name}
		vals := map[string]float64{}
		var names []string
		if len(tr.Samples) > 0 {
			for m := range tr.Samples[0].Metrics {
				names = append(names, m)
			}
		}
		sort.Strings(names)
		for _, m := range names {
			xs := make([]float64, len(tr.Samples))
			for i, s := range tr.Samples {
				xs[i] = s.Metrics[m]
			}
			mean, se := meanStderr(xs)
			metric, filter, _ := strings.Cut(m, ",")
			if filter == "" {
				filter = "none"
			}
			row[metric+","+filter] = mean
			row[metric+"_stderr,"+filter] = se
			vals[metric+","+filter] = mean
			vals[metric+"_stderr,"+filter] = se
		}
		r.Results[t.Name] = row
		cfg := TaskConfig{Task: t.Name, Group: t.Group, OutputType: "loglikelihood", NumFewshot: t.NumFewshot,
			Description: t.Description, Metrics: names, Protocol: t.Protocol}
		if t.Kind == Generate {
			cfg.OutputType = "generate_until"
			cfg.GenerationKwargs = &GenerationArgs{Until: t.Until, MaxGenTokens: t.MaxGenTokens}
		}
		r.Configs[t.Name] = cfg
		r.Versions[t.Name] = t.Version
		r.NShot[t.Name] = t.NumFewshot
		r.NSamples[t.Name] = NSamples{Original: len(t.Docs), Effective: len(tr.Samples)}
		if t.Group != "" {
			groups[t.Group] = append(groups[t.Group], member{vals, len(tr.Samples)})
			groupProto[t.Group] = t.Protocol
			if r.GroupSubtasks == nil {
				r.GroupSubtasks = map[string][]string{}
			}
			r.GroupSubtasks[t.Group] = append(r.GroupSubtasks[t.Group], t.Name)
		}
	}
	for g, ms := range groups {
		row := map[string]any{"alias": g}
		for key := range ms[0].vals {
			if strings.Contains(key, "_stderr,") {
				continue
			}
			se := strings.Replace(key, ",", "_stderr,", 1)
			var sum, wsum, sse, pooled float64
			total := 0
			for _, m := range ms {
				if groupProto[g] == HarnessV04 {
					sum += m.vals[key] * float64(m.n)
					wsum += float64(m.n)
				} else {
					sum += m.vals[key]
					wsum++
				}
				sse += m.vals[se] * m.vals[se]
				pooled += float64(m.n-1) * m.vals[se] * m.vals[se] * float64(m.n)
				total += m.n
			}
			row[key] = sum / wsum
			if groupProto[g] == HarnessV04 {
				if total > len(ms) {
					row[se] = math.Sqrt(pooled / float64(total-len(ms)) / float64(total))
				} else {
					row[se] = 0.0
				}
			} else {
				row[se] = math.Sqrt(sse) / float64(len(ms))
			}
		}
		r.Results[g] = row
		if r.Groups == nil {
			r.Groups = map[string]map[string]any{}
		}
		r.Groups[g] = row
	}
	return r
}

// meanStderr returns the mean and the standard error of the mean (sample
// standard deviation over √n; 0 for fewer than two values).
func meanStderr(xs []float64) (mean, se float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
}

// ReadResults reads a results JSON written by smaug eval or by
// lm-evaluation-harness (v0.3 keys without ",none" are read too).
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(r.Results) == 0 {
		return nil, fmt.Errorf("%s: field results: missing or empty", path)
	}
	return &r, nil
}

// headline names, per leaderboard column, the tasks and metric keys that
// give its number, first match wins: smaug's and harness v0.4's keys, then
// harness v0.3's.
var headline = map[string][][2]string{
	"arc_challenge":  {{"arc_challenge", "acc_norm,none"}, {"arc_challenge", "acc_norm"}},
	"hellaswag":      {{"hellaswag", "acc_norm,none"}, {"hellaswag", "acc_norm"}},
	"mmlu":           {{"mmlu", "acc,none"}, {"mmlu", "acc"}},
	"truthfulqa_mc2": {{"truthfulqa_mc2", "mc2,none"}, {"truthfulqa_mc", "mc2"}, {"truthfulqa_mc2", "acc,none"}},
	"winogrande":     {{"winogrande", "acc,none"}, {"winogrande", "acc"}},
	"gsm8k":          {{"gsm8k", "acc,none"}, {"gsm8k", "exact_match,strict-match"}, {"gsm8k", "acc"}},
}

// Score returns a leaderboard column's number and standard error in
// percent (NaN when the file has none), and false when the results lack
// the number. Harness v0.3 files without
// an mmlu row get the unweighted mean of their hendrycksTest-* subjects.
func (r *Results) Score(task string) (value, stderr float64, ok bool) {
	for _, h := range headline[task] {
		row := r.Results[h[0]]
		if v, isNum := row[h[1]].(float64); isNum {
			seKey := strings.Replace(h[1], ",", "_stderr,", 1)
			if !strings.Contains(h[1], ",") {
				seKey = h[1] + "_stderr"
			}
			se, hasSE := row[seKey].(float64)
			if !hasSE {
				se = math.NaN()
			}
			return 100 * v, 100 * se, true
		}
	}
	if task == "mmlu" {
		var sum, sse float64
		n := 0
		for name, row := range r.Results {
			if v, isNum := row["acc"].(float64); isNum && strings.HasPrefix(name, "hendrycksTest-") {
				se, _ := row["acc_stderr"].(float64)
				sum, sse, n = sum+v, sse+se*se, n+1
			}
		}
		if n > 0 {
			return 100 * sum / float64(n), 100 * math.Sqrt(sse) / float64(n), true
		}
	}
	return 0, 0, false
}

// WriteTable writes the Smaug README's leaderboard table for one or more
// results side by side: Average, ARC, HellaSwag, MMLU, TruthfulQA,
// Winogrande, GSM8K, in percent with standard errors. The average is the
// plain mean of the columns present; it is marked with * when a column is
// missing.
func WriteTable(w io.Writer, names []string, rs []*Results) error {
	head := "| Model | Average |"
	sep := "| --- | --- |"
	for _, s := range Leaderboard {
		head += " " + Columns[s.Name] + " |"
		sep += " --- |"
	}
	if _, err := fmt.Fprintln(w, head+"\n"+sep); err != nil {
		return err
	}
	for i, r := range rs {
		var cells []string
		var sum float64
		n := 0
		for _, s := range Leaderboard {
			v, se, ok := r.Score(s.Name)
			if !ok {
				cells = append(cells, "–")
				continue
			}
			sum += v
			n++
			if math.IsNaN(se) {
				cells = append(cells, fmt.Sprintf("%.2f", v))
			} else {
				cells = append(cells, fmt.Sprintf("%.2f ± %.2f", v, se))
			}
		}
		avg := "–"
		if n > 0 {
			avg = fmt.Sprintf("%.2f", sum/float64(n))
			if n < len(Leaderboard) {
				avg += "*"
			}
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %s |\n", names[i], avg, strings.Join(cells, " | ")); err != nil {
			return err
		}
	}
	return nil
}
