package mtbench

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"github.com/smaug-dev/smaug/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// radarPalette is matplotlib's tab10, as in FastChat's radar figure.
var radarPalette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// WriteRadarPNG draws the per-category scores of every model (at most 10,
// the best first) on a radar chart from 0 to 10, as FastChat's MT-Bench
// figure shows them, and writes it to path as a PNG.
func (s Summary) WriteRadarPNG(path string) error {
	if len(s.Categories) < 3 {
		return fmt.Errorf("radar chart: need at least 3 categories, have %d", len(s.Categories))
	}
	const w, h = 9 * vg.Inch, 7 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	fnt := font.From(plot.DefaultFont, 11)
	style := text.Style{Color: color.Black, Font: fnt, Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter}
	cx, cy, r := 3.6*vg.Inch, 3.5*vg.Inch, 2.6*vg.Inch
	n := len(s.Categories)
	at := func(i int, v float64) vg.Point {
		a := math.Pi/2 - 2*math.Pi*float64(i)/float64(n)
		return vg.Point{X: cx + r*vg.Length(v/10*math.Cos(a)), Y: cy + r*vg.Length(v/10*math.Sin(a))}
	}
	grid := draw.LineStyle{Color: color.Gray{Y: 200}, Width: vg.Points(0.7)}
	for level := 2; level <= 10; level += 2 {
		var pts []vg.Point
		for i := 0; i <= n; i++ {
			pts = append(pts, at(i%n, float64(level)))
		}
		dc.StrokeLines(grid, pts)
		dc.FillText(style, at(0, float64(level)).Add(vg.Point{X: 8}), fmt.Sprint(level))
	}
	for i, c := range s.Categories {
		dc.StrokeLine2(grid, cx, cy, at(i, 10).X, at(i, 10).Y)
		dc.FillText(style, at(i, 11.3), c)
	}
	models := s.Models
	if len(models) > len(radarPalette) {
		models = models[:len(radarPalette)]
	}
	for k, m := range models {
		col := radarPalette[k]
		var pts []vg.Point
		for i := 0; i <= n; i++ {
			pts = append(pts, at(i%n, m.Categories[s.Categories[i%n]].Median))
		}
		dc.StrokeLines(draw.LineStyle{Color: col, Width: vg.Points(2)}, pts)
		y := h - 0.6*vg.Inch - vg.Length(k)*0.3*vg.Inch
		dc.StrokeLine2(draw.LineStyle{Color: col, Width: vg.Points(3)}, 7.1*vg.Inch, y, 7.4*vg.Inch, y)
		left := style
		left.XAlign = draw.XLeft
		dc.FillText(left, vg.Point{X: 7.5 * vg.Inch, Y: y}, fmt.Sprintf("%s (%.2f)", m.Model, m.Average.Median))
	}
	return atomicfile.Write(path, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(wr)
		return err
	})
}
