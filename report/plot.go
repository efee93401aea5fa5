package report

import (
	"bytes"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"image/color"
	"math"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Image size of every plot, in pixels; panels stack to a taller image.
const (
	widthPx     = 800
	heightPx    = 500
	panelPx     = 300 // height of each panel of a multi-panel figure
	dpi         = 96
	maxGlyphPts = 60 // series with at most this many points also get markers
)

// px converts pixels at the canvas resolution to a vg length.
func px(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }

// palette is matplotlib's "tab10", familiar from TRL and W&B plots.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// glyphs gives each series its own marker shape, so curves stay apart in
// grey-scale prints.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
	draw.RingGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{},
}

// Series is one named curve of a line plot. X and Y have equal lengths;
// points where either is NaN or ±Inf are skipped and break the line there.
type Series struct {
	Name string
	X, Y []float64
}

// BarGroup is one named set of bars, one value per category label (for
// example the accuracies of the DPOP model on each benchmark).
type BarGroup struct {
	Name   string
	Values []float64
}

// panel is one line plot of a (possibly multi-panel) figure.
type panel struct {
	title, xlabel, ylabel string
	series                []Series
}

// LinePlot draws the series as lines over a shared x axis, with a title,
// axis labels, grid and legend, and writes an 800×500 PNG to path. Series
// with few points also get markers. Points with a NaN or ±Inf coordinate
// are skipped (the line breaks there); a series with no finite point keeps
// its legend entry, marked "(no data)". A series with an empty name gets no
// legend entry. It is an error when no series has a
// finite point or when a series' X and Y differ in length.
func LinePlot(path, title, xlabel, ylabel string, series []Series) error {
	return writePanels(path, []panel{{title: title, xlabel: xlabel, ylabel: ylabel, series: series}})
}

// writePanels draws line-plot panels stacked vertically into one PNG.
func writePanels(path string, panels []panel) error {
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p, err := linePlot(pn)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		plots[i] = []*plot.Plot{p}
	}
	h := heightPx
	if len(panels) > 1 {
		h = panelPx * len(panels)
	}
	c := vgimg.NewWith(vgimg.UseWH(px(widthPx), px(h)), vgimg.UseDPI(dpi))
	dc := draw.New(c)
	if len(plots) == 1 {
		plots[0][0].Draw(dc)
	} else {
		tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(12),
			PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
		canvases := plot.Align(plots, tiles, dc)
		for i := range plots {
			plots[i][0].Draw(canvases[i][0])
		}
	}
	return writePNG(path, c)
}

// linePlot builds one panel.
func linePlot(pn panel) (*plot.Plot, error) {
	if len(pn.series) == 0 {
		return nil, fmt.Errorf("%q: no series", pn.title)
	}
	p := newPlot(pn.title, pn.xlabel, pn.ylabel)
	var drawn [][][2]float64 // finite segments of every series, for the legend placement
	for i, s := range pn.series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("%q: series %q has %d x values and %d y values", pn.title, s.Name, len(s.X), len(s.Y))
		}
		col := palette[i%len(palette)]
		style := draw.LineStyle{Color: col, Width: vg.Points(1.6)}
		if i >= len(palette) {
			style.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		segs, n := finiteSegments(s.X, s.Y)
		var thumbs []plot.Thumbnailer
		line := &plotter.Line{LineStyle: style}
		thumbs = append(thumbs, line)
		for _, seg := range segs {
			xys := make(plotter.XYs, len(seg))
			for j, pt := range seg {
				xys[j] = plotter.XY{X: pt[0], Y: pt[1]}
			}
			p.Add(&plotter.Line{XYs: xys, LineStyle: style})
			drawn = append(drawn, seg)
		}
		if n > 0 && n <= maxGlyphPts {
			sc := &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: col, Radius: vg.Points(2.5), Shape: glyphs[i%len(glyphs)]}}
			for _, seg := range segs {
				for _, pt := range seg {
					sc.XYs = append(sc.XYs, plotter.XY{X: pt[0], Y: pt[1]})
				}
			}
			p.Add(sc)
			thumbs = append(thumbs, sc)
		}
		name := s.Name
		if n == 0 && name != "" {
			name += " (no data)"
		}
		if name != "" {
			p.Legend.Add(name, thumbs...)
		}
	}
	if len(drawn) == 0 {
		return nil, fmt.Errorf("%q: no finite points to plot", pn.title)
	}
	// A little room around the data, so curves do not run along the frame.
	pad := 0.04 * (p.Y.Max - p.Y.Min)
	p.Y.Min, p.Y.Max = p.Y.Min-pad, p.Y.Max+pad
	placeLegend(p, drawn, len(pn.series))
	return p, nil
}

