package report

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// decodePNG opens path as a PNG and checks its pixel size.
func decodePNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	return img
}

// pixelStats counts the distinct colours of img and the pixels exactly
// matching want.
func pixelStats(img image.Image, want color.RGBA) (distinct, matching int) {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			seen[c] = true
			if c == want {
				matching++
			}
		}
	}
	return len(seen), matching
}

// noTempFiles fails when a temporary file was left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestLinePlot(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	steps := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name   string
		series []Series
		// minPixels[i] is the least number of pixels in series i's colour.
		minPixels []int
	}{
		{"two curves", []Series{
			{"chosen", steps, []float64{0, 0.1, 0.3, 0.2, 0.5, 0.6, 0.55, 0.8}},
			{"rejected", steps, []float64{0, -0.2, -0.3, -0.6, -0.7, -0.9, -1.2, -1.1}},
		}, []int{300, 300}},
		{"non-finite points skipped", []Series{
			{"loss", steps, []float64{0.69, nan, 0.6, inf, 0.5, 0.45, math.Inf(-1), 0.4}},
		}, []int{150}},
		{"series without data keeps a legend entry", []Series{
			{"train", steps, []float64{0.69, 0.6, 0.55, 0.5, 0.45, 0.43, 0.41, 0.4}},
			{"eval", []float64{2, 4}, []float64{nan, nan}},
		}, []int{300, 20}},
		{"one point", []Series{{"eval", []float64{10}, []float64{0.5}}}, []int{20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "plot.png")
			if err := LinePlot(path, "Title", "step", "value", tt.series); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path, 800, 500)
			for i, min := range tt.minPixels {
				distinct, n := pixelStats(img, palette[i])
				if distinct < 20 {
					t.Errorf("only %d distinct colours: image looks blank", distinct)
				}
				if n < min {
					t.Errorf("series %d: %d pixels of its colour, want at least %d", i, n, min)
				}
			}
			noTempFiles(t, dir)
		})
	}
}

func TestLinePlotErrors(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		series []Series
		want   string
	}{
		{"no series", nil, "no series"},
		{"length mismatch", []Series{{"loss", []float64{1, 2}, []float64{1}}}, `series "loss" has 2 x values and 1 y values`},
		{"nothing finite", []Series{{"loss", []float64{1, 2}, []float64{nan, math.Inf(1)}}}, "no finite points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "plot.png")
			err := LinePlot(path, "T", "x", "y", tt.series)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, path, tt.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s written despite the error", path)
			}
		})
	}
	if err := LinePlot(filepath.Join(t.TempDir(), "absent", "p.png"), "T", "x", "y",
		[]Series{{"a", []float64{1}, []float64{1}}}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing folder: error %v does not name the path", err)
	}
}

// TestLinePlotRange checks that non-finite points do not stretch the axes:
// the y range is the finite data [1, 3] widened by 4% of its span (0.08).
func TestLinePlotRange(t *testing.T) {
	p, err := linePlot(panel{title: "t", series: []Series{
		{"a", []float64{1, 2, 3, 4}, []float64{1, math.NaN(), 3, math.Inf(1)}},
		{"b", []float64{math.Inf(-1), 2}, []float64{100, 2}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-12
	if math.Abs(p.Y.Min-0.92) > tol || math.Abs(p.Y.Max-3.08) > tol {
		t.Errorf("y range [%v, %v], want [0.92, 3.08]", p.Y.Min, p.Y.Max)
	}
	if p.X.Min != 1 || p.X.Max != 3 {
		t.Errorf("x range [%v, %v], want [1, 3]", p.X.Min, p.X.Max)
	}
}

func TestFiniteSegments(t *testing.T) {
	nan := math.NaN()
	segs, n := finiteSegments(
		[]float64{1, 2, 3, 4, 5, nan, 7},
		[]float64{10, nan, 30, 40, math.Inf(1), 60, 70})
	want := [][][2]float64{{{1, 10}}, {{3, 30}, {4, 40}}, {{7, 70}}}
	if n != 4 || !reflect.DeepEqual(segs, want) {
		t.Errorf("finiteSegments = %v, %d; want %v, 4", segs, n, want)
	}
}

func TestPlaceLegend(t *testing.T) {
	x := []float64{0, 0.25, 0.5, 0.75, 1}
	tests := []struct {
		name      string
		series    []Series
		top, left bool
	}{
		{"falling loss leaves top right free", []Series{{"loss", x, []float64{1, 0.3, 0.15, 0.1, 0.05}}}, true, false},
		{"rising curve leaves top left free", []Series{{"acc", x, x}}, true, true},
		{"flat top and rising curve leave bottom right free", []Series{
			{"a", x, []float64{1, 1, 1, 1, 1}}, {"b", x, x}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := linePlot(panel{title: "t", series: tt.series})
			if err != nil {
				t.Fatal(err)
			}
			if p.Legend.Top != tt.top || p.Legend.Left != tt.left {
				t.Errorf("legend top=%v left=%v, want top=%v left=%v", p.Legend.Top, p.Legend.Left, tt.top, tt.left)
			}
		})
	}
}

// TestBarPlot checks bar areas: bars start at zero, so a bar twice as tall
// covers twice the pixels of its colour. The legend swatches (about 32×13
// px each, equal for every group) make the expected ratio of 2 slightly
// smaller; 3% covers them.
func TestBarPlot(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		labels []string
		groups []BarGroup
		ratio  float64 // pixels of group 0's colour over group 1's
	}{
		{"one label", []string{"ARC"}, []BarGroup{{"DPO", []float64{1}}, {"DPOP", []float64{0.5}}}, 2},
		{"three labels", []string{"ARC", "MMLU", "GSM8K"}, []BarGroup{
			{"DPO", []float64{0.6, 0.8, 0.4}}, {"DPOP", []float64{0.3, 0.4, 0.2}}}, 2},
		{"NaN bar left out", []string{"ARC", "GSM8K"}, []BarGroup{
			{"base", []float64{0.5, 0.5}}, {"DPOP", []float64{0.5, nan}}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bars.png")
			if err := BarPlot(path, "Accuracy", "accuracy", tt.labels, tt.groups); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path, 800, 500)
			distinct, n0 := pixelStats(img, palette[0])
			_, n1 := pixelStats(img, palette[1])
			if distinct < 20 {
				t.Errorf("only %d distinct colours: image looks blank", distinct)
			}
			if n1 == 0 {
				t.Fatal("no pixels of the second group's colour")
			}
			got := float64(n0) / float64(n1)
			t.Logf("pixel ratio %d/%d = %.4f", n0, n1, got)
			if math.Abs(got-tt.ratio) > 0.03*tt.ratio {
				t.Errorf("pixel ratio %d/%d = %.3f, want %.3f ± 3%%", n0, n1, got, tt.ratio)
			}
			noTempFiles(t, dir)
		})
	}
}

func TestBarPlotErrors(t *testing.T) {
	tests := []struct {
		name   string
		labels []string
		groups []BarGroup
		want   string
	}{
		{"no labels", nil, []BarGroup{{"a", nil}}, "no labels"},
		{"no groups", []string{"x"}, nil, "no groups"},
		{"length mismatch", []string{"x", "y"}, []BarGroup{{"DPO", []float64{1}}}, `group "DPO" has 1 values for 2 labels`},
		{"nothing finite", []string{"x"}, []BarGroup{{"a", []float64{math.NaN()}}}, "no finite values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bars.png")
			err := BarPlot(path, "T", "y", tt.labels, tt.groups)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, path, tt.want)
			}
		})
	}
}

