package chat

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile or broken template from exhausting memory or
// the stack; the sandbox's own range limit is in builtins.go.
const (
	maxDepth     = 400      // nested macro calls and data structures
	maxStringLen = 64 << 20 // largest string, list or output a template may build, in bytes
	maxSteps     = 10000000 // loop iterations and macro calls in one render
	// maxBuilt is how many bytes of strings and lists one render may build
	// in all (see renderer.charge), so that a loop keeping many large
	// strings alive cannot exhaust memory either.
	maxBuilt = 4 * maxStringLen
	// elemSize is what one item of a list costs (a Go interface value).
	elemSize = 16
)

// scope is one level of variables: the globals, a for-loop iteration, a
// macro call or a with block. Lookups walk to the parents; assignments go
// to the innermost level, as Jinja's frames do.
type scope struct {
	vars   map[string]any
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{vars: map[string]any{}, parent: parent} }

func (s *scope) lookup(name string) (any, bool) {
	for ; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// macro is a {% macro %} (or the caller of a {% call %} block) bound to the
// scope it was defined in.
type macro struct {
	def     *macroDef
	closure *scope
}

// builtinFunc is a global function or a method bound to its receiver.
type builtinFunc struct {
	name string
	fn   func(r *renderer, args []any, kw *Dict) (any, error)
}

// loopInfo is the loop variable of a for block.
type loopInfo struct {
	items []any
	i     int
	last  any // value of the previous loop.changed call
}

// loopSignal carries break and continue out of a loop body.
type loopSignal struct{ brk bool }

func (*loopSignal) Error() string { return "loop control outside a loop" }

type renderer struct {
	depth int
	steps int
	built int64 // bytes of strings and lists built so far, against maxBuilt
}

// charge counts a value an expression has just built against maxBuilt.
// Operations whose result can be far larger than their operands (replace,
// join, *, split...) also check the size before building (checkSize).
func (r *renderer) charge(v any) error {
	n := costOf(v)
	if n > maxStringLen {
		return tooLong()
	}
	r.built += n
	if r.built > maxBuilt {
		return &Error{Kind: "MemoryError", Msg: fmt.Sprintf("template built more than %d bytes of strings and lists in all", maxBuilt)}
	}
	return nil
}

// costOf is the memory a value holds by itself: its bytes for a string,
// elemSize per item of a list, tuple or view, twice that per dict entry.
func costOf(v any) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x))
	case markup:
		return int64(len(x))
	case []any:
		return elemSize * int64(len(x))
	case tuple:
		return elemSize * int64(len(x))
	case *view:
		return elemSize * int64(len(x.items))
	case *Dict:
		return 2 * elemSize * int64(len(x.vals))
	}
	return 0
}

// checkSize refuses to build a string of n bytes or a list of n/elemSize
// items beyond maxStringLen.
func checkSize(n int64) error {
	if n < 0 || n > maxStringLen {
		return tooLong()
	}
	return nil
}

// step counts one loop iteration or macro call against maxSteps.
func (r *renderer) step() error {
	r.steps++
	if r.steps > maxSteps {
		return &Error{Kind: "RuntimeError", Msg: fmt.Sprintf("template exceeded %d loop iterations and macro calls", maxSteps)}
	}
	return nil
}

// tooLong is the error for a string or output beyond maxStringLen.
func tooLong() error {
	return &Error{Kind: "MemoryError", Msg: fmt.Sprintf("template built a string or list larger than %d bytes", maxStringLen)}
}

// typeErrorf makes the Error for a Python TypeError.
func typeErrorf(format string, args ...any) error {
	return &Error{Kind: "TypeError", Msg: fmt.Sprintf(format, args...)}
}

// withLine gives err the template line where it arose, unless it has one.
func withLine(err error, line int) error {
	var e *Error
	if errors.As(err, &e) && e.Line == 0 {
		e.Line = line
	}
	return err
}

