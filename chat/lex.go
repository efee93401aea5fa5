package chat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The lexer follows jinja2.lexer with the settings transformers uses:
// trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False.
// Whitespace control is applied here, so text tokens hold exactly what is
// printed.

type tokKind int

const (
	tText tokKind = iota
	tVarBegin
	tVarEnd
	tBlockBegin
	tBlockEnd
	tName
	tString
	tInt
	tFloat
	tOp
	tEOF
)

type token struct {
	kind tokKind
	val  string
	line int
}

// describe names a token as jinja's describe_token does in messages.
func (t token) describe() string {
	switch t.kind {
	case tName, tOp:
		return t.val
	case tString:
		return "string"
	case tInt:
		return "integer"
	case tFloat:
		return "float"
	case tText:
		return "template data / text"
	case tVarBegin:
		return "begin of print statement"
	case tVarEnd:
		return "end of print statement"
	case tBlockBegin:
		return "begin of statement block"
	case tBlockEnd:
		return "end of statement block"
	}
	return "end of template"
}

func (t token) String() string {
	switch t.kind {
	case tText:
		return "template data"
	case tVarBegin:
		return "'{{'"
	case tVarEnd:
		return "end of print statement"
	case tBlockBegin:
		return "'{%'"
	case tBlockEnd:
		return "end of statement block"
	case tEOF:
		return "end of template"
	case tString:
		return "string " + strconv.Quote(t.val)
	}
	return "'" + t.val + "'"
}

type lexer struct {
	src  string
	pos  int
	line int
	toks []token
	// lineStarting is jinja's flag: the previous tag's match ended with a
	// newline (or nothing has been read yet), so lstrip_blocks applies to
	// text before the next tag even when that text has no newline.
	lineStarting bool
}

func syntaxErr(line int, format string, args ...any) *Error {
	return &Error{Kind: "TemplateSyntaxError", Line: line, Msg: fmt.Sprintf(format, args...)}
}

// lex splits a template source into tokens.
func lex(src string) ([]token, error) {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	src = strings.TrimSuffix(src, "\n")
	lx := &lexer{src: src, line: 1, lineStarting: true}
	if err := lx.run(); err != nil {
		return nil, err
	}
	lx.toks = append(lx.toks, token{kind: tEOF, line: lx.line})
	return lx.toks, nil
}

// nextTag finds the next "{{", "{%" or "{#" at or after pos.
func (lx *lexer) nextTag() int {
	for i := lx.pos; ; {
		j := strings.IndexByte(lx.src[i:], '{')
		if j < 0 || i+j+1 >= len(lx.src) {
			return -1
		}
		i += j
		switch lx.src[i+1] {
		case '{', '%', '#':
			return i
		}
		i++
	}
}

// emitText adds the text before a tag, applying "-" and lstrip_blocks.
func (lx *lexer) emitText(text string, marker byte, lstrip bool) {
	line := lx.line
	lx.line += strings.Count(text, "\n")
	if marker == '-' {
		text = strings.TrimRightFunc(text, pyIsSpace)
	} else if marker != '+' && lstrip {
		l := strings.LastIndexByte(text, '\n') + 1
		if (l > 0 || lx.lineStarting) && l < len(text) && strings.TrimLeft(text[l:], " \t\v\f") == "" {
			text = text[:l]
		}
	}
	if text != "" {
		lx.toks = append(lx.toks, token{kind: tText, val: text, line: line})
	}
}

// afterTag applies the whitespace rule after a tag ending at lx.pos: "-"
// strips all whitespace, otherwise trim_blocks removes one newline after
// block and comment tags.
func (lx *lexer) afterTag(strip, trim bool) {
	start := lx.pos
	if strip {
		for lx.pos < len(lx.src) {
			r, n := utf8.DecodeRuneInString(lx.src[lx.pos:])
			if !pyIsSpace(r) {
				break
			}
			lx.pos += n
		}
	} else if trim && lx.pos < len(lx.src) && lx.src[lx.pos] == '\n' {
		lx.pos++
	}
	lx.line += strings.Count(lx.src[start:lx.pos], "\n")
	lx.lineStarting = lx.src[lx.pos-1] == '\n'
}

