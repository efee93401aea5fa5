package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"html"
	"os"
	"path/filepath"
	"strings"
)

// pngMagic is the signature every PNG file starts with.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// HTML writes a self-contained report to outPath: one HTML file with inline
// CSS, the title, the Markdown converted to HTML, and the PNG images
// embedded as base64 data URIs, so the file can be mailed or archived alone.
//
// The Markdown may use headings, paragraphs, fenced code blocks, pipe tables
// (with :-- alignment), one-level lists, block quotes, rules, `code`,
// **strong**, *emphasis*, links and images; raw HTML is shown as text. An
// image written in the Markdown as ![alt](path), where path is one of images
// as given (or its base name, when no other image shares it), is embedded at
// that spot; the remaining images follow the text as figures, in the order
// given, captioned with their file names less the extension (with the
// folder's name too where two share a name, as "dpo/loss"). Other image
// sources are left as written. The title becomes the page's <h1> unless the Markdown opens
// with a level-1 heading of its own. It is an error when an image cannot be
// read or is not a PNG.
func HTML(outPath, title string, markdown string, images []string) error {
	uris := make(map[string]string, 2*len(images))
	byBase := map[string]map[string]bool{} // base name → the paths that have it
	for _, img := range images {
		data, err := os.ReadFile(img)
		if err != nil {
			return fmt.Errorf("html report %s: %w", outPath, err)
		}
		if !bytes.HasPrefix(data, pngMagic) {
			return fmt.Errorf("html report %s: image %s is not a PNG file", outPath, img)
		}
		uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(data)
		uris[img] = uri
		base := filepath.Base(img)
		if byBase[base] == nil {
			byBase[base] = map[string]bool{}
		}
		byBase[base][img] = true
	}
	for base, paths := range byBase {
		for img := range paths {
			if _, given := uris[base]; len(paths) == 1 && !given {
				uris[base] = uris[img]
			}
		}
	}
	used := map[string]bool{}
	body := markdownHTML(markdown, func(src string) string {
		uri, ok := uris[src]
		if !ok {
			return src
		}
		used[uri] = true
		return uri
	})

	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", html.EscapeString(title), css)
	if !opensWithH1(markdown) && title != "" {
		fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(title))
	}
	b.WriteString(body)
	for _, img := range images {
		uri := uris[img]
		if used[uri] {
			continue
		}
		used[uri] = true // the same file listed twice is shown once
		name := filepath.Base(img)
		if len(byBase[name]) > 1 { // loss.png of two runs: say which
			name = filepath.Join(filepath.Base(filepath.Dir(img)), name)
		}
		name = strings.TrimSuffix(name, filepath.Ext(name))
		fmt.Fprintf(&b, "<figure>\n<img src=\"%s\" alt=\"%s\">\n<figcaption>%s</figcaption>\n</figure>\n",
			uri, html.EscapeString(name), html.EscapeString(name))
	}
	b.WriteString("</main>\n</body>\n</html>\n")
	if err := atomicfile.WriteFile(outPath, []byte(b.String())); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// opensWithH1 reports whether the Markdown's first non-blank line is a
// level-1 heading.
func opensWithH1(md string) bool {
	for _, l := range strings.Split(md, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		m := headingRE.FindStringSubmatch(strings.TrimRight(l, "\r"))
		return m != nil && len(m[1]) == 1
	}
	return false
}

// css styles the report for screen and print, without external resources.
const css = `body { margin: 0; background: #fff; color: #1f2328;
  font: 16px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 24px 32px 64px; }
h1, h2, h3 { line-height: 1.25; margin: 1.5em 0 0.6em; }
h1 { font-size: 2em; border-bottom: 1px solid #d1d9e0; padding-bottom: 0.3em; }
h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: 0.3em; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
code { background: #f0f1f3; padding: 0.1em 0.35em; border-radius: 4px; }
pre { background: #f6f8fa; padding: 12px 16px; border-radius: 6px; overflow-x: auto; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d1d9e0; padding: 6px 12px; }
th { background: #f6f8fa; }
tbody tr:nth-child(even) { background: #fafbfc; }
blockquote { margin: 1em 0; padding: 0 1em; color: #59636e; border-left: 4px solid #d1d9e0; }
hr { border: none; border-top: 1px solid #d1d9e0; margin: 2em 0; }
img { max-width: 100%; height: auto; }
figure { margin: 1.5em 0; text-align: center; }
figcaption { color: #59636e; font-size: 0.9em; }
@media print { main { max-width: none; } figure, table, pre { break-inside: avoid; } }
`