func (r *renderer) execBody(body []stmt, s *scope, w *strings.Builder) error {
	for _, st := range body {
		if err := r.exec(st, s, w); err != nil {
			return err
		}
		if w.Len() > maxStringLen {
			return tooLong()
		}
	}
	return nil
}

// capture renders body to a string (a set or filter block, a macro's
// output), counted against maxBuilt.
func (r *renderer) capture(body []stmt, s *scope) (string, error) {
	var b strings.Builder
	if err := r.execBody(body, s, &b); err != nil {
		return b.String(), err
	}
	return b.String(), r.charge(b.String())
}

func (r *renderer) exec(st stmt, s *scope, w *strings.Builder) error {
	switch n := st.(type) {
	case *textNode:
		w.WriteString(n.s)
	case *outputNode:
		v, err := r.eval(n.x, s)
		if err != nil {
			return err
		}
		w.WriteString(pyStr(v))
	case *ifNode:
		for i, c := range n.conds {
			v, err := r.eval(c, s)
			if err != nil {
				return err
			}
			if truthy(v) {
				return r.execBody(n.bodies[i], s, w)
			}
		}
		return r.execBody(n.els, s, w)
	case *forNode:
		return r.execFor(n, s, w)
	case *setNode:
		var v any
		if n.x != nil {
			var err error
			if v, err = r.eval(n.x, s); err != nil {
				return err
			}
		} else {
			out, err := r.capture(n.body, s)
			if err != nil {
				return err
			}
			if v, err = r.applyFilters(n.filters, out, s); err != nil {
				return err
			}
		}
		return withLine(r.assign(n.target, v, s), n.line)
	case *macroNode:
		s.vars[n.def.name] = &macro{def: n.def, closure: s}
	case *callBlockNode:
		caller := &macro{def: n.caller, closure: s}
		v, err := r.evalCall(n.call, s, caller)
		if err != nil {
			return err
		}
		w.WriteString(pyStr(v))
	case *filterBlockNode:
		out, err := r.capture(n.body, s)
		if err != nil {
			return err
		}
		v, err := r.applyFilters(n.filters, out, s)
		if err != nil {
			return err
		}
		w.WriteString(pyStr(v))
	case *withNode:
		inner := newScope(s)
		for i, t := range n.targets {
			v, err := r.eval(n.values[i], s)
			if err != nil {
				return err
			}
			if err := r.assign(t, v, inner); err != nil {
				return withLine(err, t.line)
			}
		}
		return r.execBody(n.body, inner, w)
	case *loopControl:
		return &loopSignal{brk: n.brk}
	}
	return nil
}

func (r *renderer) applyFilters(fs []*filter, v any, s *scope) (any, error) {
	for _, f := range fs {
		var err error
		if v, err = r.applyFilter(f, v, s); err == nil {
			err = r.charge(v)
		}
		if err != nil {
			return nil, withLine(err, f.line)
		}
	}
	return v, nil
}

func (r *renderer) assign(t *target, v any, s *scope) error {
	switch {
	case t.attr != "":
		obj, _ := s.lookup(t.name)
		ns, ok := obj.(*namespace)
		if !ok {
			return &Error{Kind: "TemplateRuntimeError", Msg: "cannot assign attribute on non-namespace object"}
		}
		ns.attrs.set(t.attr, v)
	case t.tuple:
		items, err := iterate(v)
		if err != nil {
			return typeErrorf("cannot unpack non-iterable %s object", typeName(v))
		}
		if len(items) < len(t.items) {
			return &Error{Kind: "ValueError", Msg: fmt.Sprintf("not enough values to unpack (expected %d, got %d)", len(t.items), len(items))}
		}
		if len(items) > len(t.items) {
			return &Error{Kind: "ValueError", Msg: fmt.Sprintf("too many values to unpack (expected %d)", len(t.items))}
		}
		for i, sub := range t.items {
			if err := r.assign(sub, items[i], s); err != nil {
				return err
			}
		}
	default:
		s.vars[t.name] = v
	}
	return nil
}

