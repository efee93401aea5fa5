package report

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
)

// MetricsFile is the name of the metrics log inside a run folder.
const MetricsFile = "metrics.jsonl"

// curve names one metric key drawn as one series.
type curve struct{ name, key string }

// figure describes one PNG written by PlotRun: one or more stacked panels.
type figure struct {
	file   string
	panels []figPanel
}

type figPanel struct {
	title, ylabel string
	curves        []curve
}

// runFigures are the plots PlotRun draws when their metrics are present.
var runFigures = []figure{
	{"loss.png", []figPanel{{"Loss", "loss", []curve{{"train", "loss"}, {"eval", "eval_loss"}}}}},
	{"rewards.png", []figPanel{{"Implicit rewards (train)", "reward = β·log(π/π_ref)", []curve{
		{"chosen", "rewards/chosen"}, {"rejected", "rewards/rejected"}, {"margin", "rewards/margins"}}}}},
	{"logps.png", []figPanel{{"Policy log-probabilities (train)", "sequence log-prob", []curve{
		{"chosen", "logps/chosen"}, {"rejected", "logps/rejected"}}}}},
	{"accuracy.png", []figPanel{{"Reward accuracy (chosen reward > rejected)", "fraction of pairs", []curve{
		{"train", "rewards/accuracies"}, {"eval", "eval_rewards/accuracies"}}}}},
	{"logits.png", []figPanel{{"Mean policy logits (train)", "mean logit", []curve{
		{"chosen", "logits/chosen"}, {"rejected", "logits/rejected"}}}}},
	{"eval_rewards.png", []figPanel{{"Implicit rewards (eval)", "reward = β·log(π/π_ref)", []curve{
		{"chosen", "eval_rewards/chosen"}, {"rejected", "eval_rewards/rejected"}, {"margin", "eval_rewards/margins"}}}}},
	{"eval_logps.png", []figPanel{{"Policy log-probabilities (eval)", "sequence log-prob", []curve{
		{"chosen", "eval_logps/chosen"}, {"rejected", "eval_logps/rejected"}}}}},
	{"dpop.png", []figPanel{
		{"DPOP penalty: mean max(0, log π_ref(y_w) − log π(y_w))", "penalty (before λ)", []curve{
			{"train", "dpop/penalty"}, {"eval", "eval_dpop/penalty"}}},
		{"DPOP active fraction: pairs with log π(y_w) ≤ log π_ref(y_w)", "fraction of pairs", []curve{
			{"train", "dpop/active_fraction"}, {"eval", "eval_dpop/active_fraction"}}},
	}},
	{"optim.png", []figPanel{
		{"Learning rate", "learning rate", []curve{{"", "learning_rate"}}},
		{"Gradient norm (before clipping)", "grad norm", []curve{{"", "grad_norm"}}},
		{"Throughput", "tokens / s", []curve{{"", "tokens_per_s"}}},
	}},
}

// PlotRun reads runDir/metrics.jsonl and writes the run's plots into runDir,
// returning the paths written, in this order:
//
//   - loss.png: loss, with eval_loss when present
//   - rewards.png: rewards/chosen, rewards/rejected, rewards/margins
//   - logps.png: logps/chosen, logps/rejected
//   - accuracy.png: rewards/accuracies, with eval_rewards/accuracies
//   - logits.png: logits/chosen, logits/rejected
//   - eval_rewards.png, eval_logps.png: the same for evaluation rows
//   - dpop.png: panels for dpop/penalty and dpop/active_fraction (DPOP runs)
//   - optim.png: panels for learning_rate, grad_norm and tokens_per_s
//
// A plot (or panel) is drawn only when at least one of its metrics has a
// finite value; metrics missing from every row are left out of the legend,
// and a metric present only as NaN/±Inf is shown as "(no data)". The x axis
// is the step; rows without a step are not drawn, and when a step appears
// more than once (a resumed run re-logging steps) its last row wins. It is
// an error when nothing at all can be drawn.
func PlotRun(runDir string) ([]string, error) {
	path := filepath.Join(runDir, MetricsFile)
	rows, err := ReadMetrics(path)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, fig := range runFigures {
		var panels []panel
		for _, fp := range fig.panels {
			pn := panel{title: fp.title, xlabel: "step", ylabel: fp.ylabel}
			drawable := false
			for _, c := range fp.curves {
				x, y, present := stepSeries(rows, c.key)
				if !present {
					continue
				}
				if _, n := finiteSegments(x, y); n > 0 {
					drawable = true
				}
				pn.series = append(pn.series, Series{Name: c.name, X: x, Y: y})
			}
			if drawable {
				panels = append(panels, pn)
			}
		}
		if len(panels) == 0 {
			continue
		}
		out := filepath.Join(runDir, fig.file)
		if err := writePanels(out, panels); err != nil {
			return written, err
		}
		written = append(written, out)
	}
	if len(written) == 0 {
		return nil, fmt.Errorf("plot run %s: %s has no finite metric values with a step", runDir, path)
	}
	return written, nil
}

// CompareRuns draws one metric over steps for several runs on one plot and
// writes it as a PNG to outPath. runs maps a legend label to a run folder
// holding metrics.jsonl; the curves are drawn in label order. Like PlotRun,
// it skips rows without a step, keeps the last row of a repeated step and
// skips NaN/±Inf values; a run without the metric stays in the legend as
// "(no data)". It is an error when no run has a finite value of the metric.
// An empty title defaults to the metric name, an empty ylabel to the metric
// name too; the x axis is "optimizer step".
func CompareRuns(outPath, title, ylabel, metric string, runs map[string]string) error {
	if len(runs) == 0 {
		return errors.New("compare runs: no runs given")
	}
	if title == "" {
		title = metric
	}
	labels := make([]string, 0, len(runs))
	for l := range runs {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	series := make([]Series, 0, len(labels))
	for _, l := range labels {
		rows, err := ReadMetrics(filepath.Join(runs[l], MetricsFile))
		if err != nil {
			return fmt.Errorf("compare runs: run %q: %w", l, err)
		}
		x, y, _ := stepSeries(rows, metric)
		series = append(series, Series{Name: l, X: x, Y: y})
	}
	if ylabel == "" {
		ylabel = metric
	}
	if err := LinePlot(outPath, title, "optimizer step", ylabel, series); err != nil {
		return fmt.Errorf("compare runs on %q: %w", metric, err)
	}
	return nil
}

// stepSeries returns the metric against step, sorted by step, keeping the
// last row of each repeated step; present reports whether any row with a
// step holds the key.
func stepSeries(rows []map[string]float64, key string) (x, y []float64, present bool) {
	last := map[float64]float64{}
	xs, ys := Column(rows, "step", key)
	for i, s := range xs {
		if !finite(s) {
			continue
		}
		last[s] = ys[i]
	}
	for s := range last {
		x = append(x, s)
	}
	sort.Float64s(x)
	y = make([]float64, len(x))
	for i, s := range x {
		y[i] = last[s]
	}
	return x, y, len(x) > 0
}