// newPlot returns a plot with the package's title, label, grid and legend
// styling.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(14)
	p.Title.TextStyle.Font.Weight = xfont.WeightBold
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(11)
		a.Tick.Label.Font = sans(9)
		a.Tick.Marker = plainTicks{}
	}
	p.Legend.TextStyle.Font = sans(10)
	p.Legend.ThumbnailWidth = vg.Points(24)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)
	return p
}

// plainTicks are gonum's default ticks with labels written as a person
// would: no trailing zeros ("-252.5", "-255", not "-252.50", "-255.00"),
// and a true minus sign.
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		ticks[i].Label = plainNumber(ticks[i].Label)
	}
	return ticks
}

// plainNumber trims the trailing zeros of a decimal label and writes its
// minus sign as U+2212.
func plainNumber(l string) string {
	if strings.Contains(l, ".") && !strings.ContainsAny(l, "eE") {
		l = strings.TrimRight(strings.TrimRight(l, "0"), ".")
	}
	if l == "-0" {
		l = "0"
	}
	return strings.Replace(l, "-", "−", 1)
}

// sans returns Liberation Sans (bundled with gonum/plot) at size points;
// it reads better on screen than gonum's default serif face.
func sans(size float64) font.Font {
	return font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, vg.Points(size))
}

// finiteSegments splits a series at its non-finite points into runs of
// finite (x, y) pairs and counts the finite points.
func finiteSegments(x, y []float64) (segs [][][2]float64, n int) {
	var cur [][2]float64
	for i := range x {
		if !finite(x[i]) || !finite(y[i]) {
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, [2]float64{x[i], y[i]})
		n++
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs, n
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// placeLegend puts the legend in the corner of the data area that the
// curves cross least, testing points sampled along every segment.
func placeLegend(p *plot.Plot, segs [][][2]float64, entries int) {
	xr, yr := p.X.Max-p.X.Min, p.Y.Max-p.Y.Min
	if xr <= 0 {
		xr = 1
	}
	if yr <= 0 {
		yr = 1
	}
	// Rough legend extent as a fraction of the data area.
	hFrac := math.Min(0.9, 0.06+0.07*float64(entries))
	const wFrac = 0.4
	type corner struct{ top, left bool }
	corners := []corner{{true, false}, {true, true}, {false, false}, {false, true}}
	counts := make([]int, len(corners))
	hit := func(x, y float64) {
		u, v := (x-p.X.Min)/xr, (y-p.Y.Min)/yr
		for k, c := range corners {
			inX := (c.left && u <= wFrac) || (!c.left && u >= 1-wFrac)
			inY := (c.top && v >= 1-hFrac) || (!c.top && v <= hFrac)
			if inX && inY {
				counts[k]++
			}
		}
	}
	for _, seg := range segs {
		for j, pt := range seg {
			hit(pt[0], pt[1])
			if j == 0 {
				continue
			}
			prev := seg[j-1]
			for t := 1; t < 8; t++ {
				f := float64(t) / 8
				hit(prev[0]+f*(pt[0]-prev[0]), prev[1]+f*(pt[1]-prev[1]))
			}
		}
	}
	best := 0
	for k := range counts {
		if counts[k] < counts[best] {
			best = k
		}
	}
	p.Legend.Top, p.Legend.Left = corners[best].top, corners[best].left
	inset := vg.Points(6)
	p.Legend.XOffs, p.Legend.YOffs = -inset, -inset
	if p.Legend.Left {
		p.Legend.XOffs = inset
	}
	if !p.Legend.Top {
		p.Legend.YOffs = inset
	}
}

// BarPlot draws grouped bars — one cluster per label, one bar per group in
// each cluster, coloured by group and named in the legend — with each bar's
// value printed above it when the bars are wide enough, and writes an
// 800×500 PNG to path. Every group needs one value per label. NaN and ±Inf
// values are skipped (their bar is left out); it is an error when no value
// is finite.
func BarPlot(path, title, ylabel string, labels []string, groups []BarGroup) error {
	p, err := barPlot(title, ylabel, labels, groups)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	c := vgimg.NewWith(vgimg.UseWH(px(widthPx), px(heightPx)), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	return writePNG(path, c)
}

// barPlot builds the grouped bar chart.
func barPlot(title, ylabel string, labels []string, groups []BarGroup) (*plot.Plot, error) {
	if len(labels) == 0 {
		return nil, fmt.Errorf("%q: no labels", title)
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("%q: no groups", title)
	}
	lo, hi, found := 0.0, 0.0, false
	for _, g := range groups {
		if len(g.Values) != len(labels) {
			return nil, fmt.Errorf("%q: group %q has %d values for %d labels", title, g.Name, len(g.Values), len(labels))
		}
		for _, v := range g.Values {
			if finite(v) {
				lo, hi, found = math.Min(lo, v), math.Max(hi, v), true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%q: no finite values to plot", title)
	}
	p := newPlot(title, "", ylabel)
	p.NominalX(labels...)
	p.X.Tick.Label.Font.Size = vg.Points(10)

	// Bars fill 80% of each label's slot of a ~520 pt wide data area.
	slot := 520.0 / float64(len(labels))
	w := math.Min(60, 0.8*slot/float64(len(groups)))
	barW := vg.Points(w)
	for gi, g := range groups {
		col := palette[gi%len(palette)]
		offset := vg.Points((float64(gi) - float64(len(groups)-1)/2) * w)
		var thumb plot.Thumbnailer
		var vals plotter.XYLabels
		for li, v := range g.Values {
			if !finite(v) {
				continue
			}
			b, err := plotter.NewBarChart(plotter.Values{v}, barW)
			if err != nil {
				return nil, fmt.Errorf("%q: group %q: %w", title, g.Name, err)
			}
			b.XMin = float64(li)
			b.Offset = offset
			b.Color = col
			b.LineStyle = draw.LineStyle{Color: color.Gray{Y: 60}, Width: vg.Points(0.5)}
			p.Add(b)
			thumb = b
			vals.XYs = append(vals.XYs, plotter.XY{X: float64(li), Y: v})
			vals.Labels = append(vals.Labels, "")
		}
		if thumb != nil && g.Name != "" {
			p.Legend.Add(g.Name, thumb)
		}
		if l, ok := valueLabels(vals, barW); ok {
			l.Offset = vg.Point{X: offset}
			p.Add(l)
		}
	}
	p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
	// Head room above the bars for the value labels and the legend.
	head := math.Min(0.6, 0.08+0.035*float64(len(groups)))
	span := hi - lo
	if span == 0 {
		span = 1
	}
	p.Y.Min = lo
	if lo < 0 {
		p.Y.Min = lo - 0.08*span
	}
	p.Y.Max = p.Y.Min + (hi-p.Y.Min)/(1-head)
	p.Legend.Top = true
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), -vg.Points(4)
	return p, nil
}

// valueLabels prints each bar's value above it (below, for negative bars)
// with four significant digits, or three when four do not fit the bar; ok is
// false when even three do not fit.
func valueLabels(vals plotter.XYLabels, barW vg.Length) (l *plotter.Labels, ok bool) {
	if len(vals.XYs) == 0 {
		return nil, false
	}
	style := text.Style{Font: sans(8), XAlign: draw.XCenter, YAlign: draw.YBottom, Handler: plot.DefaultTextHandler}
	for _, digits := range []int{4, 3} {
		fits := true
		for i, xy := range vals.XYs {
			vals.Labels[i] = strconv.FormatFloat(xy.Y, 'g', digits, 64)
			if style.Width(vals.Labels[i]) > barW*1.1 {
				fits = false
			}
		}
		if !fits {
			continue
		}
		l, err := plotter.NewLabels(vals)
		if err != nil {
			return nil, false
		}
		for i := range l.TextStyle {
			l.TextStyle[i] = style
			if vals.XYs[i].Y < 0 {
				l.TextStyle[i].YAlign = draw.YTop
			}
		}
		return l, true
	}
	return nil, false
}

// writePNG encodes the canvas as PNG into path through a temporary file.
func writePNG(path string, c *vgimg.Canvas) error {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}