func (r *renderer) execFor(n *forNode, s *scope, w *strings.Builder) error {
	seq, err := r.eval(n.iter, s)
	if err != nil {
		return err
	}
	items, err := iterate(seq)
	if err != nil {
		return withLine(err, n.line)
	}
	if n.cond != nil {
		var kept []any
		for _, it := range items {
			is := newScope(s)
			if err := r.assign(n.target, it, is); err != nil {
				return withLine(err, n.line)
			}
			ok, err := r.eval(n.cond, is)
			if err != nil {
				return err
			}
			if truthy(ok) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return r.execBody(n.els, newScope(s), w)
	}
	loop := &loopInfo{items: items}
	for i, it := range items {
		if err := r.step(); err != nil {
			return withLine(err, n.line)
		}
		loop.i = i
		is := newScope(s)
		is.vars["loop"] = loop
		if err := r.assign(n.target, it, is); err != nil {
			return withLine(err, n.line)
		}
		err := r.execBody(n.body, is, w)
		var sig *loopSignal
		if errors.As(err, &sig) {
			if sig.brk {
				break
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// iterate is Python's iter() over a template value.
func iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case tuple:
		return x, nil
	case string, markup:
		s, _ := asString(x)
		if err := checkSize(elemSize * int64(utf8.RuneCountInString(s))); err != nil {
			return nil, err // a list of its characters would be too large
		}
		out := make([]any, 0, len(s))
		for _, c := range s {
			out = append(out, string(c))
		}
		return out, nil
	case *Dict:
		return x.Keys(), nil
	case *iterator:
		return x.drain()
	case *view:
		return x.items, nil
	case *undefined:
		return nil, nil
	}
	return nil, typeErrorf("'%s' object is not iterable", typeName(v))
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case tuple:
		return x
	}
	return nil
}

func (r *renderer) eval(x expr, s *scope) (any, error) {
	v, err := r.evalExpr(x, s)
	if err == nil {
		switch x.(type) {
		case *listExpr, *dictExpr, *sliceExpr, *callExpr, *filterExpr, *binExpr, *concatExpr:
			err = r.charge(v)
		}
	}
	if err != nil {
		return nil, withLine(err, x.lineNo())
	}
	return v, nil
}

func (r *renderer) evalExpr(x expr, s *scope) (any, error) {
	switch n := x.(type) {
	case *constExpr:
		return n.v, nil
	case *nameExpr:
		if v, ok := s.lookup(n.name); ok {
			return v, nil
		}
		if f, ok := globals[n.name]; ok {
			return f, nil
		}
		return undefinedName(n.name), nil
	case *listExpr:
		items := make([]any, len(n.items))
		for i, e := range n.items {
			v, err := r.eval(e, s)
			if err != nil {
				return nil, err
			}
			items[i] = v
		}
		if n.tuple {
			return tuple(items), nil
		}
		return items, nil
	case *dictExpr:
		d := NewDict()
		for i := range n.keys {
			k, err := r.eval(n.keys[i], s)
			if err != nil {
				return nil, err
			}
			v, err := r.eval(n.vals[i], s)
			if err != nil {
				return nil, err
			}
			if err := d.set(k, v); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *getattrExpr:
		obj, err := r.eval(n.obj, s)
		if err != nil {
			return nil, err
		}
		return getAttr(obj, n.name)
	case *getitemExpr:
		obj, err := r.eval(n.obj, s)
		if err != nil {
			return nil, err
		}
		key, err := r.eval(n.key, s)
		if err != nil {
			return nil, err
		}
		return getItem(obj, key)
	case *sliceExpr:
		return r.evalSlice(n, s)
	case *callExpr:
		return r.evalCall(n, s, nil)
	case *filterExpr:
		v, err := r.eval(n.obj, s)
		if err != nil {
			return nil, err
		}
		return r.applyFilter(n.f, v, s)
	case *testExpr:
		v, err := r.eval(n.obj, s)
		if err != nil {
			return nil, err
		}
		args, kw, err := r.evalArgs(n.args, s)
		if err != nil {
			return nil, err
		}
		ok, err := runTest(r, n.name, v, args, kw)
		if err != nil {
			return nil, err
		}
		return ok != n.negate, nil
	case *unaryExpr:
		v, err := r.eval(n.x, s)
		if err != nil {
			return nil, err
		}
		return unaryOp(n.op, v)
	case *binExpr:
		a, err := r.eval(n.a, s)
		if err != nil {
			return nil, err
		}
		b, err := r.eval(n.b, s)
		if err != nil {
			return nil, err
		}
		return binaryOp(n.op, a, b)
	case *concatExpr:
		var b strings.Builder
		for _, p := range n.parts {
			v, err := r.eval(p, s)
			if err != nil {
				return nil, err
			}
			b.WriteString(pyStr(v))
			if b.Len() > maxStringLen {
				return nil, tooLong()
			}
		}
		return b.String(), nil
	case *andExpr:
		a, err := r.eval(n.a, s)
		if err != nil || !truthy(a) {
			return a, err
		}
		return r.eval(n.b, s)
	case *orExpr:
		a, err := r.eval(n.a, s)
		if err != nil || truthy(a) {
			return a, err
		}
		return r.eval(n.b, s)
	case *notExpr:
		v, err := r.eval(n.x, s)
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case *compareExpr:
		a, err := r.eval(n.first, s)
		if err != nil {
			return nil, err
		}
		for i, op := range n.ops {
			b, err := r.eval(n.rest[i], s)
			if err != nil {
				return nil, err
			}
			ok, err := compareOp(op, a, b)
			if err != nil || !ok {
				return false, err
			}
			a = b
		}
		return true, nil
	case *condExpr:
		c, err := r.eval(n.cond, s)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return r.eval(n.yes, s)
		}
		if n.no == nil {
			return &undefined{kind: "UndefinedError", msg: "the inline if-expression evaluated to false and no else section was defined."}, nil
		}
		return r.eval(n.no, s)
	}
	return nil, fmt.Errorf("chat: unknown expression %T", x)
}

func (r *renderer) evalArgs(a callArgs, s *scope) ([]any, *Dict, error) {
	var args []any
	for _, e := range a.pos {
		v, err := r.eval(e, s)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, v)
	}
	if a.star != nil {
		v, err := r.eval(a.star, s)
		if err != nil {
			return nil, nil, err
		}
		items, err := iterate(v)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, items...)
	}
	var kw *Dict
	if len(a.kwNames) > 0 || a.doubleStar != nil {
		kw = NewDict()
	}
	for i, name := range a.kwNames {
		v, err := r.eval(a.kwVals[i], s)
		if err != nil {
			return nil, nil, err
		}
		kw.set(name, v)
	}
	if a.doubleStar != nil {
		v, err := r.eval(a.doubleStar, s)
		if err != nil {
			return nil, nil, err
		}
		d, ok := v.(*Dict)
		if !ok {
			return nil, nil, typeErrorf("argument after ** must be a mapping, not %s", typeName(v))
		}
		for i, k := range d.keys {
			kw.set(k, d.vals[i])
		}
	}
	return args, kw, nil
}

