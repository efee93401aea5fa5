package data

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Calculation is the result of one arithmetic calculation shown in a
// step-by-step solution.
type Calculation struct {
	// Start and End delimit the result as written: sign, digits, thousands
	// separators and decimal point, without "$" or "%".
	Start, End int
	// Value is the result's value.
	Value float64
	// Annotated is true for the number shown after a GSM8K calculator
	// annotation (<<48/2=24>>24), false for free text ("48 / 2 = 24").
	Annotated bool
}

// FinalAnswer locates a solution's final answer: the first "#### "
// (GSM8K), else the last "The answer is" (MetaMathQA). marker is where it
// starts (-1 when there is none); value is the first number after the
// marker, valid when numeric is true.
func FinalAnswer(solution string) (marker int, value float64, numeric bool) {
	marker = strings.Index(solution, "####")
	if marker < 0 {
		marker = strings.LastIndex(solution, "The answer is")
	}
	if marker < 0 {
		return -1, 0, false
	}
	loc := answerNumber.FindStringIndex(solution[marker:])
	if loc == nil {
		return marker, 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(solution[marker+loc[0]:marker+loc[1]], ",", ""), 64)
	return marker, v, err == nil
}

var answerNumber = regexp.MustCompile(`-?[0-9][0-9,]*(\.[0-9]+)?`)

var annotation = regexp.MustCompile(`<<[^<>\n]*>>`)

// FindCalculations returns the calculations shown before the final answer
// marker (all of the text when there is none), in order: the results of
// GSM8K calculator annotations (the number written right after
// "<<…>>"), and free-text calculations "a op b = c" whose left side is
// made of numbers only (operators + - * / x × ÷ \times \cdot \div,
// parentheses, "$", "%", decimals, thousands separators, chains such as
// "a + b + c = d" or "a * b = c - d = e") and evaluates to the right side
// within its rounding (percentages read either as plain numbers or as
// hundredths).
func FindCalculations(solution string) []Calculation {
	end := len(solution)
	if m, _, _ := FinalAnswer(solution); m >= 0 {
		end = m
	}
	text := solution[:end]
	var calcs []Calculation
	masked := []byte(text)
	for _, loc := range annotation.FindAllStringIndex(text, -1) {
		for i := loc[0]; i < loc[1]; i++ {
			masked[i] = 0
		}
		if s, e, v, ok := scanNumber(text, loc[1]); ok {
			calcs = append(calcs, Calculation{Start: s, End: e, Value: v, Annotated: true})
		}
	}
	free := freeTextCalculations(string(masked))
	if len(free) == 0 {
		return calcs
	}
	// Merge, dropping free-text results that overlap an annotated one.
	out := make([]Calculation, 0, len(calcs)+len(free))
	i := 0
	for _, f := range free {
		for i < len(calcs) && calcs[i].Start < f.Start {
			out = append(out, calcs[i])
			i++
		}
		if len(out) > 0 && out[len(out)-1].End > f.Start {
			continue
		}
		if i < len(calcs) && calcs[i].Start < f.End {
			continue
		}
		out = append(out, f)
	}
	return append(out, calcs[i:]...)
}

// scanNumber reads a number literal at text[i:]: an optional "-", digits
// with optional thousands separators (",ddd" groups), and an optional
// decimal part; the digits before the point may be left out (".4").
func scanNumber(text string, i int) (start, end int, value float64, ok bool) {
	start = i
	j := i
	if j < len(text) && text[j] == '-' {
		j++
	}
	d := j
	for j < len(text) && isDigit(text[j]) {
		j++
	}
	if j == d && !(j+1 < len(text) && text[j] == '.' && isDigit(text[j+1])) {
		return 0, 0, 0, false
	}
	// Thousands separators only when the leading group has at most three
	// digits and every group has exactly three.
	if j > d && j-d <= 3 {
		for j+4 <= len(text) && text[j] == ',' && isDigit(text[j+1]) && isDigit(text[j+2]) && isDigit(text[j+3]) &&
			(j+4 == len(text) || !isDigit(text[j+4])) {
			j += 4
		}
	}
	if j+1 < len(text) && text[j] == '.' && isDigit(text[j+1]) {
		j++
		for j < len(text) && isDigit(text[j]) {
			j++
		}
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(text[start:j], ",", ""), 64)
	if err != nil {
		return 0, 0, 0, false
	}
	return start, j, v, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c == '.' }

type tokKind uint8

const (
	tNum tokKind = iota
	tOp
	tLParen
	tRParen
	tEq
)

type token struct {
	kind       tokKind
	op         byte // '+', '-', '*', '/'
	start, end int  // the number literal, for tNum
	value      float64
	pct        bool
	decimals   int
}

