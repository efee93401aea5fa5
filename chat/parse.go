package chat

import (
	"strconv"
	"strings"
)

// The parser follows jinja2.parser: the same statements (if, for, set,
// macro, call, filter, with, break/continue from the loopcontrols
// extension and generation from transformers' AssistantTracker) and the
// same operator precedence.

type stmt interface{}

type (
	textNode   struct{ s string }
	outputNode struct {
		x    expr
		line int
	}
	ifNode struct {
		conds  []expr
		bodies [][]stmt
		els    []stmt
	}
	forNode struct {
		target *target
		iter   expr
		cond   expr
		body   []stmt
		els    []stmt
		line   int
	}
	setNode struct {
		target  *target
		x       expr      // nil for a block set
		body    []stmt    // block set only
		filters []*filter // block set only
		line    int
	}
	macroNode     struct{ def *macroDef }
	callBlockNode struct {
		caller *macroDef
		call   *callExpr
	}
	filterBlockNode struct {
		filters []*filter
		body    []stmt
	}
	withNode struct {
		targets []*target
		values  []expr
		body    []stmt
	}
	loopControl struct {
		brk  bool
		line int
	}
)

// target is the left side of an assignment: a name, a namespace attribute
// (ns.attr) or a tuple of targets.
type target struct {
	name  string
	attr  string // set for ns.attr; name is then the namespace variable
	items []*target
	tuple bool
	line  int
}

type macroDef struct {
	name     string
	params   []string
	defaults []expr // aligned with the last len(defaults) params
	body     []stmt
	line     int
}

type expr interface{ lineNo() int }

type exprBase struct{ line int }

func (e exprBase) lineNo() int { return e.line }

type (
	constExpr struct {
		exprBase
		v any
	}
	nameExpr struct {
		exprBase
		name string
	}
	listExpr struct {
		exprBase
		items []expr
		tuple bool
	}
	dictExpr struct {
		exprBase
		keys, vals []expr
	}
	getattrExpr struct {
		exprBase
		obj  expr
		name string
	}
	getitemExpr struct {
		exprBase
		obj, key expr
	}
	sliceExpr struct {
		exprBase
		obj, start, stop, step expr
	}
	callExpr struct {
		exprBase
		fn   expr
		args callArgs
	}
	filterExpr struct {
		exprBase
		obj expr
		f   *filter
	}
	testExpr struct {
		exprBase
		obj    expr
		name   string
		args   callArgs
		negate bool
	}
	unaryExpr struct {
		exprBase
		op string
		x  expr
	}
	binExpr struct {
		exprBase
		op   string
		a, b expr
	}
	concatExpr struct {
		exprBase
		parts []expr
	}
	andExpr struct {
		exprBase
		a, b expr
	}
	orExpr struct {
		exprBase
		a, b expr
	}
	notExpr struct {
		exprBase
		x expr
	}
	compareExpr struct {
		exprBase
		first expr
		ops   []string
		rest  []expr
	}
	condExpr struct {
		exprBase
		cond, yes, no expr // no may be nil
	}
)

type filter struct {
	name string
	args callArgs
	line int
}

type callArgs struct {
	pos        []expr
	kwNames    []string
	kwVals     []expr
	star       expr // *args
	doubleStar expr // **kwargs
}

type parser struct {
	toks      []token
	pos       int
	loopDepth int
	depth     int // nesting of statements and expressions, bounded by maxDepth
}

// enter counts one level of nesting; the caller defers p.depth--.
func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return syntaxErr(p.cur().line, "template nested too deeply")
	}
	return nil
}

// parse turns a template source into its statement list.
func parse(src string) ([]stmt, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	body, end, err := p.parseBody(nil)
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, syntaxErr(p.cur().line, "unexpected '%s'", end)
	}
	return body, nil
}