func (r *renderer) evalCall(n *callExpr, s *scope, caller *macro) (any, error) {
	fn, err := r.eval(n.fn, s)
	if err != nil {
		return nil, err
	}
	args, kw, err := r.evalArgs(n.args, s)
	if err != nil {
		return nil, err
	}
	v, err := r.call(fn, args, kw, caller)
	return v, withLine(err, n.line)
}

func (r *renderer) call(fn any, args []any, kw *Dict, caller *macro) (any, error) {
	switch f := fn.(type) {
	case *macro:
		return r.callMacro(f, args, kw, caller)
	case *builtinFunc:
		return f.fn(r, args, kw)
	case *undefined:
		return nil, f.err()
	}
	return nil, typeErrorf("'%s' object is not callable", typeName(fn))
}

func (r *renderer) callMacro(m *macro, args []any, kw *Dict, caller *macro) (any, error) {
	if r.depth >= maxDepth {
		return nil, &Error{Kind: "RecursionError", Msg: "maximum recursion depth exceeded while calling a Python object"}
	}
	if err := r.step(); err != nil {
		return nil, err
	}
	r.depth++
	defer func() { r.depth-- }()
	d := m.def
	s := newScope(m.closure)
	var varargs []any
	if len(args) > len(d.params) {
		varargs = args[len(d.params):]
		args = args[:len(d.params)]
	}
	kwargs := NewDict()
	bound := map[string]bool{}
	for i, a := range args {
		s.vars[d.params[i]] = a
		bound[d.params[i]] = true
	}
	if kw != nil {
		for i, k := range kw.keys {
			name, _ := k.(string)
			isParam := false
			for _, p := range d.params {
				isParam = isParam || p == name
			}
			if !isParam {
				kwargs.set(k, kw.vals[i])
				continue
			}
			if bound[name] {
				return nil, typeErrorf("macro '%s' got multiple values for argument '%s'", d.name, name)
			}
			s.vars[name] = kw.vals[i]
			bound[name] = true
		}
	}
	firstDefault := len(d.params) - len(d.defaults)
	for i, p := range d.params {
		if bound[p] {
			continue
		}
		if i >= firstDefault {
			v, err := r.eval(d.defaults[i-firstDefault], s)
			if err != nil {
				return nil, err
			}
			s.vars[p] = v
			continue
		}
		s.vars[p] = &undefined{kind: "UndefinedError", msg: fmt.Sprintf("parameter '%s' was not provided", p)}
	}
	if varargs == nil {
		varargs = []any{}
	}
	s.vars["varargs"] = tuple(varargs)
	s.vars["kwargs"] = kwargs
	if caller != nil {
		s.vars["caller"] = caller
	}
	return r.capture(d.body, s)
}