// freeTextCalculations lexes text into runs of arithmetic tokens and
// reports verified results.
func freeTextCalculations(text string) []Calculation {
	var calcs []Calculation
	var run []token
	flush := func() {
		if len(run) > 0 {
			calcs = append(calcs, runCalculations(run)...)
			run = run[:0]
		}
	}
	prevValue := func() bool {
		return len(run) > 0 && (run[len(run)-1].kind == tNum || run[len(run)-1].kind == tRParen)
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case isDigit(c) || (c == '$' && i+1 < len(text) && isDigit(text[i+1])) ||
			(c == '.' && i+1 < len(text) && isDigit(text[i+1]) && (i == 0 || !isAlnum(text[i-1]))) ||
			(c == '-' && !prevValue() && i+1 < len(text) && (isDigit(text[i+1]) || text[i+1] == '$')):
			neg := c == '-'
			if neg {
				i++
			}
			if text[i] == '$' {
				i++
			}
			s, e, v, ok := scanNumber(text, i)
			if !ok {
				flush()
				i++
				continue
			}
			if neg {
				v = -v
				if text[s-1] == '-' {
					s--
				}
			}
			t := token{kind: tNum, start: s, end: e, value: v}
			if dot := strings.IndexByte(text[s:e], '.'); dot >= 0 {
				t.decimals = e - s - dot - 1
			}
			i = e
			if i < len(text) && text[i] == '%' {
				t.pct = true
				i++
			}
			if prevValue() {
				flush()
			}
			run = append(run, t)
		case c == '+' || c == '*' || c == '/' || c == '-':
			if c == '-' && !prevValue() {
				flush()
				i++
				continue
			}
			op := c
			run = append(run, token{kind: tOp, op: op})
			i++
		case c == '=':
			run = append(run, token{kind: tEq})
			i++
		case c == '(':
			run = append(run, token{kind: tLParen})
			i++
		case c == ')':
			run = append(run, token{kind: tRParen})
			i++
		default:
			if c != 'x' && c != 'X' && c != '\\' && c != 0xc3 { // 0xc3 starts × and ÷
				flush()
				i++
				continue
			}
			if op, n := wordOperator(text, i); n > 0 && prevValue() && nextStartsOperand(text, i+n) {
				run = append(run, token{kind: tOp, op: op})
				i += n
				continue
			}
			flush()
			i++
		}
	}
	flush()
	return calcs
}

// wordOperator recognises multiplication and division written as x, X,
// ×, ÷, \times, \cdot or \div at text[i:].
func wordOperator(text string, i int) (op byte, n int) {
	for _, w := range []struct {
		s  string
		op byte
	}{{"x", '*'}, {"X", '*'}, {"×", '*'}, {"÷", '/'}, {`\times`, '*'}, {`\cdot`, '*'}, {`\div`, '/'}} {
		if strings.HasPrefix(text[i:], w.s) {
			return w.op, len(w.s)
		}
	}
	return 0, 0
}

func nextStartsOperand(text string, i int) bool {
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	return i < len(text) && (isDigit(text[i]) || text[i] == '$' || text[i] == '(')
}

// runCalculations splits a run at its "=" signs: a segment that follows a
// segment with an operator and starts with a number whose value the
// previous segment evaluates to is a calculation result.
func runCalculations(run []token) []Calculation {
	var segs [][]token
	last := 0
	for i, t := range run {
		if t.kind == tEq {
			segs = append(segs, run[last:i])
			last = i + 1
		}
	}
	if len(segs) == 0 {
		return nil
	}
	segs = append(segs, run[last:])
	var calcs []Calculation
	for i := 1; i < len(segs); i++ {
		lhs, rhs := segs[i-1], segs[i]
		if len(rhs) == 0 || rhs[0].kind != tNum || (len(rhs) > 1 && rhs[1].kind != tOp) || !hasOperator(lhs) {
			continue
		}
		if matches(lhs, rhs[0]) {
			calcs = append(calcs, Calculation{Start: rhs[0].start, End: rhs[0].end, Value: rhs[0].value})
		}
	}
	return calcs
}

func hasOperator(seg []token) bool {
	for _, t := range seg {
		if t.kind == tOp {
			return true
		}
	}
	return false
}

// matches reports whether lhs evaluates to the number r within r's
// rounding, reading percentages as plain numbers or as hundredths.
func matches(lhs []token, r token) bool {
	tol := 0.5*math.Pow(10, -float64(r.decimals)) + 1e-9*math.Abs(r.value)
	for _, hundredths := range []bool{false, true} {
		v, ok := evaluate(lhs, hundredths)
		if !ok {
			continue
		}
		want, t := r.value, tol
		if hundredths && r.pct {
			want, t = want/100, t/100
		}
		if math.Abs(v-want) <= t {
			return true
		}
	}
	return false
}

// evaluate computes an expression of numbers, + - * / and parentheses.
func evaluate(toks []token, hundredths bool) (float64, bool) {
	p := exprParser{toks: toks, hundredths: hundredths}
	v, ok := p.expr()
	return v, ok && p.i == len(toks) && !math.IsInf(v, 0) && !math.IsNaN(v)
}

type exprParser struct {
	toks       []token
	i          int
	hundredths bool
}

func (p *exprParser) expr() (float64, bool) {
	v, ok := p.term()
	for ok && p.i < len(p.toks) && p.toks[p.i].kind == tOp && (p.toks[p.i].op == '+' || p.toks[p.i].op == '-') {
		op := p.toks[p.i].op
		p.i++
		var w float64
		if w, ok = p.term(); ok {
			if op == '+' {
				v += w
			} else {
				v -= w
			}
		}
	}
	return v, ok
}

func (p *exprParser) term() (float64, bool) {
	v, ok := p.factor()
	for ok && p.i < len(p.toks) && p.toks[p.i].kind == tOp && (p.toks[p.i].op == '*' || p.toks[p.i].op == '/') {
		op := p.toks[p.i].op
		p.i++
		var w float64
		if w, ok = p.factor(); ok {
			if op == '*' {
				v *= w
			} else {
				v /= w
			}
		}
	}
	return v, ok
}

func (p *exprParser) factor() (float64, bool) {
	if p.i >= len(p.toks) {
		return 0, false
	}
	t := p.toks[p.i]
	p.i++
	switch t.kind {
	case tNum:
		if t.pct && p.hundredths {
			return t.value / 100, true
		}
		return t.value, true
	case tLParen:
		v, ok := p.expr()
		if !ok || p.i >= len(p.toks) || p.toks[p.i].kind != tRParen {
			return 0, false
		}
		p.i++
		return v, true
	}
	return 0, false
}
