package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeRun writes a synthetic run folder: steps 1..n of training rows, with
// DPOP metrics when dpop is set, an eval row every 5 steps when eval is set,
// and a last row re-logging step 3 as diverged (loss null, as the trainer
// writes NaN), and returns the folder.
func writeRun(t *testing.T, n int, dpop, eval bool) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for s := 1; s <= n; s++ {
		m := 0.05 * float64(s)
		margin := m
		if dpop {
			margin = 1.5 * m // keeps the two runs' curves apart in TestCompareRuns
		}
		fmt.Fprintf(&b, `{"step": %d, "epoch": %g, "loss": %g, "rewards/chosen": %g, "rewards/rejected": %g, "rewards/margins": %g, "rewards/accuracies": %g, "logps/chosen": %g, "logps/rejected": %g, "learning_rate": 5e-07, "grad_norm": %g, "tokens_per_s": 950`,
			s, float64(s)/float64(n), math.Log1p(math.Exp(-m)), m/2, m/2-margin, margin, 0.5+0.02*float64(s), -100+m, -110-m, 2+math.Sin(float64(s)))
		if dpop {
			fmt.Fprintf(&b, `, "dpop/penalty": %g, "dpop/active_fraction": %g`, math.Max(0, 0.3-m), math.Max(0, 0.5-m))
		}
		b.WriteString("}\n")
		if eval && s%5 == 0 {
			fmt.Fprintf(&b, `{"step": %d, "eval_loss": %g, "eval_rewards/chosen": %g, "eval_rewards/rejected": %g, "eval_rewards/margins": %g}`+"\n", s, 0.7-m/2, m/3, -m/3, 2*m/3)
		}
	}
	// Step 3 re-logged after a resume, diverged this time: its last row wins.
	b.WriteString(`{"step": 3, "loss": null, "grad_norm": Infinity}` + "\n")
	if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPlotRun(t *testing.T) {
	tests := []struct {
		name      string
		dpop      bool
		eval      bool
		wantFiles []string
		heights   []int
	}{
		{"DPO with eval", false, true,
			[]string{"loss.png", "rewards.png", "logps.png", "accuracy.png", "eval_rewards.png", "optim.png"},
			[]int{500, 500, 500, 500, 500, 900}},
		{"DPOP without eval", true, false,
			[]string{"loss.png", "rewards.png", "logps.png", "accuracy.png", "dpop.png", "optim.png"},
			[]int{500, 500, 500, 500, 600, 900}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRun(t, 20, tt.dpop, tt.eval)
			got, err := PlotRun(dir)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, f := range tt.wantFiles {
				want = append(want, filepath.Join(dir, f))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("PlotRun wrote %v, want %v", got, want)
			}
			for i, p := range got {
				img := decodePNG(t, p, 800, tt.heights[i])
				if distinct, n := pixelStats(img, palette[0]); distinct < 20 || n < 200 {
					t.Errorf("%s: %d colours, %d pixels of the first curve's colour: looks empty", p, distinct, n)
				}
			}
			noTempFiles(t, dir)
		})
	}
}

func TestPlotRunErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"no rows with a step", `{"loss": 0.5}` + "\n", "no finite metric values with a step"},
		{"only NaN", `{"step": 1, "loss": NaN}` + "\n", "no finite metric values with a step"},
		{"malformed line", `{"step": 1, "loss": 0.5}` + "\n" + `{"step": 2,` + "\n", MetricsFile + ":2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := PlotRun(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	dir := t.TempDir()
	if _, err := PlotRun(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, MetricsFile)) {
		t.Errorf("missing metrics: error %v does not name the file", err)
	}
}

func TestStepSeries(t *testing.T) {
	nan := math.NaN()
	rows := []map[string]float64{
		{"step": 2, "loss": 0.6},
		{"step": 1, "loss": 0.7},
		{"step": 3, "loss": 0.5},
		{"loss": 0.1}, // no step
		{"step": nan, "loss": 0.2},
		{"step": 3, "eval_loss": 0.65},
		{"step": 2, "loss": 0.55}, // resumed: replaces step 2
	}
	x, y, present := stepSeries(rows, "loss")
	if !present || !reflect.DeepEqual(x, []float64{1, 2, 3}) || !reflect.DeepEqual(y, []float64{0.7, 0.55, 0.5}) {
		t.Errorf("stepSeries(loss) = %v, %v, %v; want [1 2 3], [0.7 0.55 0.5], true", x, y, present)
	}
	x, y, present = stepSeries(rows, "eval_loss")
	if !present || !reflect.DeepEqual(x, []float64{3}) || !reflect.DeepEqual(y, []float64{0.65}) {
		t.Errorf("stepSeries(eval_loss) = %v, %v, %v; want [3], [0.65], true", x, y, present)
	}
	if _, _, present := stepSeries(rows, "grad_norm"); present {
		t.Error("stepSeries(grad_norm) present, want absent")
	}
}

func TestCompareRuns(t *testing.T) {
	dpo, dpop := writeRun(t, 20, false, false), writeRun(t, 20, true, false)
	tests := []struct {
		name   string
		metric string
		runs   map[string]string
		// pixels[i] is a lower bound on pixels in the colour of the i-th
		// label in sorted order (0 where the run has no data: its legend
		// swatch is still drawn, so some pixels appear).
		pixels []int
	}{
		{"margins of both runs", "rewards/margins", map[string]string{"DPOP": dpop, "DPO": dpo}, []int{300, 300}},
		{"penalty only in DPOP", "dpop/penalty", map[string]string{"DPOP": dpop, "DPO": dpo}, []int{20, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "cmp.png")
			if err := CompareRuns(out, "", "", tt.metric, tt.runs); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, out, 800, 500)
			for i, min := range tt.pixels {
				if _, n := pixelStats(img, palette[i]); n < min {
					t.Errorf("run %d: %d pixels of its colour, want at least %d", i, n, min)
				}
			}
		})
	}
}

func TestCompareRunsErrors(t *testing.T) {
	dpo := writeRun(t, 5, false, false)
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, MetricsFile), []byte("{\"step\": 1}\n{oops}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		metric string
		runs   map[string]string
		want   []string
	}{
		{"no runs", "loss", nil, []string{"no runs"}},
		{"metric nowhere", "dpop/penalty", map[string]string{"DPO": dpo}, []string{`"dpop/penalty"`, "no finite points"}},
		{"bad metrics file", "loss", map[string]string{"DPO": dpo, "X": broken}, []string{`run "X"`, MetricsFile + ":2:"}},
		{"missing run folder", "loss", map[string]string{"Y": filepath.Join(broken, "absent")}, []string{`run "Y"`, "absent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CompareRuns(filepath.Join(t.TempDir(), "cmp.png"), "T", "", tt.metric, tt.runs)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