func (r *renderer) evalSlice(n *sliceExpr, s *scope) (any, error) {
	obj, err := r.eval(n.obj, s)
	if err != nil {
		return nil, err
	}
	var bounds [3]*int64
	for i, e := range []expr{n.start, n.stop, n.step} {
		if e == nil {
			continue
		}
		v, err := r.eval(e, s)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		_, iv, isInt, ok := asNumber(v)
		if !ok || !isInt {
			return nil, typeErrorf("slice indices must be integers or None or have an __index__ method")
		}
		bounds[i] = &iv
	}
	switch x := obj.(type) {
	case *undefined:
		return nil, x.err()
	case string, markup:
		s, _ := asString(x)
		rs := []rune(s)
		idx, err := sliceIndices(len(rs), bounds)
		if err != nil {
			return nil, err
		}
		out := make([]rune, len(idx))
		for i, j := range idx {
			out[i] = rs[j]
		}
		if _, ok := x.(markup); ok {
			return markup(out), nil
		}
		return string(out), nil
	case []any, tuple:
		list := asList(x)
		idx, err := sliceIndices(len(list), bounds)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(idx))
		for i, j := range idx {
			out[i] = list[j]
		}
		if _, ok := x.(tuple); ok {
			return tuple(out), nil
		}
		return out, nil
	}
	return undefinedAttr(obj, "slice"), nil
}

// sliceIndices lists the positions that Python's seq[start:stop:step]
// selects from a sequence of length n.
func sliceIndices(n int, b [3]*int64) ([]int, error) {
	step := int64(1)
	if b[2] != nil {
		step = *b[2]
	}
	if step == 0 {
		return nil, &Error{Kind: "ValueError", Msg: "slice step cannot be zero"}
	}
	ln := int64(n)
	clamp := func(p *int64, def int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += ln
			if v < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
		}
		if v >= ln {
			if step < 0 {
				return ln - 1
			}
			return ln
		}
		return v
	}
	// The loops stop before i+step could overflow.
	var out []int
	if step > 0 {
		for i, stop := clamp(b[0], 0), clamp(b[1], ln); i < stop; i += step {
			out = append(out, int(i))
			if step >= stop-i {
				break
			}
		}
	} else {
		for i, stop := clamp(b[0], ln-1), clamp(b[1], -1); i > stop; i += step {
			out = append(out, int(i))
			if step <= stop-i {
				break
			}
		}
	}
	return out, nil
}