func (p *parser) cur() token  { return p.toks[p.pos] }
func (p *parser) peek() token { return p.toks[min(p.pos+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func (p *parser) isOp(v string) bool   { t := p.cur(); return t.kind == tOp && t.val == v }
func (p *parser) isName(v string) bool { t := p.cur(); return t.kind == tName && t.val == v }

func (p *parser) skipOp(v string) bool {
	if p.isOp(v) {
		p.next()
		return true
	}
	return false
}

func (p *parser) skipName(v string) bool {
	if p.isName(v) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectOp(v string) error {
	if !p.skipOp(v) {
		return syntaxErr(p.cur().line, "expected token '%s', got '%s'", v, p.cur().describe())
	}
	return nil
}

func (p *parser) expectName() (string, error) {
	t := p.cur()
	if t.kind != tName {
		return "", syntaxErr(t.line, "expected a name, got %s", t)
	}
	p.next()
	return t.val, nil
}

func (p *parser) expectBlockEnd() error {
	if p.cur().kind != tBlockEnd {
		return syntaxErr(p.cur().line, "expected end of statement block, got %s", p.cur())
	}
	p.next()
	return nil
}

// parseBody parses statements until a block tag named in ends (whose name
// it consumes and returns) or the end of the template.
func (p *parser) parseBody(ends []string) ([]stmt, string, error) {
	var body []stmt
	for {
		t := p.cur()
		switch t.kind {
		case tEOF:
			if len(ends) > 0 {
				return nil, "", syntaxErr(t.line, "unexpected end of template, expected '%s'", strings.Join(ends, "' or '"))
			}
			return body, "", nil
		case tText:
			p.next()
			body = append(body, &textNode{t.val})
		case tVarBegin:
			p.next()
			x, err := p.parseTuple(true, false, nil)
			if err != nil {
				return nil, "", err
			}
			if p.cur().kind != tVarEnd {
				return nil, "", syntaxErr(p.cur().line, "expected end of print statement, got %s", p.cur())
			}
			p.next()
			body = append(body, &outputNode{x: x, line: t.line})
		case tBlockBegin:
			p.next()
			nt := p.cur()
			if nt.kind != tName {
				return nil, "", syntaxErr(nt.line, "tag name expected, got %s", nt)
			}
			for _, e := range ends {
				if nt.val == e {
					p.next()
					return body, e, nil
				}
			}
			s, err := p.parseStatement()
			if err != nil {
				return nil, "", err
			}
			if s != nil {
				body = append(body, s)
			}
		default:
			return nil, "", syntaxErr(t.line, "unexpected %s", t)
		}
	}
}

func (p *parser) parseStatement() (stmt, error) {
	defer func() { p.depth-- }()
	if err := p.enter(); err != nil {
		return nil, err
	}
	t := p.next()
	switch t.val {
	case "if":
		return p.parseIf()
	case "for":
		return p.parseFor(t.line)
	case "set":
		return p.parseSet(t.line)
	case "macro":
		return p.parseMacro(t.line)
	case "call":
		return p.parseCallBlock(t.line)
	case "filter":
		return p.parseFilterBlock(t.line)
	case "with":
		return p.parseWith(t.line)
	case "generation":
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, _, err := p.parseBody([]string{"endgeneration"})
		if err != nil {
			return nil, err
		}
		return &filterBlockNode{body: body}, p.expectBlockEnd()
	case "break", "continue":
		if p.loopDepth == 0 {
			return nil, syntaxErr(t.line, "'%s' outside of a loop", t.val)
		}
		return &loopControl{brk: t.val == "break", line: t.line}, p.expectBlockEnd()
	}
	return nil, syntaxErr(t.line, "encountered unknown tag '%s'", t.val)
}

func (p *parser) parseIf() (stmt, error) {
	n := &ifNode{}
	for {
		cond, err := p.parseTuple(false, false, nil)
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, end, err := p.parseBody([]string{"elif", "else", "endif"})
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, cond)
		n.bodies = append(n.bodies, body)
		switch end {
		case "elif":
			continue
		case "else":
			if err := p.expectBlockEnd(); err != nil {
				return nil, err
			}
			n.els, _, err = p.parseBody([]string{"endif"})
			if err != nil {
				return nil, err
			}
		}
		return n, p.expectBlockEnd()
	}
}

func (p *parser) parseFor(line int) (stmt, error) {
	tgt, err := p.parseAssignTarget(false, []string{"in"})
	if err != nil {
		return nil, err
	}
	if !p.skipName("in") {
		return nil, syntaxErr(p.cur().line, "expected 'in', got %s", p.cur())
	}
	iter, err := p.parseTuple(false, false, []string{"recursive"})
	if err != nil {
		return nil, err
	}
	n := &forNode{target: tgt, iter: iter, line: line}
	if p.skipName("if") {
		if n.cond, err = p.parseExpression(true); err != nil {
			return nil, err
		}
	}
	if p.isName("recursive") {
		return nil, syntaxErr(p.cur().line, "recursive loops are not supported")
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	p.loopDepth++
	body, end, err := p.parseBody([]string{"endfor", "else"})
	p.loopDepth--
	if err != nil {
		return nil, err
	}
	n.body = body
	if end == "else" {
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		if n.els, _, err = p.parseBody([]string{"endfor"}); err != nil {
			return nil, err
		}
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseSet(line int) (stmt, error) {
	tgt, err := p.parseAssignTarget(true, nil)
	if err != nil {
		return nil, err
	}
	n := &setNode{target: tgt, line: line}
	if p.skipOp("=") {
		if n.x, err = p.parseTuple(true, false, nil); err != nil {
			return nil, err
		}
		return n, p.expectBlockEnd()
	}
	if tgt.attr != "" || tgt.tuple {
		return nil, syntaxErr(line, "a block set needs a plain name")
	}
	for p.skipOp("|") {
		f, err := p.parseFilter()
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.parseBody([]string{"endset"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

// parseAssignTarget reads a name, ns.attr (withNamespace) or a tuple of
// names, stopping before any name in extraEnd.
func (p *parser) parseAssignTarget(withNamespace bool, extraEnd []string) (*target, error) {
	line := p.cur().line
	if withNamespace && p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "." {
		ns := p.next().val
		p.next()
		attr, err := p.expectName()
		if err != nil {
			return nil, err
		}
		return &target{name: ns, attr: attr, line: line}, nil
	}
	var items []*target
	isTuple := false
	for {
		if len(items) > 0 {
			if !p.skipOp(",") {
				break
			}
			isTuple = true
		}
		if p.tupleEnd(extraEnd) || p.isOp("=") || p.isOp("|") {
			break
		}
		t, err := p.parseTargetPrimary()
		if err != nil {
			return nil, err
		}
		items = append(items, t)
	}
	switch {
	case len(items) == 0:
		return nil, syntaxErr(line, "expected an assignment target, got %s", p.cur())
	case !isTuple:
		return items[0], nil
	}
	return &target{items: items, tuple: true, line: line}, nil
}

func (p *parser) parseTargetPrimary() (*target, error) {
	line := p.cur().line
	if p.skipOp("(") {
		t, err := p.parseAssignTarget(false, nil)
		if err != nil {
			return nil, err
		}
		return t, p.expectOp(")")
	}
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	switch name {
	case "true", "false", "none", "True", "False", "None":
		return nil, syntaxErr(line, "can't assign to constant '%s'", name)
	}
	return &target{name: name, line: line}, nil
}

func (p *parser) parseParams() (names []string, defaults []expr, err error) {
	if err := p.expectOp("("); err != nil {
		return nil, nil, err
	}
	for !p.isOp(")") {
		if len(names) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, nil, err
			}
			if p.isOp(")") {
				break
			}
		}
		name, err := p.expectName()
		if err != nil {
			return nil, nil, err
		}
		names = append(names, name)
		if p.skipOp("=") {
			d, err := p.parseExpression(true)
			if err != nil {
				return nil, nil, err
			}
			defaults = append(defaults, d)
		} else if len(defaults) > 0 {
			return nil, nil, syntaxErr(p.cur().line, "non-default argument follows default argument")
		}
	}
	p.next()
	return names, defaults, nil
}

func (p *parser) parseMacro(line int) (stmt, error) {
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	def := &macroDef{name: name, line: line}
	if def.params, def.defaults, err = p.parseParams(); err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	saved := p.loopDepth
	p.loopDepth = 0
	def.body, _, err = p.parseBody([]string{"endmacro"})
	p.loopDepth = saved
	if err != nil {
		return nil, err
	}
	if p.cur().kind == tName && p.cur().val == name {
		p.next()
	}
	return &macroNode{def}, p.expectBlockEnd()
}

func (p *parser) parseCallBlock(line int) (stmt, error) {
	caller := &macroDef{name: "caller", line: line}
	var err error
	if p.isOp("(") {
		if caller.params, caller.defaults, err = p.parseParams(); err != nil {
			return nil, err
		}
	}
	x, err := p.parseExpression(true)
	if err != nil {
		return nil, err
	}
	call, ok := x.(*callExpr)
	if !ok {
		return nil, syntaxErr(line, "expected a call expression in the call block")
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	saved := p.loopDepth
	p.loopDepth = 0
	caller.body, _, err = p.parseBody([]string{"endcall"})
	p.loopDepth = saved
	if err != nil {
		return nil, err
	}
	return &callBlockNode{caller: caller, call: call}, p.expectBlockEnd()
}

func (p *parser) parseFilterBlock(line int) (stmt, error) {
	n := &filterBlockNode{}
	for {
		f, err := p.parseFilter()
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
		if !p.skipOp("|") {
			break
		}
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	var err error
	if n.body, _, err = p.parseBody([]string{"endfilter"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseWith(line int) (stmt, error) {
	n := &withNode{}
	for p.cur().kind != tBlockEnd {
		if len(n.targets) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		t, err := p.parseAssignTarget(false, nil)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		n.targets = append(n.targets, t)
		n.values = append(n.values, v)
	}
	p.next()
	var err error
	if n.body, _, err = p.parseBody([]string{"endwith"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

// tupleEnd reports whether the current token ends a tuple.
func (p *parser) tupleEnd(extraEnd []string) bool {
	t := p.cur()
	switch {
	case t.kind == tVarEnd || t.kind == tBlockEnd || t.kind == tEOF:
		return true
	case t.kind == tOp && t.val == ")":
		return true
	case t.kind == tName:
		for _, e := range extraEnd {
			if t.val == e {
				return true
			}
		}
	}
	return false
}

// parseTuple is jinja's parse_tuple: one expression, or several separated
// by commas making a tuple.
func (p *parser) parseTuple(withCondExpr, explicitParens bool, extraEnd []string) (expr, error) {
	line := p.cur().line
	var items []expr
	isTuple := false
	for {
		if len(items) > 0 {
			if !p.skipOp(",") {
				break
			}
		}
		if p.tupleEnd(extraEnd) {
			break
		}
		x, err := p.parseExpression(withCondExpr)
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		if p.isOp(",") {
			isTuple = true
		} else {
			break
		}
	}
	if !isTuple {
		if len(items) > 0 {
			return items[0], nil
		}
		if !explicitParens {
			return nil, syntaxErr(line, "expected an expression, got %s", p.cur())
		}
	}
	return &listExpr{exprBase{line}, items, true}, nil
}

func (p *parser) parseExpression(withCondExpr bool) (expr, error) {
	if withCondExpr {
		return p.parseCondExpr()
	}
	return p.parseOr()
}

func (p *parser) parseCondExpr() (expr, error) {
	line := p.cur().line
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.skipName("if") {
		cond, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var no expr
		if p.skipName("else") {
			if no, err = p.parseCondExpr(); err != nil {
				return nil, err
			}
		}
		x = &condExpr{exprBase{line}, cond, x, no}
	}
	return x, nil
}

func (p *parser) parseOr() (expr, error) {
	x, err := p.parseAnd()
	for err == nil && p.isName("or") {
		line := p.next().line
		var y expr
		if y, err = p.parseAnd(); err == nil {
			x = &orExpr{exprBase{line}, x, y}
		}
	}
	return x, err
}

func (p *parser) parseAnd() (expr, error) {
	x, err := p.parseNot()
	for err == nil && p.isName("and") {
		line := p.next().line
		var y expr
		if y, err = p.parseNot(); err == nil {
			x = &andExpr{exprBase{line}, x, y}
		}
	}
	return x, err
}

func (p *parser) parseNot() (expr, error) {
	defer func() { p.depth-- }()
	if err := p.enter(); err != nil {
		return nil, err
	}
	if p.isName("not") {
		line := p.next().line
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &notExpr{exprBase{line}, x}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.cur().line
	x, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	var ops []string
	var rest []expr
	for {
		t := p.cur()
		var op string
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case t.kind == tName && t.val == "in":
			op = "in"
			p.next()
		case t.kind == tName && t.val == "not" && p.peek().kind == tName && p.peek().val == "in":
			op = "not in"
			p.next()
			p.next()
		}
		if op == "" {
			break
		}
		y, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		rest = append(rest, y)
	}
	if len(ops) == 0 {
		return x, nil
	}
	return &compareExpr{exprBase{line}, x, ops, rest}, nil
}

func (p *parser) parseBinary(ops []string, next func() (expr, error)) (expr, error) {
	x, err := next()
	for err == nil {
		t := p.cur()
		found := false
		for _, o := range ops {
			if t.kind == tOp && t.val == o {
				found = true
			}
		}
		if !found {
			break
		}
		p.next()
		var y expr
		if y, err = next(); err == nil {
			x = &binExpr{exprBase{t.line}, t.val, x, y}
		}
	}
	return x, err
}

func (p *parser) parseMath1() (expr, error) {
	return p.parseBinary([]string{"+", "-"}, p.parseConcat)
}

func (p *parser) parseConcat() (expr, error) {
	line := p.cur().line
	x, err := p.parseMath2()
	if err != nil || !p.isOp("~") {
		return x, err
	}
	parts := []expr{x}
	for p.skipOp("~") {
		y, err := p.parseMath2()
		if err != nil {
			return nil, err
		}
		parts = append(parts, y)
	}
	return &concatExpr{exprBase{line}, parts}, nil
}

func (p *parser) parseMath2() (expr, error) {
	return p.parseBinary([]string{"*", "/", "//", "%"}, p.parsePow)
}

func (p *parser) parsePow() (expr, error) {
	return p.parseBinary([]string{"**"}, func() (expr, error) { return p.parseUnary(true) })
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	defer func() { p.depth-- }()
	if err := p.enter(); err != nil {
		return nil, err
	}
	t := p.cur()
	var x expr
	var err error
	if t.kind == tOp && (t.val == "-" || t.val == "+") {
		p.next()
		var inner expr
		if inner, err = p.parseUnary(false); err != nil {
			return nil, err
		}
		x = &unaryExpr{exprBase{t.line}, t.val, inner}
	} else if x, err = p.parsePrimary(); err != nil {
		return nil, err
	}
	if x, err = p.parsePostfix(x); err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterExpr(x)
	}
	return x, nil
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.next()
	b := exprBase{t.line}
	switch t.kind {
	case tName:
		switch t.val {
		case "true", "True":
			return &constExpr{b, true}, nil
		case "false", "False":
			return &constExpr{b, false}, nil
		case "none", "None":
			return &constExpr{b, nil}, nil
		}
		return &nameExpr{b, t.val}, nil
	case tString:
		s := t.val
		for p.cur().kind == tString {
			s += p.next().val
		}
		return &constExpr{b, s}, nil
	case tInt:
		v, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, syntaxErr(t.line, "integer %s does not fit in 64 bits (the template sandbox's integers are 64-bit)", t.val)
		}
		return &constExpr{b, v}, nil
	case tFloat:
		v, err := strconv.ParseFloat(t.val, 64)
		if err != nil {
			return nil, syntaxErr(t.line, "bad number %s", t.val)
		}
		return &constExpr{b, v}, nil
	case tOp:
		switch t.val {
		case "(":
			x, err := p.parseTuple(true, true, nil)
			if err != nil {
				return nil, err
			}
			return x, p.expectOp(")")
		case "[":
			var items []expr
			for !p.isOp("]") {
				if len(items) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("]") {
						break
					}
				}
				x, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				items = append(items, x)
			}
			p.next()
			return &listExpr{b, items, false}, nil
		case "{":
			d := &dictExpr{exprBase: b}
			for !p.isOp("}") {
				if len(d.keys) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("}") {
						break
					}
				}
				k, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
			}
			p.next()
			return d, nil
		}
	}
	return nil, syntaxErr(t.line, "unexpected %s", t)
}

func (p *parser) parsePostfix(x expr) (expr, error) {
	for {
		t := p.cur()
		if t.kind != tOp {
			return x, nil
		}
		var err error
		switch t.val {
		case ".":
			p.next()
			nt := p.next()
			switch nt.kind {
			case tName:
				x = &getattrExpr{exprBase{t.line}, x, nt.val}
			case tInt:
				v, err := strconv.ParseInt(nt.val, 10, 64)
				if err != nil {
					return nil, syntaxErr(nt.line, "index %s does not fit in 64 bits", nt.val)
				}
				x = &getitemExpr{exprBase{t.line}, x, &constExpr{exprBase{t.line}, v}}
			default:
				return nil, syntaxErr(nt.line, "expected a name after '.', got %s", nt)
			}
		case "[":
			p.next()
			if x, err = p.parseSubscript(x, t.line); err != nil {
				return nil, err
			}
		case "(":
			p.next()
			args, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{exprBase{t.line}, x, args}
		default:
			return x, nil
		}
	}
}

func (p *parser) parseSubscript(obj expr, line int) (expr, error) {
	var parts [3]expr
	n := 0
	isSlice := false
	for {
		if !p.isOp(":") && !p.isOp("]") {
			x, err := p.parseExpression(true)
			if err != nil {
				return nil, err
			}
			parts[n] = x
		}
		if p.isOp(":") && n < 2 {
			p.next()
			isSlice = true
			n++
			continue
		}
		break
	}
	if err := p.expectOp("]"); err != nil {
		return nil, err
	}
	if !isSlice {
		if parts[0] == nil {
			return nil, syntaxErr(line, "expected an expression in '[]'")
		}
		return &getitemExpr{exprBase{line}, obj, parts[0]}, nil
	}
	return &sliceExpr{exprBase{line}, obj, parts[0], parts[1], parts[2]}, nil
}

// parseCallArgs reads call arguments after "(" up to and including ")".
func (p *parser) parseCallArgs() (callArgs, error) {
	var a callArgs
	first := true
	for !p.isOp(")") {
		if !first {
			if err := p.expectOp(","); err != nil {
				return a, err
			}
			if p.isOp(")") {
				break
			}
		}
		first = false
		switch {
		case p.skipOp("**"):
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.doubleStar = x
		case p.skipOp("*"):
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.star = x
		case p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "=":
			name := p.next().val
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.kwNames = append(a.kwNames, name)
			a.kwVals = append(a.kwVals, x)
		default:
			if len(a.kwNames) > 0 {
				return a, syntaxErr(p.cur().line, "positional argument follows keyword argument")
			}
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.pos = append(a.pos, x)
		}
	}
	p.next()
	return a, nil
}

func (p *parser) parseFilter() (*filter, error) {
	line := p.cur().line
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	if _, ok := filters[name]; !ok {
		return nil, syntaxErr(line, "no filter named '%s'", name)
	}
	f := &filter{name: name, line: line}
	if p.skipOp("(") {
		if f.args, err = p.parseCallArgs(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *parser) parseFilterExpr(x expr) (expr, error) {
	for {
		t := p.cur()
		switch {
		case t.kind == tOp && t.val == "|":
			p.next()
			f, err := p.parseFilter()
			if err != nil {
				return nil, err
			}
			x = &filterExpr{exprBase{t.line}, x, f}
		case t.kind == tName && t.val == "is":
			p.next()
			negate := p.skipName("not")
			name, err := p.expectName()
			if err != nil {
				return nil, err
			}
			if _, ok := tests[name]; !ok {
				return nil, syntaxErr(t.line, "no test named '%s'", name)
			}
			te := &testExpr{exprBase: exprBase{t.line}, obj: x, name: name, negate: negate}
			c := p.cur()
			switch {
			case c.kind == tOp && c.val == "(":
				p.next()
				if te.args, err = p.parseCallArgs(); err != nil {
					return nil, err
				}
			case c.kind == tName && c.val != "else" && c.val != "or" && c.val != "and" ||
				c.kind == tString || c.kind == tInt || c.kind == tFloat ||
				c.kind == tOp && (c.val == "[" || c.val == "{"):
				if c.kind == tName && c.val == "is" {
					return nil, syntaxErr(c.line, "You cannot chain multiple tests with is")
				}
				arg, err := p.parsePrimary()
				if err != nil {
					return nil, err
				}
				if arg, err = p.parsePostfix(arg); err != nil {
					return nil, err
				}
				te.args.pos = []expr{arg}
			}
			x = te
		case t.kind == tOp && t.val == "(":
			p.next()
			args, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{exprBase{t.line}, x, args}
		default:
			return x, nil
		}
	}
}