func TestBarPlotRange(t *testing.T) {
	// Two groups: head room 0.08 + 2·0.035 = 0.15 of the axis above the top bar.
	p, err := barPlot("t", "y", []string{"a", "b"}, []BarGroup{{"x", []float64{0.85, 0.5}}, {"y", []float64{0.2, math.NaN()}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.85 / (1 - 0.15); p.Y.Min != 0 || math.Abs(p.Y.Max-want) > 1e-12 {
		t.Errorf("y range [%v, %v], want [0, %v]", p.Y.Min, p.Y.Max, want)
	}
	// A negative value: the axis starts 8% of the span below it.
	p, err = barPlot("t", "y", []string{"a"}, []BarGroup{{"x", []float64{-1}}, {"y", []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if wantMin, wantMax := -1.16, -1.16+2.16/0.85; math.Abs(p.Y.Min-wantMin) > 1e-12 || math.Abs(p.Y.Max-wantMax) > 1e-12 {
		t.Errorf("y range [%v, %v], want [%v, %v]", p.Y.Min, p.Y.Max, wantMin, wantMax)
	}
	if p.X.Min != -0.5 || p.X.Max != 0.5 {
		t.Errorf("x range [%v, %v], want [-0.5, 0.5]", p.X.Min, p.X.Max)
	}
}

func TestValueLabels(t *testing.T) {
	vals := func(ys ...float64) plotter.XYLabels {
		l := plotter.XYLabels{Labels: make([]string, len(ys))}
		for i, y := range ys {
			l.XYs = append(l.XYs, plotter.XY{X: float64(i), Y: y})
		}
		return l
	}
	tests := []struct {
		name  string
		ys    []float64
		width vg.Length
		want  []string // nil: no labels
	}{
		{"four digits fit a wide bar", []float64{0.76021, 76.02, -0.5}, vg.Points(60), []string{"0.7602", "76.02", "-0.5"}},
		{"three digits on a narrower bar", []float64{0.76021, 0.5}, vg.Points(20), []string{"0.76", "0.5"}},
		{"nothing on a sliver", []float64{0.76021}, vg.Points(3), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := valueLabels(vals(tt.ys...), tt.width)
			if (tt.want == nil) != !ok {
				t.Fatalf("ok = %v, want %v", ok, tt.want != nil)
			}
			if ok && !reflect.DeepEqual(l.Labels, tt.want) {
				t.Errorf("labels %q, want %q", l.Labels, tt.want)
			}
		})
	}
}

// TestPlainTicks checks the tick labels against hand-written ones.
func TestPlainTicks(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"-252.50", "\u2212252.5"}, {"-255.00", "\u2212255"}, {"0.30", "0.3"}, {"100", "100"},
		{"-0.00", "0"}, {"1e+06", "1e+06"}, {"", ""}, {"2.05", "2.05"},
	} {
		if got := plainNumber(tt.in); got != tt.want {
			t.Errorf("plainNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tk := range (plainTicks{}).Ticks(-260.2, -252.6) {
		if strings.HasSuffix(tk.Label, "0") && strings.Contains(tk.Label, ".") {
			t.Errorf("tick label %q keeps a trailing zero", tk.Label)
		}
	}
}