// getAttr is Jinja's environment.getattr (obj.name) in the immutable
// sandbox: a Python attribute (such as a method) first, then an item.
func getAttr(obj any, name string) (any, error) {
	switch x := obj.(type) {
	case *undefined:
		return nil, x.err()
	case *namespace:
		if v, ok := x.attrs.get(name); ok {
			return v, nil
		}
	case *loopInfo:
		if v, ok := x.attr(name); ok {
			return v, nil
		}
	case *Dict:
		if m, ok := methodOf(obj, name); ok {
			return m, nil
		}
		if v, ok := x.get(name); ok {
			return v, nil
		}
	default:
		if m, ok := methodOf(obj, name); ok {
			return m, nil
		}
	}
	return undefinedAttr(obj, name), nil
}

// getItem is Jinja's environment.getitem (obj[key]): an item first, then,
// for string keys, an attribute.
func getItem(obj, key any) (any, error) {
	switch x := obj.(type) {
	case *undefined:
		return nil, x.err()
	case *Dict:
		if v, ok := x.get(key); ok {
			return v, nil
		}
	case *view:
		if _, i, isInt, ok := asNumber(key); ok && isInt && x.typ == "range" {
			if i < 0 {
				i += int64(len(x.items))
			}
			if i >= 0 && i < int64(len(x.items)) {
				return x.items[i], nil
			}
		}
	case []any, tuple, string, markup:
		if _, i, isInt, ok := asNumber(key); ok && isInt {
			if s, ok := asString(x); ok {
				rs := []rune(s)
				if i < 0 {
					i += int64(len(rs))
				}
				if i >= 0 && i < int64(len(rs)) {
					if _, ok := x.(markup); ok {
						return markup(rs[i]), nil
					}
					return string(rs[i]), nil
				}
				break
			}
			list := asList(x)
			if i < 0 {
				i += int64(len(list))
			}
			if i >= 0 && i < int64(len(list)) {
				return list[i], nil
			}
		}
	}
	if name, ok := key.(string); ok {
		return getAttr(obj, name)
	}
	return undefinedAttr(obj, key), nil
}

func (l *loopInfo) attr(name string) (any, bool) {
	n := int64(len(l.items))
	i := int64(l.i)
	switch name {
	case "index":
		return i + 1, true
	case "index0":
		return i, true
	case "revindex":
		return n - i, true
	case "revindex0":
		return n - i - 1, true
	case "first":
		return i == 0, true
	case "last":
		return i == n-1, true
	case "length":
		return n, true
	case "depth":
		return int64(1), true
	case "depth0":
		return int64(0), true
	case "previtem":
		if i == 0 {
			return &undefined{kind: "UndefinedError", msg: "there is no previous item"}, true
		}
		return l.items[i-1], true
	case "nextitem":
		if i == n-1 {
			return &undefined{kind: "UndefinedError", msg: "there is no next item"}, true
		}
		return l.items[i+1], true
	case "cycle":
		return &builtinFunc{name: "cycle", fn: func(_ *renderer, args []any, _ *Dict) (any, error) {
			if len(args) == 0 {
				return nil, typeErrorf("no items for cycling given")
			}
			return args[l.i%len(args)], nil
		}}, true
	case "changed":
		return &builtinFunc{name: "changed", fn: func(_ *renderer, args []any, _ *Dict) (any, error) {
			v := tuple(args)
			if l.last != nil && pyEqual(l.last, v) {
				return false, nil
			}
			l.last = v
			return true, nil
		}}, true
	}
	return nil, false
}

func compareOp(op string, a, b any) (bool, error) {
	switch op {
	case "==":
		return pyEqual(a, b), nil
	case "!=":
		return !pyEqual(a, b), nil
	case "in", "not in":
		ok, err := contains(b, a)
		return ok == (op == "in"), err
	}
	c, err := pyCompare(op, a, b)
	if err != nil {
		return false, err
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	}
	return c >= 0, nil
}

