package report

import (
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
)

// markdownHTML converts the Markdown subset that run reports use into HTML:
// ATX headings (# to ######), paragraphs, fenced code blocks (``` or ~~~,
// with an optional language), GitHub pipe tables with column alignment,
// one-level bullet and numbered lists, block quotes, thematic breaks, and
// inline code spans, **strong**, *emphasis*, [links](url) and
// ![images](src). Raw HTML is escaped and shows as text. imageSrc maps an
// image's source as written to the source to emit (an embedded data URI,
// for instance); it returns its argument for images it does not know.
func markdownHTML(md string, imageSrc func(string) string) string {
	c := converter{imageSrc: imageSrc}
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	c.blocks(lines)
	return c.out.String()
}

type converter struct {
	out      strings.Builder
	imageSrc func(string) string
}

var (
	headingRE  = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	fenceRE    = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})[ \t]*([^`]*)$")
	hrRE       = regexp.MustCompile(`^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$`)
	bulletRE   = regexp.MustCompile(`^ {0,3}[-*+][ \t]+(.*)$`)
	orderedRE  = regexp.MustCompile(`^ {0,3}(\d{1,9})[.)][ \t]+(.*)$`)
	quoteRE    = regexp.MustCompile(`^ {0,3}>[ ]?(.*)$`)
	delimRowRE = regexp.MustCompile(`^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$`)
)

// blocks converts a sequence of lines into block elements.
func (c *converter) blocks(lines []string) {
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case fenceRE.MatchString(line):
			i = c.fence(lines, i)
		case headingRE.MatchString(line):
			m := headingRE.FindStringSubmatch(line)
			level := len(m[1])
			fmt.Fprintf(&c.out, "<h%d>%s</h%d>\n", level, c.inline(m[2]), level)
			i++
		case hrRE.MatchString(line):
			c.out.WriteString("<hr>\n")
			i++
		case isTableStart(lines, i):
			i = c.table(lines, i)
		case quoteRE.MatchString(line):
			var inner []string
			for ; i < len(lines) && quoteRE.MatchString(lines[i]); i++ {
				inner = append(inner, quoteRE.FindStringSubmatch(lines[i])[1])
			}
			c.out.WriteString("<blockquote>\n")
			c.blocks(inner)
			c.out.WriteString("</blockquote>\n")
		case bulletRE.MatchString(line) || orderedRE.MatchString(line):
			i = c.list(lines, i)
		default:
			i = c.paragraph(lines, i)
		}
	}
}

// startsBlock reports whether a line opens a block other than a paragraph,
// so it ends a paragraph or list item that precedes it.
func startsBlock(lines []string, i int) bool {
	l := lines[i]
	return strings.TrimSpace(l) == "" || fenceRE.MatchString(l) || headingRE.MatchString(l) ||
		hrRE.MatchString(l) || quoteRE.MatchString(l) || bulletRE.MatchString(l) ||
		orderedRE.MatchString(l) || isTableStart(lines, i)
}

func (c *converter) paragraph(lines []string, i int) int {
	var text []string
	for ; i < len(lines) && (len(text) == 0 || !startsBlock(lines, i)); i++ {
		text = append(text, strings.TrimSpace(lines[i]))
	}
	fmt.Fprintf(&c.out, "<p>%s</p>\n", c.inline(strings.Join(text, "\n")))
	return i
}

// fence converts a fenced code block opening at line i; an unclosed fence
// runs to the end of the text.
func (c *converter) fence(lines []string, i int) int {
	m := fenceRE.FindStringSubmatch(lines[i])
	indent, marker := len(m[1]), m[2]
	lang := strings.Fields(m[3])
	var body []string
	for i++; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if strings.HasPrefix(t, marker) && strings.Trim(t, marker[:1]) == "" {
			i++
			break
		}
		// Remove up to the fence's own indentation from each line.
		l := lines[i]
		for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
			l = l[1:]
		}
		body = append(body, l)
	}
	c.out.WriteString("<pre><code")
	if len(lang) > 0 {
		fmt.Fprintf(&c.out, ` class="language-%s"`, html.EscapeString(lang[0]))
	}
	c.out.WriteString(">")
	for _, l := range body {
		c.out.WriteString(html.EscapeString(l))
		c.out.WriteString("\n")
	}
	c.out.WriteString("</code></pre>\n")
	return i
}

// list converts a run of items of one list kind; lines indented under an
// item continue its text.
func (c *converter) list(lines []string, i int) int {
	ordered := orderedRE.MatchString(lines[i])
	itemRE, tag := bulletRE, "ul"
	if ordered {
		itemRE, tag = orderedRE, "ol"
		if start, _ := strconv.Atoi(orderedRE.FindStringSubmatch(lines[i])[1]); start != 1 {
			fmt.Fprintf(&c.out, "<ol start=\"%d\">\n", start)
		} else {
			c.out.WriteString("<ol>\n")
		}
	} else {
		c.out.WriteString("<ul>\n")
	}
	for i < len(lines) && itemRE.MatchString(lines[i]) {
		m := itemRE.FindStringSubmatch(lines[i])
		text := []string{strings.TrimSpace(m[len(m)-1])}
		for i++; i < len(lines) && !startsBlock(lines, i); i++ {
			text = append(text, strings.TrimSpace(lines[i]))
		}
		fmt.Fprintf(&c.out, "<li>%s</li>\n", c.inline(strings.Join(text, "\n")))
	}
	fmt.Fprintf(&c.out, "</%s>\n", tag)
	return i
}

// isTableStart reports whether a pipe table's header row is at line i: a
// line with a pipe followed by a delimiter row with as many cells.
func isTableStart(lines []string, i int) bool {
	if i+1 >= len(lines) || !strings.Contains(lines[i], "|") || !delimRowRE.MatchString(lines[i+1]) {
		return false
	}
	return len(splitRow(lines[i])) == len(splitRow(lines[i+1]))
}

// table converts a pipe table starting at line i. Body rows run to a blank
// line or the start of another block and are padded or cut to the header's
// width, as on GitHub.
func (c *converter) table(lines []string, i int) int {
	header := splitRow(lines[i])
	aligns := make([]string, len(header))
	for k, d := range splitRow(lines[i+1]) {
		left, right := strings.HasPrefix(d, ":"), strings.HasSuffix(d, ":")
		switch {
		case left && right:
			aligns[k] = "center"
		case right:
			aligns[k] = "right"
		case left:
			aligns[k] = "left"
		}
	}
	row := func(cells []string, tag string) {
		c.out.WriteString("<tr>")
		for k := range header {
			cell := ""
			if k < len(cells) {
				cell = cells[k]
			}
			if aligns[k] != "" {
				fmt.Fprintf(&c.out, `<%s style="text-align:%s">`, tag, aligns[k])
			} else {
				fmt.Fprintf(&c.out, "<%s>", tag)
			}
			fmt.Fprintf(&c.out, "%s</%s>", c.inline(cell), tag)
		}
		c.out.WriteString("</tr>\n")
	}
	c.out.WriteString("<table>\n<thead>\n")
	row(header, "th")
	c.out.WriteString("</thead>\n")
	i += 2
	if i < len(lines) && !startsBlock(lines, i) {
		c.out.WriteString("<tbody>\n")
		for ; i < len(lines) && !startsBlock(lines, i); i++ {
			row(splitRow(lines[i]), "td")
		}
		c.out.WriteString("</tbody>\n")
	}
	c.out.WriteString("</table>\n")
	return i
}

// splitRow splits a table row at unescaped pipes, dropping the optional
// outer pipes; "\|" stands for a literal pipe inside a cell.
func splitRow(line string) []string {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			cur.WriteByte('|')
			i++
		case s[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// inline converts inline markup in text to HTML, escaping everything else.
func (c *converter) inline(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s) && strings.IndexByte(asciiPunct, s[i+1]) >= 0:
			b.WriteString(html.EscapeString(s[i+1 : i+2]))
			i += 2
		case ch == '`':
			n := runLen(s, i, '`')
			end := closingRun(s, i+n, n)
			if end < 0 {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
			code := strings.ReplaceAll(s[i+n:end], "\n", " ")
			if len(code) > 2 && code[0] == ' ' && code[len(code)-1] == ' ' && strings.Trim(code, " ") != "" {
				code = code[1 : len(code)-1]
			}
			fmt.Fprintf(&b, "<code>%s</code>", html.EscapeString(code))
			i = end + n
		case ch == '[' || ch == '!' && i+1 < len(s) && s[i+1] == '[':
			image := ch == '!'
			start := i
			if image {
				start++
			}
			text, url, next, ok := parseLink(s, start)
			if !ok {
				b.WriteString(html.EscapeString(s[i : start+1]))
				i = start + 1
				continue
			}
			if image {
				fmt.Fprintf(&b, `<img src="%s" alt="%s">`, html.EscapeString(c.imageSrc(url)), html.EscapeString(text))
			} else {
				fmt.Fprintf(&b, `<a href="%s">%s</a>`, html.EscapeString(safeURL(url)), c.inline(text))
			}
			i = next
		case ch == '*' || ch == '_':
			n := runLen(s, i, ch)
			if n > 2 {
				n = 2
			}
			if inner, next, ok := emphasis(s, i, n); ok {
				tag := "em"
				if n == 2 {
					tag = "strong"
				}
				fmt.Fprintf(&b, "<%s>%s</%s>", tag, c.inline(inner), tag)
				i = next
				continue
			}
			b.WriteString(s[i : i+n])
			i += n
		default:
			b.WriteString(html.EscapeString(s[i : i+1]))
			i++
		}
	}
	return b.String()
}

const asciiPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// runLen counts the run of ch starting at i.
func runLen(s string, i int, ch byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == ch {
		n++
	}
	return n
}

// closingRun finds a run of exactly n backticks at or after i.
func closingRun(s string, i, n int) int {
	for i < len(s) {
		j := strings.IndexByte(s[i:], '`')
		if j < 0 {
			return -1
		}
		j += i
		m := runLen(s, j, '`')
		if m == n {
			return j
		}
		i = j + m
	}
	return -1
}

// emphasis matches a delimiter run of n copies of s[i] with its closing run:
// the opener must be followed by a non-space, the closer preceded by one,
// and for "_" neither may touch a letter or digit outside, so snake_case
// names stay as they are.
func emphasis(s string, i, n int) (inner string, next int, ok bool) {
	ch := s[i]
	open := i + n
	if open >= len(s) || s[open] == ' ' || s[open] == '\n' {
		return "", 0, false
	}
	if ch == '_' && i > 0 && isAlnum(s[i-1]) {
		return "", 0, false
	}
	delim := s[i:open]
	for j := open + 1; j+n <= len(s); j++ {
		if s[j:j+n] != delim || s[j-1] == ' ' || s[j-1] == '\n' {
			continue
		}
		// A single delimiter must not be half of a double one.
		if n == 1 && ((j+1 < len(s) && s[j+1] == ch) || s[j-1] == ch) {
			continue
		}
		if ch == '_' && j+n < len(s) && isAlnum(s[j+n]) {
			continue
		}
		return s[open:j], j + n, true
	}
	return "", 0, false
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// parseLink parses "[text](url)" or "[text](url "title")" at s[i] == '['.
func parseLink(s string, i int) (text, url string, next int, ok bool) {
	depth := 0
	j := i
	for ; j < len(s); j++ {
		if s[j] == '\\' {
			j++
			continue
		}
		if s[j] == '[' {
			depth++
		} else if s[j] == ']' {
			depth--
			if depth == 0 {
				break
			}
		}
	}
	if j+1 >= len(s) || s[j+1] != '(' {
		return "", "", 0, false
	}
	k := strings.IndexByte(s[j+2:], ')')
	if k < 0 {
		return "", "", 0, false
	}
	target := strings.TrimSpace(s[j+2 : j+2+k])
	if sp := strings.IndexAny(target, " \t"); sp >= 0 {
		target = target[:sp] // drop a title
	}
	target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
	return s[i+1 : j], target, j + 3 + k, true
}

// safeURL neutralises script URLs in links.
func safeURL(u string) string {
	l := strings.ToLower(strings.TrimSpace(u))
	if strings.HasPrefix(l, "javascript:") || strings.HasPrefix(l, "vbscript:") || strings.HasPrefix(l, "data:text/html") {
		return "#"
	}
	return u
}
