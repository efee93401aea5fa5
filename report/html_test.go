package report

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeTinyPNG writes a 2×1 PNG of the given colour and returns its bytes.
func writeTinyPNG(t *testing.T, path string, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, c)
	img.Set(1, 0, c)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var dataURIRE = regexp.MustCompile(`<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">`)

func TestHTML(t *testing.T) {
	dir := t.TempDir()
	dpoLoss := filepath.Join(dir, "dpo", "loss.png")
	dpopLoss := filepath.Join(dir, "dpop", "loss.png")
	bars := filepath.Join(dir, "bars.png")
	want := map[string][]byte{
		dpoLoss:  writeTinyPNG(t, dpoLoss, color.RGBA{255, 0, 0, 255}),
		dpopLoss: writeTinyPNG(t, dpopLoss, color.RGBA{0, 255, 0, 255}),
		bars:     writeTinyPNG(t, bars, color.RGBA{0, 0, 255, 255}),
	}
	md := "Runs compared on <GSM8K>.\n\n" +
		"| run | accuracy |\n|---|---:|\n| DPO | 0.401 |\n| DPOP | 0.787 |\n\n" +
		"![accuracy by benchmark](bars.png)\n"
	out := filepath.Join(dir, "report.html")
	if err := HTML(out, "DPO vs DPOP", md, []string{dpoLoss, bars, dpopLoss, dpoLoss}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range []string{
		"<!DOCTYPE html>",
		"<title>DPO vs DPOP</title>",
		"<h1>DPO vs DPOP</h1>",
		"<p>Runs compared on &lt;GSM8K&gt;.</p>",
		"<tr><td>DPO</td><td style=\"text-align:right\">0.401</td></tr>",
		"<tr><td>DPOP</td><td style=\"text-align:right\">0.787</td></tr>",
		"<figcaption>dpo/loss</figcaption>",
		"<figcaption>dpop/loss</figcaption>",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if strings.Contains(doc, "<link") || strings.Contains(doc, "<script") {
		t.Error("report refers to external resources")
	}
	// Images in order: bars inline in the text, then the two loss plots as
	// figures (dpoLoss listed twice is shown once); each URI decodes to the
	// file's bytes.
	m := dataURIRE.FindAllStringSubmatch(doc, -1)
	wantOrder := []struct{ path, alt string }{
		{bars, "accuracy by benchmark"}, {dpoLoss, "dpo/loss"}, {dpopLoss, "dpop/loss"},
	}
	if len(m) != len(wantOrder) {
		t.Fatalf("found %d embedded images, want %d", len(m), len(wantOrder))
	}
	for i, w := range wantOrder {
		data, err := base64.StdEncoding.DecodeString(m[i][1])
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if !bytes.Equal(data, want[w.path]) || m[i][2] != w.alt {
			t.Errorf("image %d: alt %q and %d bytes, want %s (alt %q)", i, m[i][2], len(data), w.path, w.alt)
		}
	}
	if strings.Index(doc, "0.787") > strings.Index(doc, m[1][0]) {
		t.Error("figures come before the text")
	}
	noTempFiles(t, dir)
}

func TestHTMLTitle(t *testing.T) {
	tests := []struct {
		name, md string
		h1s      int
	}{
		{"title added", "## Section\ntext", 1},
		{"markdown has its own h1", "\n# Own title\ntext", 1},
		{"h1 later in the text", "intro\n\n# Later", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.html")
			if err := HTML(out, "Report", tt.md, nil); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "<h1>"); n != tt.h1s {
				t.Errorf("%d <h1> elements, want %d", n, tt.h1s)
			}
		})
	}
}

func TestHTMLErrors(t *testing.T) {
	dir := t.TempDir()
	notPNG := filepath.Join(dir, "plot.png")
	if err := os.WriteFile(notPNG, []byte("GIF89a..."), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		images []string
		want   string
	}{
		{"not a PNG", []string{notPNG}, notPNG + " is not a PNG file"},
		{"missing image", []string{filepath.Join(dir, "absent.png")}, "absent.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "report.html")
			err := HTML(out, "T", "text", tt.images)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("report written despite the error")
			}
		})
	}
}