// contains is Python's "item in container".
func contains(container, item any) (bool, error) {
	switch c := container.(type) {
	case string, markup:
		cs, _ := asString(c)
		s, ok := asString(item)
		if !ok {
			return false, typeErrorf("'in <string>' requires string as left operand, not %s", typeName(item))
		}
		return strings.Contains(cs, s), nil
	case []any, tuple:
		for _, e := range asList(c) {
			if pyEqual(e, item) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		switch x := item.(type) {
		case []any, *Dict:
			return false, typeErrorf("unhashable type: '%s'", typeName(item))
		case *view:
			if x.typ == "dict_keys" || x.typ == "dict_items" {
				return false, typeErrorf("unhashable type: '%s'", typeName(item))
			}
		}
		_, ok := c.get(item) // other values without a Go key (Undefined, range...) are never keys
		return ok, nil
	case *iterator, *view:
		items, err := iterate(c)
		if err != nil {
			return false, err
		}
		for i, e := range items {
			if pyEqual(e, item) {
				if it, ok := c.(*iterator); ok { // "in" consumes a generator up to the match
					it.pos = len(it.items) - len(items) + i + 1
				}
				return true, nil
			}
		}
		return false, nil
	case *undefined:
		return false, nil
	}
	return false, typeErrorf("argument of type '%s' is not iterable", typeName(container))
}

func unaryOp(op string, v any) (any, error) {
	if u, ok := v.(*undefined); ok {
		return nil, u.err()
	}
	f, i, isInt, ok := asNumber(v)
	if !ok {
		return nil, typeErrorf("bad operand type for unary %s: '%s'", op, typeName(v))
	}
	switch {
	case op == "+" && isInt:
		return i, nil
	case op == "+":
		return f, nil
	case isInt:
		return subInt(0, i)
	}
	return -f, nil
}

func binaryOp(op string, a, b any) (any, error) {
	if u, ok := a.(*undefined); ok {
		return nil, u.err()
	}
	if u, ok := b.(*undefined); ok {
		return nil, u.err()
	}
	fa, ia, aInt, aNum := asNumber(a)
	fb, ib, bInt, bNum := asNumber(b)
	unsupported := func() error {
		name := op
		if op == "**" {
			name = "** or pow()"
		}
		return typeErrorf("unsupported operand type(s) for %s: '%s' and '%s'", name, typeName(a), typeName(b))
	}
	if aNum && bNum {
		return numericOp(op, fa, fb, ia, ib, aInt && bInt)
	}
	if v, ok, err := markupOp(op, a, b); ok || err != nil {
		return v, err
	}
	switch op {
	case "+":
		switch x := a.(type) {
		case string:
			if y, ok := b.(string); ok {
				if len(x)+len(y) > maxStringLen {
					return nil, tooLong()
				}
				return x + y, nil
			}
			return nil, typeErrorf("can only concatenate str (not \"%s\") to str", typeName(b))
		case []any:
			if y, ok := b.([]any); ok {
				if err := checkSize(elemSize * int64(len(x)+len(y))); err != nil {
					return nil, err
				}
				return append(append([]any{}, x...), y...), nil
			}
			return nil, typeErrorf("can only concatenate list (not \"%s\") to list", typeName(b))
		case tuple:
			if y, ok := b.(tuple); ok {
				if err := checkSize(elemSize * int64(len(x)+len(y))); err != nil {
					return nil, err
				}
				return append(append(tuple{}, x...), y...), nil
			}
			return nil, typeErrorf("can only concatenate tuple (not \"%s\") to tuple", typeName(b))
		}
	case "*":
		seq, n := a, ib
		if aNum && aInt {
			seq, n = b, ia
		} else if !bNum || !bInt {
			return nil, typeErrorf("can't multiply sequence by non-int of type '%s'", typeName(b))
		}
		n = max(n, 0)
		switch x := seq.(type) {
		case string:
			if n > 0 && int64(len(x)) > maxStringLen/n {
				return nil, tooLong()
			}
			return strings.Repeat(x, int(n)), nil
		case []any, tuple:
			list := asList(x)
			if n > 0 && elemSize*int64(len(list)) > maxStringLen/n {
				return nil, tooLong()
			}
			out := make([]any, 0, len(list)*int(n))
			for range n {
				out = append(out, list...)
			}
			if _, ok := x.(tuple); ok {
				return tuple(out), nil
			}
			return out, nil
		}
	case "%":
		if s, ok := a.(string); ok {
			return percentFormat(s, b)
		}
	}
	return nil, unsupported()
}

func numericOp(op string, fa, fb float64, ia, ib int64, ints bool) (any, error) {
	zero := func(msg string) error { return &Error{Kind: "ZeroDivisionError", Msg: msg} }
	switch op {
	case "+":
		if ints {
			return addInt(ia, ib)
		}
		return fa + fb, nil
	case "-":
		if ints {
			return subInt(ia, ib)
		}
		return fa - fb, nil
	case "*":
		if ints {
			return mulInt(ia, ib)
		}
		return fa * fb, nil
	case "/":
		if fb == 0 {
			return nil, zero("division by zero")
		}
		return fa / fb, nil
	case "//":
		if ints {
			if ib == 0 {
				return nil, zero("integer division or modulo by zero")
			}
			if ia == math.MinInt64 && ib == -1 {
				return nil, overflow("division")
			}
			q := ia / ib
			if (ia%ib != 0) && ((ia < 0) != (ib < 0)) {
				q--
			}
			return q, nil
		}
		if fb == 0 {
			return nil, zero("float floor division by zero")
		}
		return math.Floor(fa / fb), nil
	case "%":
		if ints {
			if ib == 0 {
				return nil, zero("integer modulo by zero")
			}
			m := ia % ib
			if m != 0 && (m < 0) != (ib < 0) {
				m += ib
			}
			return m, nil
		}
		if fb == 0 {
			return nil, zero("float modulo")
		}
		m := math.Mod(fa, fb)
		if m != 0 && (m < 0) != (fb < 0) {
			m += fb
		}
		return m, nil
	case "**":
		if ints && ib >= 0 {
			return powInt(ia, ib)
		}
		if fa == 0 && fb < 0 {
			return nil, zero("0.0 cannot be raised to a negative power")
		}
		return math.Pow(fa, fb), nil
	}
	return nil, typeErrorf("unsupported operator %s", op)
}

// markupOp applies markupsafe's operators when a Markup is involved: a
// plain string joined to Markup by + is HTML-escaped, Markup * n and
// Markup % args stay Markup (the arguments escaped). ok is false when
// neither operand is Markup.
func markupOp(op string, a, b any) (v any, ok bool, err error) {
	ma, aIsM := a.(markup)
	mb, bIsM := b.(markup)
	if !aIsM && !bIsM {
		return nil, false, nil
	}
	switch op {
	case "+":
		x, xok := asString(a)
		y, yok := asString(b)
		if !xok || !yok {
			return nil, true, typeErrorf("unsupported operand type(s) for +: '%s' and '%s'", typeName(a), typeName(b))
		}
		if !aIsM {
			x = htmlEscape(x)
		}
		if !bIsM {
			y = htmlEscape(y)
		}
		if len(x)+len(y) > maxStringLen {
			return nil, true, tooLong()
		}
		return markup(x + y), true, nil
	case "*":
		if aIsM {
			v, err = binaryOp("*", string(ma), b)
		} else {
			v, err = binaryOp("*", a, string(mb))
		}
		if s, isStr := v.(string); isStr {
			v = markup(s)
		}
		return v, true, err
	case "%":
		if !aIsM {
			return nil, false, nil
		}
		v, err := percentFormatEscaped(string(ma), b, true)
		if s, isStr := v.(string); isStr {
			v = markup(s)
		}
		return v, true, err
	}
	return nil, false, nil
}