func (lx *lexer) run() error {
	for lx.pos < len(lx.src) {
		start := lx.nextTag()
		if start < 0 {
			lx.emitText(lx.src[lx.pos:], 0, false)
			lx.pos = len(lx.src)
			break
		}
		kind := lx.src[start+1]
		var marker byte
		p := start + 2
		if p < len(lx.src) && (lx.src[p] == '-' || lx.src[p] == '+') {
			marker = lx.src[p]
			p++
		}
		lx.emitText(lx.src[lx.pos:start], marker, kind != '{')
		lx.pos = p
		switch kind {
		case '#':
			end := strings.Index(lx.src[p:], "#}")
			if end < 0 {
				return syntaxErr(lx.line, "missing end of comment tag")
			}
			body := lx.src[p : p+end]
			lx.line += strings.Count(body, "\n")
			lx.pos = p + end + 2
			lx.afterTag(strings.HasSuffix(body, "-"), !strings.HasSuffix(body, "+"))
		case '%':
			if ok, err := lx.raw(); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			lx.toks = append(lx.toks, token{kind: tBlockBegin, val: "{%", line: lx.line})
			if err := lx.tagTokens(true); err != nil {
				return err
			}
		default:
			lx.toks = append(lx.toks, token{kind: tVarBegin, val: "{{", line: lx.line})
			if err := lx.tagTokens(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// raw handles {% raw %}...{% endraw %} when the block at lx.pos is one.
func (lx *lexer) raw() (bool, error) {
	rest := strings.TrimLeft(lx.src[lx.pos:], " \t\n")
	if !strings.HasPrefix(rest, "raw") {
		return false, nil
	}
	rest = strings.TrimLeft(rest[3:], " \t\n")
	switch {
	case strings.HasPrefix(rest, "-%}"):
		rest = strings.TrimLeftFunc(rest[3:], pyIsSpace)
	case strings.HasPrefix(rest, "%}"):
		rest = rest[2:]
	default:
		return false, nil
	}
	startLine := lx.line
	bodyStart := len(lx.src) - len(rest)
	for i := bodyStart; ; i++ {
		j := strings.Index(lx.src[i:], "{%")
		if j < 0 {
			return true, syntaxErr(startLine, "missing end of raw directive")
		}
		i += j
		p := i + 2
		var marker byte
		if p < len(lx.src) && (lx.src[p] == '-' || lx.src[p] == '+') {
			marker = lx.src[p]
			p++
		}
		tail := strings.TrimLeft(lx.src[p:], " \t\n")
		if !strings.HasPrefix(tail, "endraw") {
			continue
		}
		tail = strings.TrimLeft(tail[6:], " \t\n")
		var strip, trim bool
		switch {
		case strings.HasPrefix(tail, "-%}"):
			strip, tail = true, tail[3:]
		case strings.HasPrefix(tail, "+%}"):
			tail = tail[3:]
		case strings.HasPrefix(tail, "%}"):
			trim, tail = true, tail[2:]
		default:
			continue
		}
		lx.line += strings.Count(lx.src[lx.pos:bodyStart], "\n")
		lx.pos = bodyStart
		lx.emitText(lx.src[bodyStart:i], marker, true)
		lx.line += strings.Count(lx.src[i:len(lx.src)-len(tail)], "\n")
		lx.pos = len(lx.src) - len(tail)
		lx.afterTag(strip, trim)
		return true, nil
	}
}

var operators = []string{"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", ";"}

// tagTokens lexes the inside of a {% %} or {{ }} tag up to and including
// its end delimiter. As in jinja, the end delimiter is only recognised when
// no bracket is open.
func (lx *lexer) tagTokens(block bool) error {
	depth := 0
	for {
		for lx.pos < len(lx.src) && strings.IndexByte(" \t\n\r\f\v", lx.src[lx.pos]) >= 0 {
			if lx.src[lx.pos] == '\n' {
				lx.line++
			}
			lx.pos++
		}
		if lx.pos >= len(lx.src) {
			if block {
				return syntaxErr(lx.line, "unexpected end of template, expected end of statement block ('%%}')")
			}
			return syntaxErr(lx.line, "unexpected end of template, expected end of print statement ('}}')")
		}
		rest := lx.src[lx.pos:]
		if depth == 0 {
			endKind, end := tVarEnd, "}}"
			if block {
				endKind, end = tBlockEnd, "%}"
			}
			for _, m := range []string{"-", "+", ""} {
				if (m == "+" && !block) || !strings.HasPrefix(rest, m+end) {
					continue
				}
				lx.toks = append(lx.toks, token{kind: endKind, val: end, line: lx.line})
				lx.pos += len(m) + len(end)
				lx.afterTag(m == "-", block && m == "")
				return nil
			}
		}
		c, _ := utf8.DecodeRuneInString(rest)
		switch {
		case c == '\'' || c == '"':
			s, n, err := lexString(rest, lx.line)
			if err != nil {
				return err
			}
			lx.toks = append(lx.toks, token{kind: tString, val: s, line: lx.line})
			lx.line += strings.Count(rest[:n], "\n")
			lx.pos += n
		case c >= '0' && c <= '9':
			kind, n := lexNumber(rest, len(lx.toks) > 0 && lx.toks[len(lx.toks)-1].val == "." && lx.toks[len(lx.toks)-1].kind == tOp)
			lx.toks = append(lx.toks, token{kind: kind, val: strings.ReplaceAll(rest[:n], "_", ""), line: lx.line})
			lx.pos += n
		case c == '_' || unicode.IsLetter(c):
			n := 0
			for n < len(rest) {
				r, size := utf8.DecodeRuneInString(rest[n:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				n += size
			}
			lx.toks = append(lx.toks, token{kind: tName, val: rest[:n], line: lx.line})
			lx.pos += n
		default:
			op := ""
			for _, o := range operators {
				if strings.HasPrefix(rest, o) {
					op = o
					break
				}
			}
			if op == "" {
				return syntaxErr(lx.line, "unexpected char %q", c)
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth == 0 {
					return syntaxErr(lx.line, "unexpected '%s'", op)
				}
				depth--
			}
			lx.toks = append(lx.toks, token{kind: tOp, val: op, line: lx.line})
			lx.pos += len(op)
		}
	}
}

// lexNumber returns the kind and length of the number at the start of s.
// afterDot is set for "x.0.1", where jinja reads integers only.
func lexNumber(s string, afterDot bool) (tokKind, int) {
	digits := func(i int) int {
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '_' && j > i && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9') {
			j++
		}
		return j
	}
	n := digits(0)
	if afterDot {
		return tInt, n
	}
	kind := tInt
	if n+1 < len(s) && s[n] == '.' && s[n+1] >= '0' && s[n+1] <= '9' {
		n = digits(n + 1)
		kind = tFloat
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		j := n + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			n = digits(j)
			kind = tFloat
		}
	}
	return kind, n
}

// lexString reads a quoted string literal at the start of s, decoding
// Python's backslash escapes; it returns the value and the literal's length.
func lexString(s string, line int) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			n, consumed := decodeEscape(s[i+1:])
			b.WriteString(n)
			i += 1 + consumed
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, syntaxErr(line, "unexpected end of string literal")
}

// decodeEscape decodes one escape sequence (the text after the backslash)
// as Python's unicode-escape codec does; unknown escapes stay as written.
func decodeEscape(s string) (string, int) {
	switch s[0] {
	case '\n':
		return "", 1
	case '\\', '\'', '"':
		return s[:1], 1
	case 'a':
		return "\a", 1
	case 'b':
		return "\b", 1
	case 'f':
		return "\f", 1
	case 'n':
		return "\n", 1
	case 'r':
		return "\r", 1
	case 't':
		return "\t", 1
	case 'v':
		return "\v", 1
	case 'x', 'u', 'U':
		width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[0]]
		if len(s) > width {
			if v, err := strconv.ParseUint(s[1:1+width], 16, 32); err == nil && v <= unicode.MaxRune {
				return string(rune(v)), 1 + width
			}
		}
	case '0', '1', '2', '3', '4', '5', '6', '7':
		n := 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			n++
		}
		v, _ := strconv.ParseUint(s[:n], 8, 32)
		return string(rune(v)), n
	}
	return "\\" + s[:1], 1
}
