package chat

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxRange is jinja2.sandbox.MAX_RANGE.
const maxRange = 100000

// now is the clock behind strftime_now; tests replace it.
var now = time.Now

type (
	filterFunc func(r *renderer, v any, args []any, kw *Dict) (any, error)
	testFunc   func(r *renderer, v any, args []any, kw *Dict) (bool, error)
)

// filters, tests and globals are filled in init because some of them look
// the others up (map, select, the "filter" test).
var (
	filters map[string]filterFunc
	tests   map[string]testFunc
	globals map[string]any
)

// required marks a parameter without a default in bind.
type requiredArg struct{}

var required = requiredArg{}

// bind matches Python-style call arguments to named parameters; defs holds
// each parameter's default, or required.
func bind(fname string, args []any, kw *Dict, names []string, defs ...any) ([]any, error) {
	if len(args) > len(names) {
		return nil, typeErrorf("%s() takes at most %d arguments (%d given)", fname, len(names), len(args))
	}
	out := make([]any, len(names))
	set := make([]bool, len(names))
	for i, a := range args {
		out[i], set[i] = a, true
	}
	if kw != nil {
		for j, k := range kw.keys {
			found := false
			for i, n := range names {
				if k == n {
					if set[i] {
						return nil, typeErrorf("%s() got multiple values for argument '%s'", fname, n)
					}
					out[i], set[i], found = kw.vals[j], true, true
				}
			}
			if !found {
				return nil, typeErrorf("%s() got an unexpected keyword argument %s", fname, pyRepr(k))
			}
		}
	}
	for i := range names {
		if set[i] {
			continue
		}
		if defs[i] == required {
			return nil, typeErrorf("%s() missing required argument '%s'", fname, names[i])
		}
		out[i] = defs[i]
	}
	return out, nil
}

func (r *renderer) applyFilter(f *filter, v any, s *scope) (any, error) {
	args, kw, err := r.evalArgs(f.args, s)
	if err != nil {
		return nil, err
	}
	return filters[f.name](r, v, args, kw)
}

func runTest(r *renderer, name string, v any, args []any, kw *Dict) (bool, error) {
	return tests[name](r, v, args, kw)
}

// intArg reads an integer argument (Python ints and bools).
func intArg(fname string, v any) (int64, error) {
	if _, i, isInt, ok := asNumber(v); ok && isInt {
		return i, nil
	}
	return 0, typeErrorf("%s(): '%s' object cannot be interpreted as an integer", fname, typeName(v))
}

func strArg(fname string, v any) (string, error) {
	if s, ok := asString(v); ok {
		return s, nil
	}
	return "", typeErrorf("%s() argument must be str, not %s", fname, typeName(v))
}

// optStr reads an argument that may be None.
func optStr(fname string, v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	s, err := strArg(fname, v)
	return &s, err
}

// pyLen is Python's len().
func pyLen(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return int64(utf8.RuneCountInString(x)), nil
	case markup:
		return int64(utf8.RuneCountInString(string(x))), nil
	case []any:
		return int64(len(x)), nil
	case tuple:
		return int64(len(x)), nil
	case *Dict:
		return int64(x.Len()), nil
	case *undefined:
		return 0, nil
	case *namespace:
		return int64(x.attrs.Len()), nil
	case *view:
		return int64(len(x.items)), nil
	}
	return 0, typeErrorf("object of type '%s' has no len()", typeName(v))
}

// attrGetter is jinja's make_attrgetter: "a.b.0" looks up each part with
// getitem, digits as integers.
func attrGetter(attribute any) func(any) (any, error) {
	var parts []any
	if s, ok := attribute.(string); ok {
		for _, p := range strings.Split(s, ".") {
			if n, err := strconv.ParseInt(p, 10, 64); err == nil {
				parts = append(parts, n)
			} else {
				parts = append(parts, p)
			}
		}
	} else {
		parts = []any{attribute}
	}
	return func(v any) (any, error) {
		for _, p := range parts {
			var err error
			if v, err = getItem(v, p); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
}

func lowerIfString(v any) any {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return v
}

// sortValues sorts items stably by key, stopping at the first comparison
// Python would refuse.
func sortValues(items []any, key func(any) (any, error), reverse bool) ([]any, error) {
	keys := make([]any, len(items))
	for i, it := range items {
		k, err := key(it)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var cmpErr error
	sort.SliceStable(idx, func(a, b int) bool {
		c, err := pyCompare("<", keys[idx[a]], keys[idx[b]])
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		if reverse {
			return c > 0
		}
		return c < 0
	})
	if cmpErr != nil {
		return nil, cmpErr
	}
	out := make([]any, len(items))
	for i, j := range idx {
		out[i] = items[j]
	}
	return out, nil
}

// selectOrReject implements the select, reject, selectattr and rejectattr
// filters. Like jinja's, it yields nothing for a false value (such as
// None) instead of failing to iterate it.
func selectOrReject(r *renderer, v any, args []any, kw *Dict, byAttr, want bool) (any, error) {
	if !truthy(v) {
		return []any{}, nil
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	get := func(x any) (any, error) { return x, nil }
	if byAttr {
		if len(args) == 0 {
			return nil, typeErrorf("missing parameter for attribute name")
		}
		get = attrGetter(args[0])
		args = args[1:]
	}
	check := func(x any) (bool, error) { return truthy(x), nil }
	if len(args) > 0 {
		name, ok := args[0].(string)
		t, found := tests[name]
		if !ok || !found {
			return nil, &Error{Kind: "TemplateRuntimeError", Msg: fmt.Sprintf("no test named %s", pyRepr(args[0]))}
		}
		targs := args[1:]
		check = func(x any) (bool, error) { return t(r, x, targs, kw) }
	}
	var out []any
	for _, it := range items {
		x, err := get(it)
		if err != nil {
			return nil, err
		}
		ok, err := check(x)
		if err != nil {
			return nil, err
		}
		if ok == want {
			out = append(out, it)
		}
	}
	return out, nil
}

// minMax implements the min and max filters.
func minMax(fname string, v any, args []any, kw *Dict, wantMax bool) (any, error) {
	a, err := bind(fname, args, kw, []string{"case_sensitive", "attribute"}, false, nil)
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &undefined{kind: "UndefinedError", msg: "No aggregated item, sequence was empty."}, nil
	}
	key := func(x any) (any, error) { return x, nil }
	if a[1] != nil {
		key = attrGetter(a[1])
	}
	caseSensitive := truthy(a[0])
	best, bestKey := items[0], any(nil)
	for i, it := range items {
		k, err := key(it)
		if err != nil {
			return nil, err
		}
		if !caseSensitive {
			k = lowerIfString(k)
		}
		if i == 0 {
			bestKey = k
			continue
		}
		c, err := pyCompare("<", k, bestKey)
		if err != nil {
			return nil, err
		}
		if (wantMax && c > 0) || (!wantMax && c < 0) {
			best, bestKey = it, k
		}
	}
	return best, nil
}

func init() {
	filters = map[string]filterFunc{
		"abs": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			f, i, isInt, ok := asNumber(v)
			switch {
			case !ok:
				return nil, typeErrorf("bad operand type for abs(): '%s'", typeName(v))
			case isInt && i < 0:
				return subInt(0, i)
			case isInt:
				return i, nil
			}
			return math.Abs(f), nil
		},
		"attr": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("attr", args, kw, []string{"name"}, required)
			if err != nil {
				return nil, err
			}
			name, err := strArg("attr", a[0])
			if err != nil {
				return nil, err
			}
			if u, ok := v.(*undefined); ok {
				return nil, u.err()
			}
			if m, ok := methodOf(v, name); ok {
				return m, nil
			}
			if ns, ok := v.(*namespace); ok {
				if x, ok := ns.attrs.get(name); ok {
					return x, nil
				}
			}
			if l, ok := v.(*loopInfo); ok {
				if x, ok := l.attr(name); ok {
					return x, nil
				}
			}
			return undefinedAttr(v, name), nil
		},
		"batch": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("batch", args, kw, []string{"linecount", "fill_with"}, required, nil)
			if err != nil {
				return nil, err
			}
			n, err := intArg("batch", a[0])
			if err != nil {
				return nil, err
			}
			if n <= 0 {
				return nil, &Error{Kind: "ValueError", Msg: "batch size must be positive"}
			}
			if n > maxStringLen {
				return nil, tooLong()
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			if a[1] != nil {
				rows := (int64(len(items)) + n - 1) / n
				if rows > 0 && n > maxStringLen/elemSize/rows {
					return nil, tooLong()
				}
			}
			var out []any
			for i := 0; i < len(items); i += int(n) {
				row := append([]any{}, items[i:min(i+int(n), len(items))]...)
				for a[1] != nil && len(row) < int(n) {
					row = append(row, a[1])
				}
				out = append(out, row)
			}
			return out, nil
		},
		"capitalize": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return keepMarkup(v, pyCapitalize(pyStr(v))), nil
		},
		"center": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("center", args, kw, []string{"width"}, int64(80))
			if err != nil {
				return nil, err
			}
			w, err := intArg("center", a[0])
			if err != nil {
				return nil, err
			}
			s, err := pyCenter(pyStr(v), w)
			return keepMarkup(v, s), err
		},
		"default": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("default", args, kw, []string{"default_value", "boolean"}, "", false)
			if err != nil {
				return nil, err
			}
			if _, ok := v.(*undefined); ok || (truthy(a[1]) && !truthy(v)) {
				return a[0], nil
			}
			return v, nil
		},
		"dictsort": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("dictsort", args, kw, []string{"case_sensitive", "by", "reverse"}, false, "key", false)
			if err != nil {
				return nil, err
			}
			d, ok := v.(*Dict)
			if u, isU := v.(*undefined); isU {
				return nil, u.err()
			} else if !ok {
				return nil, &Error{Kind: "AttributeError", Msg: fmt.Sprintf("'%s' object has no attribute 'items'", typeName(v))}
			}
			pos := 0
			switch a[1] {
			case "key":
			case "value":
				pos = 1
			default:
				return nil, &Error{Kind: "FilterArgumentError", Msg: "You can only sort by either \"key\" or \"value\""}
			}
			items := make([]any, d.Len())
			for i, k := range d.keys {
				items[i] = tuple{k, d.vals[i]}
			}
			caseSensitive := truthy(a[0])
			return sortValues(items, func(x any) (any, error) {
				k := x.(tuple)[pos]
				if !caseSensitive {
					k = lowerIfString(k)
				}
				return k, nil
			}, truthy(a[2]))
		},
		"escape": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			if m, ok := v.(markup); ok {
				return m, nil
			}
			return markup(htmlEscape(pyStr(v))), nil
		},
		"first": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			if it, ok := v.(*iterator); ok {
				if err := it.force(); err != nil {
					return nil, err
				}
				if it.pos < len(it.items) {
					it.pos++
					return it.items[it.pos-1], nil
				}
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			if len(items) == 0 {
				return &undefined{kind: "UndefinedError", msg: "No first item, sequence was empty."}, nil
			}
			return items[0], nil
		},
		"float": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("float", args, kw, []string{"default"}, 0.0)
			if err != nil {
				return nil, err
			}
			if u, ok := v.(*undefined); ok {
				return nil, u.err()
			}
			if f, ok := pyFloat(v); ok {
				return f, nil
			}
			return a[0], nil
		},
		"format": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			s, err := strArg("format", v)
			if err != nil {
				return nil, err
			}
			var arg any = tuple(args)
			if kw != nil && kw.Len() > 0 {
				arg = kw
			}
			_, isM := v.(markup)
			out, err := percentFormatEscaped(s, arg, isM)
			if err != nil {
				return nil, err
			}
			return keepMarkup(v, out.(string)), nil
		},
		"indent": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("indent", args, kw, []string{"width", "first", "blank"}, int64(4), false, false)
			if err != nil {
				return nil, err
			}
			ind, ok := a[0].(string)
			if !ok {
				n, err := intArg("indent", a[0])
				if err != nil {
					return nil, err
				}
				if n > maxStringLen {
					return nil, tooLong()
				}
				ind = strings.Repeat(" ", int(max(n, 0)))
			}
			// jinja appends "\n" to the value itself, so only strings work.
			text, ok := asString(v)
			if u, isU := v.(*undefined); isU {
				return nil, u.err()
			} else if !ok {
				return nil, typeErrorf("unsupported operand type(s) for +=: '%s' and 'str'", typeName(v))
			}
			if int64(strings.Count(text, "\n")+1)*int64(len(ind)) > maxStringLen {
				return nil, tooLong()
			}
			return keepMarkup(v, pyIndent(text, ind, truthy(a[1]), truthy(a[2]))), nil
		},
		"int": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("int", args, kw, []string{"default", "base"}, int64(0), int64(10))
			if err != nil {
				return nil, err
			}
			base, err := intArg("int", a[1])
			if err != nil {
				return nil, err
			}
			if u, ok := v.(*undefined); ok {
				return nil, u.err()
			}
			i, ok, err := pyInt(v, int(base))
			if err != nil {
				return nil, err
			}
			if ok {
				return i, nil
			}
			return a[0], nil
		},
		"items": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			switch x := v.(type) {
			case *undefined:
				return []any{}, nil
			case *Dict:
				return dictItems(x), nil
			}
			return nil, typeErrorf("Can only get item pairs from a mapping.")
		},
		"join": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("join", args, kw, []string{"d", "attribute"}, "", nil)
			if err != nil {
				return nil, err
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			get := func(x any) (any, error) { return x, nil }
			if a[1] != nil {
				get = attrGetter(a[1])
			}
			for i, it := range items {
				x, err := get(it)
				if err != nil {
					return nil, err
				}
				parts[i] = pyStr(x)
			}
			if err := checkSize(joinedLen(parts, pyStr(a[0]))); err != nil {
				return nil, err
			}
			return strings.Join(parts, pyStr(a[0])), nil
		},
		"last": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			switch v.(type) {
			case string, markup, []any, tuple, *Dict, *view, *undefined:
			default:
				return nil, typeErrorf("'%s' object is not reversible", typeName(v))
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			if len(items) == 0 {
				return &undefined{kind: "UndefinedError", msg: "No last item, sequence was empty."}, nil
			}
			return items[len(items)-1], nil
		},
		"length": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return pyLen(v)
		},
		"list": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			items, err := iterate(v)
			return append([]any{}, items...), err
		},
		"lower": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return keepMarkup(v, strings.ToLower(pyStr(v))), nil
		},
		"map": func(r *renderer, v any, args []any, kw *Dict) (any, error) {
			if !truthy(v) { // jinja maps a false value (such as None) to nothing
				return []any{}, nil
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			var fn func(any) (any, error)
			if len(args) == 0 && kw != nil {
				if attr, ok := kw.get("attribute"); ok {
					get := attrGetter(attr)
					def, hasDef := kw.get("default")
					fn = func(x any) (any, error) {
						y, err := get(x)
						if _, isU := y.(*undefined); isU && hasDef {
							return def, err
						}
						return y, err
					}
				}
			}
			if fn == nil {
				if len(args) == 0 {
					return nil, &Error{Kind: "FilterArgumentError", Msg: "map requires a filter argument"}
				}
				name, _ := args[0].(string)
				f, ok := filters[name]
				if !ok {
					return nil, &Error{Kind: "TemplateRuntimeError", Msg: fmt.Sprintf("no filter named %s", pyRepr(args[0]))}
				}
				fargs := args[1:]
				fn = func(x any) (any, error) { return f(r, x, fargs, kw) }
			}
			out := make([]any, len(items))
			for i, it := range items {
				if out[i], err = fn(it); err != nil {
					return nil, err
				}
			}
			return out, nil
		},
		"max": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			return minMax("max", v, args, kw, true)
		},
		"min": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			return minMax("min", v, args, kw, false)
		},
		"reject": func(r *renderer, v any, args []any, kw *Dict) (any, error) {
			return selectOrReject(r, v, args, kw, false, false)
		},
		"rejectattr": func(r *renderer, v any, args []any, kw *Dict) (any, error) {
			return selectOrReject(r, v, args, kw, true, false)
		},
		"replace": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("replace", args, kw, []string{"old", "new", "count"}, required, required, nil)
			if err != nil {
				return nil, err
			}
			n := int64(-1)
			if a[2] != nil {
				if n, err = intArg("replace", a[2]); err != nil {
					return nil, err
				}
			}
			s, old, repl := pyStr(v), pyStr(a[0]), pyStr(a[1])
			if err := checkSize(replacedLen(s, old, repl, n)); err != nil {
				return nil, err
			}
			return strings.Replace(s, old, repl, int(n)), nil
		},
		"reverse": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			if s, ok := asString(v); ok {
				rs := []rune(s)
				for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
					rs[i], rs[j] = rs[j], rs[i]
				}
				return keepMarkup(v, string(rs)), nil
			}
			items, err := iterate(v)
			if err != nil {
				return nil, &Error{Kind: "FilterArgumentError", Msg: "argument must be iterable"}
			}
			out := make([]any, len(items))
			for i, it := range items {
				out[len(items)-1-i] = it
			}
			// Python's reversed() gives an iterator for sequences; a
			// generator is not reversible, so jinja lists it instead.
			switch x := v.(type) {
			case []any:
				return &iterator{items: out, typ: "list_reverseiterator"}, nil
			case tuple:
				return &iterator{items: out, typ: "reversed"}, nil
			case *Dict:
				return &iterator{items: out, typ: "dict_reversekeyiterator"}, nil
			case *view:
				typ := map[string]string{"dict_items": "dict_reverseitemiterator", "dict_keys": "dict_reversekeyiterator",
					"dict_values": "dict_reversevalueiterator", "range": "range_iterator"}[x.typ]
				return &iterator{items: out, typ: typ}, nil
			}
			return out, nil
		},
		"round": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("round", args, kw, []string{"precision", "method"}, int64(0), "common")
			if err != nil {
				return nil, err
			}
			if u, ok := v.(*undefined); ok {
				return nil, u.err()
			}
			f, i, isInt, ok := asNumber(v)
			if !ok {
				return nil, typeErrorf("type %s doesn't define __round__ method", typeName(v))
			}
			p, err := intArg("round", a[0])
			if err != nil {
				return nil, err
			}
			scale := math.Pow(10, float64(p))
			switch a[1] {
			case "common": // Python's round(): an int stays an int
				if isInt && p >= 0 {
					return i, nil
				}
				if isInt {
					return int64(math.RoundToEven(f*scale) / scale), nil
				}
				return math.RoundToEven(f*scale) / scale, nil
			case "ceil":
				return math.Ceil(f*scale) / scale, nil
			case "floor":
				return math.Floor(f*scale) / scale, nil
			}
			return nil, &Error{Kind: "FilterArgumentError", Msg: "method must be common, ceil or floor"}
		},
		"safe": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return markup(pyStr(v)), nil
		},
		"select": func(r *renderer, v any, args []any, kw *Dict) (any, error) {
			return selectOrReject(r, v, args, kw, false, true)
		},
		"selectattr": func(r *renderer, v any, args []any, kw *Dict) (any, error) {
			return selectOrReject(r, v, args, kw, true, true)
		},
		"sort": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("sort", args, kw, []string{"reverse", "case_sensitive", "attribute"}, false, false, nil)
			if err != nil {
				return nil, err
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			get := func(x any) (any, error) { return x, nil }
			if a[2] != nil {
				get = attrGetter(a[2])
			}
			caseSensitive := truthy(a[1])
			return sortValues(items, func(x any) (any, error) {
				k, err := get(x)
				if !caseSensitive {
					k = lowerIfString(k)
				}
				return k, err
			}, truthy(a[0]))
		},
		"string": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return keepMarkup(v, pyStr(v)), nil
		},
		"sum": func(r *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("sum", args, kw, []string{"attribute", "start"}, nil, int64(0))
			if err != nil {
				return nil, err
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			total := a[1]
			get := func(x any) (any, error) { return x, nil }
			if a[0] != nil {
				get = attrGetter(a[0])
			}
			for _, it := range items {
				x, err := get(it)
				if err != nil {
					return nil, err
				}
				if total, err = binaryOp("+", total, x); err != nil {
					return nil, err
				}
				// Summing lists or strings builds a new one at each step.
				if err := r.charge(total); err != nil {
					return nil, err
				}
			}
			return total, nil
		},
		"title": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return jinjaTitle(pyStr(v)), nil
		},
		"tojson": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("tojson", args, kw, []string{"ensure_ascii", "indent", "separators", "sort_keys"}, false, nil, nil, false)
			if err != nil {
				return nil, err
			}
			o := jsonOptions{itemSep: ", ", keySep: ": ", sortKeys: truthy(a[3]), asciiOnly: truthy(a[0])}
			switch ind := a[1].(type) {
			case nil:
			case string:
				o.indent = &ind
			default:
				n, err := intArg("tojson", ind)
				if err != nil {
					return nil, err
				}
				if n > 1<<10 {
					return nil, &Error{Kind: "ValueError", Msg: "tojson indent too large"}
				}
				s := strings.Repeat(" ", int(max(n, 0)))
				o.indent = &s
			}
			if o.indent != nil {
				o.itemSep = ","
			}
			if a[2] != nil {
				seps := asList(a[2])
				if len(seps) != 2 {
					return nil, &Error{Kind: "ValueError", Msg: "separators must be a pair of strings"}
				}
				o.itemSep, o.keySep = pyStr(seps[0]), pyStr(seps[1])
			}
			return toJSON(v, o)
		},
		"trim": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("trim", args, kw, []string{"chars"}, nil)
			if err != nil {
				return nil, err
			}
			chars, err := optStr("trim", a[0])
			if err != nil {
				return nil, err
			}
			return keepMarkup(v, pyStrip(pyStr(v), chars, true, true)), nil
		},
		"unique": func(_ *renderer, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("unique", args, kw, []string{"case_sensitive", "attribute"}, false, nil)
			if err != nil {
				return nil, err
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			get := func(x any) (any, error) { return x, nil }
			if a[1] != nil {
				get = attrGetter(a[1])
			}
			var seen []any
			out := []any{}
			for _, it := range items {
				k, err := get(it)
				if err != nil {
					return nil, err
				}
				if !truthy(a[0]) {
					k = lowerIfString(k)
				}
				dup := false
				for _, s := range seen {
					dup = dup || pyEqual(s, k)
				}
				if !dup {
					seen = append(seen, k)
					out = append(out, it)
				}
			}
			return out, nil
		},
		"upper": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			return keepMarkup(v, strings.ToUpper(pyStr(v))), nil
		},
		"wordcount": func(_ *renderer, v any, _ []any, _ *Dict) (any, error) {
			n := int64(0)
			in := false
			for _, c := range pyStr(v) {
				w := c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c)
				if w && !in {
					n++
				}
				in = w
			}
			return n, nil
		},
	}
	// These jinja filters are Python generator functions: they return a
	// generator at once and do their work when it is consumed.
	for _, name := range []string{"batch", "items", "map", "reject", "rejectattr", "select", "selectattr", "unique"} {
		filters[name] = lazy(filters[name])
	}
	filters["count"] = filters["length"]
	filters["d"] = filters["default"]
	filters["e"] = filters["escape"]

	cmpTest := func(op string) testFunc {
		return func(_ *renderer, v any, args []any, kw *Dict) (bool, error) {
			a, err := bind(op, args, kw, []string{"other"}, required)
			if err != nil {
				return false, err
			}
			return compareOp(op, v, a[0])
		}
	}
	isType := func(f func(any) bool) testFunc {
		return func(_ *renderer, v any, _ []any, _ *Dict) (bool, error) { return f(v), nil }
	}
	tests = map[string]testFunc{
		"boolean":  isType(func(v any) bool { _, ok := v.(bool); return ok }),
		"callable": isType(func(v any) bool { _, m := v.(*macro); _, b := v.(*builtinFunc); return m || b }),
		"defined":  isType(func(v any) bool { _, ok := v.(*undefined); return !ok }),
		"divisibleby": func(_ *renderer, v any, args []any, kw *Dict) (bool, error) {
			a, err := bind("divisibleby", args, kw, []string{"num"}, required)
			if err != nil {
				return false, err
			}
			m, err := binaryOp("%", v, a[0])
			return err == nil && pyEqual(m, int64(0)), err
		},
		"escaped": isType(func(any) bool { return false }),
		"even": func(_ *renderer, v any, _ []any, _ *Dict) (bool, error) {
			m, err := binaryOp("%", v, int64(2))
			return err == nil && pyEqual(m, int64(0)), err
		},
		"false": isType(func(v any) bool { return v == false }),
		"filter": isType(func(v any) bool {
			s, ok := v.(string)
			_, found := filters[s]
			return ok && found
		}),
		"float": isType(func(v any) bool { _, ok := v.(float64); return ok }),
		"in": func(_ *renderer, v any, args []any, kw *Dict) (bool, error) {
			a, err := bind("in", args, kw, []string{"seq"}, required)
			if err != nil {
				return false, err
			}
			return contains(a[0], v)
		},
		"integer": isType(func(v any) bool { _, ok := v.(int64); return ok }),
		"iterable": isType(func(v any) bool {
			switch v.(type) {
			case string, markup, []any, tuple, *Dict, *iterator, *view, *undefined:
				return true
			}
			return false
		}),
		"lower": isType(func(v any) bool {
			s := pyStr(v)
			return strings.ToLower(s) == s && strings.ToUpper(s) != s
		}),
		"mapping": isType(func(v any) bool { _, ok := v.(*Dict); return ok }),
		"none":    isType(func(v any) bool { return v == nil }),
		"number":  isType(func(v any) bool { _, _, _, ok := asNumber(v); return ok }),
		"odd": func(_ *renderer, v any, _ []any, _ *Dict) (bool, error) {
			m, err := binaryOp("%", v, int64(2))
			return err == nil && pyEqual(m, int64(1)), err
		},
		"sameas": func(_ *renderer, v any, args []any, kw *Dict) (bool, error) {
			a, err := bind("sameas", args, kw, []string{"other"}, required)
			if err != nil {
				return false, err
			}
			return sameObject(v, a[0]), nil
		},
		"sequence": isType(func(v any) bool {
			switch x := v.(type) {
			case string, markup, []any, tuple, *Dict, *undefined:
				return true
			case *view:
				return x.typ == "range"
			}
			return false
		}),
		"string": isType(func(v any) bool { _, ok := asString(v); return ok }),
		"test": isType(func(v any) bool {
			s, ok := v.(string)
			_, found := tests[s]
			return ok && found
		}),
		"true":      isType(func(v any) bool { return v == true }),
		"undefined": isType(func(v any) bool { _, ok := v.(*undefined); return ok }),
		"upper": isType(func(v any) bool {
			s := pyStr(v)
			return strings.ToUpper(s) == s && strings.ToLower(s) != s
		}),
	}
	for alias, op := range map[string]string{
		"eq": "==", "equalto": "==", "==": "==", "ne": "!=", "!=": "!=",
		"lt": "<", "lessthan": "<", "<": "<", "le": "<=", "<=": "<=",
		"gt": ">", "greaterthan": ">", ">": ">", "ge": ">=", ">=": ">=",
	} {
		tests[alias] = cmpTest(op)
	}

	globals = map[string]any{
		"range":           &builtinFunc{name: "range", fn: pyRange},
		"dict":            &builtinFunc{name: "dict", fn: pyDict},
		"namespace":       &builtinFunc{name: "namespace", fn: newNamespace},
		"joiner":          &builtinFunc{name: "joiner", fn: newJoiner},
		"raise_exception": &builtinFunc{name: "raise_exception", fn: raiseException},
		"strftime_now":    &builtinFunc{name: "strftime_now", fn: strftimeNow},
	}
}

// lazy makes a filter that returns a list into one that returns a
// generator computing that list when first consumed.
func lazy(f filterFunc) filterFunc {
	return func(r *renderer, v any, args []any, kw *Dict) (any, error) {
		return &iterator{typ: "generator", pending: func() ([]any, error) {
			out, err := f(r, v, args, kw)
			list, _ := out.([]any)
			return list, err
		}}, nil
	}
}

// sameObject approximates Python's "is" for the interpreter's values.
func sameObject(a, b any) bool {
	switch x := a.(type) {
	case nil, bool, string:
		return a == b
	case int64, float64:
		return pyEqual(a, b) && typeName(a) == typeName(b)
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	}
	return a == b
}

func dictItems(d *Dict) []any {
	out := make([]any, d.Len())
	for i, k := range d.keys {
		out[i] = tuple{k, d.vals[i]}
	}
	return out
}

func pyRange(_ *renderer, args []any, kw *Dict) (any, error) {
	if kw != nil && kw.Len() > 0 {
		return nil, typeErrorf("range() takes no keyword arguments")
	}
	var bounds []int64
	for _, a := range args {
		n, err := intArg("range", a)
		if err != nil {
			return nil, err
		}
		bounds = append(bounds, n)
	}
	start, step := int64(0), int64(1)
	var stop int64
	switch len(bounds) {
	case 1:
		stop = bounds[0]
	case 2:
		start, stop = bounds[0], bounds[1]
	case 3:
		start, stop, step = bounds[0], bounds[1], bounds[2]
	default:
		return nil, typeErrorf("range expected 1 to 3 arguments, got %d", len(bounds))
	}
	if step == 0 {
		return nil, &Error{Kind: "ValueError", Msg: "range() arg 3 must not be zero"}
	}
	// The span stop-start may not fit in int64; as uint64 it does.
	var n uint64
	if step > 0 && stop > start {
		d, s := uint64(stop)-uint64(start), uint64(step)
		n = d / s
		if d%s != 0 {
			n++
		}
	} else if step < 0 && stop < start {
		d, s := uint64(start)-uint64(stop), uint64(-(step+1))+1
		n = d / s
		if d%s != 0 {
			n++
		}
	}
	if n > maxRange {
		return nil, &Error{Kind: "OverflowError", Msg: fmt.Sprintf("Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", maxRange)}
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	repr := fmt.Sprintf("range(%d, %d)", start, stop)
	if step != 1 {
		repr = fmt.Sprintf("range(%d, %d, %d)", start, stop, step)
	}
	return &view{items: out, typ: "range", repr: repr}, nil
}

// pyDict is dict(mapping_or_pairs, **kwargs).
func pyDict(_ *renderer, args []any, kw *Dict) (any, error) {
	d := NewDict()
	if len(args) > 1 {
		return nil, typeErrorf("dict expected at most 1 argument, got %d", len(args))
	}
	if len(args) == 1 {
		if src, ok := args[0].(*Dict); ok {
			for i, k := range src.keys {
				d.set(k, src.vals[i])
			}
		} else {
			items, err := iterate(args[0])
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				pair := asList(it)
				if len(pair) != 2 {
					return nil, &Error{Kind: "ValueError", Msg: "dictionary update sequence element has the wrong length; 2 is required"}
				}
				if err := d.set(pair[0], pair[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	if kw != nil {
		for i, k := range kw.keys {
			d.set(k, kw.vals[i])
		}
	}
	return d, nil
}

func newNamespace(r *renderer, args []any, kw *Dict) (any, error) {
	d, err := pyDict(r, args, kw)
	if err != nil {
		return nil, err
	}
	return &namespace{attrs: d.(*Dict)}, nil
}

func newJoiner(_ *renderer, args []any, kw *Dict) (any, error) {
	a, err := bind("joiner", args, kw, []string{"sep"}, ", ")
	if err != nil {
		return nil, err
	}
	used := false
	return &builtinFunc{name: "joiner", fn: func(*renderer, []any, *Dict) (any, error) {
		if !used {
			used = true
			return "", nil
		}
		return a[0], nil
	}}, nil
}

func raiseException(_ *renderer, args []any, kw *Dict) (any, error) {
	a, err := bind("raise_exception", args, kw, []string{"message"}, required)
	if err != nil {
		return nil, err
	}
	return nil, &Error{Kind: "TemplateError", Msg: pyStr(a[0])}
}

func strftimeNow(_ *renderer, args []any, kw *Dict) (any, error) {
	a, err := bind("strftime_now", args, kw, []string{"format"}, required)
	if err != nil {
		return nil, err
	}
	f, err := strArg("strftime_now", a[0])
	if err != nil {
		return nil, err
	}
	return strftime(now(), f), nil
}

// strftime formats t as C's strftime does for the common directives.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		noPad := false
		if f[i] == '-' && i+1 < len(f) {
			noPad = true
			i++
		}
		num := func(v, width int) {
			if noPad {
				b.WriteString(strconv.Itoa(v))
			} else {
				fmt.Fprintf(&b, "%0*d", width, v)
			}
		}
		switch f[i] {
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'c':
			b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'd':
			num(t.Day(), 2)
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			num((t.Hour()+11)%12+1, 2)
		case 'j':
			num(t.YearDay(), 3)
		case 'm':
			num(int(t.Month()), 2)
		case 'M':
			num(t.Minute(), 2)
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'S':
			num(t.Second(), 2)
		case 'y':
			num(t.Year()%100, 2)
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

// keepMarkup returns s as Markup when the filter's input was Markup, as
// jinja's filters that call methods of their soft_str(value) do.
func keepMarkup(in any, s string) any {
	if _, ok := in.(markup); ok {
		return markup(s)
	}
	return s
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// pyFloat is Python's float(v) for the interpreter's values.
func pyFloat(v any) (float64, bool) {
	if f, _, _, ok := asNumber(v); ok {
		return f, true
	}
	s, ok := asString(v)
	if !ok {
		return 0, false
	}
	s = strings.ReplaceAll(pyStrip(s, nil, true, true), "_", "")
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case "inf", "infinity", "nan":
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		return 0, false
	}
	return f, true
}

// pyInt is Jinja's int filter: int(value, base) for strings, else
// int(value), falling back to int(float(value)). ok is false where Jinja
// returns the default; a value whose integer does not fit in 64 bits
// raises OverflowError.
func pyInt(v any, base int) (i int64, ok bool, err error) {
	if _, i, isInt, ok := asNumber(v); ok && isInt {
		return i, true, nil
	}
	if s, ok := asString(v); ok {
		t := strings.ReplaceAll(pyStrip(s, nil, true, true), "_", "")
		i, err := strconv.ParseInt(t, base, 64)
		if err == nil {
			return i, true, nil
		}
		if errors.Is(err, strconv.ErrRange) {
			return 0, false, overflow("conversion of " + pyRepr(s))
		}
	}
	f, ok := pyFloat(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, nil
	}
	i, err = floatToInt(f)
	return i, err == nil, err
}

func pyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

func pyCenter(s string, width int64) (string, error) {
	n := int64(utf8.RuneCountInString(s))
	if width <= n {
		return s, nil
	}
	if width > maxStringLen {
		return "", tooLong()
	}
	pad := width - n
	left := pad/2 + (pad & width & 1)
	return strings.Repeat(" ", int(left)) + s + strings.Repeat(" ", int(pad-left)), nil
}

// jinjaTitle is Jinja's title filter: each word, split at "-", whitespace
// and opening brackets, gets an upper-case first letter and lower-case rest.
func jinjaTitle(s string) string {
	var b strings.Builder
	atStart := true
	for _, c := range s {
		isSep := c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || pyIsSpace(c)
		switch {
		case isSep:
			b.WriteRune(c)
			atStart = true
		case atStart:
			b.WriteRune(unicode.ToUpper(c))
			atStart = false
		default:
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}

// pyTitle is Python's str.title(): letters after a cased letter go lower
// case, others upper case.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, c := range s {
		cased := unicode.IsUpper(c) || unicode.IsLower(c) || unicode.IsTitle(c)
		if cased {
			if prevCased {
				c = unicode.ToLower(c)
			} else {
				c = unicode.ToTitle(c)
			}
		}
		prevCased = cased
		b.WriteRune(c)
	}
	return b.String()
}

// pyIndent is Jinja's indent filter.
func pyIndent(s, ind string, first, blank bool) string {
	s += "\n"
	lines := pySplitlines(s)
	var rv string
	if blank {
		rv = strings.Join(lines, "\n"+ind)
	} else {
		rv = lines[0]
		if len(lines) > 1 {
			rest := make([]string, len(lines)-1)
			for i, l := range lines[1:] {
				if l != "" {
					l = ind + l
				}
				rest[i] = l
			}
			rv += "\n" + strings.Join(rest, "\n")
		}
	}
	if first {
		rv = ind + rv
	}
	return rv
}

// maxFormatWidth is the largest width or precision a % format may ask for
// (Go's fmt refuses larger ones; Python would build the string).
const maxFormatWidth = 1000000

// checkFormatSpec refuses a % conversion whose width or precision is
// beyond maxFormatWidth.
func checkFormatSpec(spec string) error {
	for _, part := range strings.Split(strings.TrimLeft(spec, "-+ 0#"), ".") {
		if n, err := strconv.Atoi(part); (err != nil && part != "") || n > maxFormatWidth {
			return &Error{Kind: "ValueError", Msg: fmt.Sprintf("%% format width or precision %s is larger than the sandbox allows (%d)", part, maxFormatWidth)}
		}
	}
	return nil
}

// pyNonFinite formats an infinity or NaN the way Python's % does: "inf",
// "-inf", "nan" (upper case for F, E, G), with the + and space flags, and
// padded to the width with spaces, or zeros after the sign under the 0 flag.
func pyNonFinite(f float64, spec string, verb byte) string {
	flags := spec[:len(spec)-len(strings.TrimLeft(spec, "-+ 0#"))]
	body := "inf"
	if math.IsNaN(f) {
		body = "nan"
	}
	if verb == 'F' || verb == 'E' || verb == 'G' {
		body = strings.ToUpper(body)
	}
	sign := ""
	switch {
	case math.IsInf(f, -1):
		sign = "-"
	case strings.Contains(flags, "+"):
		sign = "+"
	case strings.Contains(flags, " "):
		sign = " "
	}
	width, _ := strconv.Atoi(strings.Split(spec[len(flags):], ".")[0])
	pad := max(width-len(sign)-len(body), 0)
	switch {
	case strings.Contains(flags, "-"):
		return sign + body + strings.Repeat(" ", pad)
	case strings.Contains(flags, "0"):
		return sign + strings.Repeat("0", pad) + body
	}
	return strings.Repeat(" ", pad) + sign + body
}

// percentFormat is Python's "format % args" for the common conversions.
func percentFormat(format string, arg any) (any, error) {
	return percentFormatEscaped(format, arg, false)
}

// percentFormatEscaped is percentFormat; with escape set, %s and %r values
// are HTML-escaped, as Markup's % operator does.
func percentFormatEscaped(format string, arg any, escape bool) (any, error) {
	esc := func(s string) string {
		if escape {
			return htmlEscape(s)
		}
		return s
	}
	var args []any
	mapping, isMap := arg.(*Dict)
	if t, ok := arg.(tuple); ok {
		args = t
	} else if !isMap {
		args = []any{arg}
	}
	next := 0
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		var val any
		haveVal := false
		if j < len(format) && format[j] == '(' {
			end := strings.IndexByte(format[j:], ')')
			if end < 0 || !isMap {
				return nil, typeErrorf("format requires a mapping")
			}
			key := format[j+1 : j+end]
			v, ok := mapping.get(key)
			if !ok {
				return nil, &Error{Kind: "KeyError", Msg: pyRepr(key)}
			}
			val, haveVal = v, true
			j += end + 1
		}
		specStart := j
		for j < len(format) && strings.IndexByte("-+ 0#", format[j]) >= 0 {
			j++
		}
		for j < len(format) && (format[j] >= '0' && format[j] <= '9' || format[j] == '.') {
			j++
		}
		if j >= len(format) {
			return nil, &Error{Kind: "ValueError", Msg: "incomplete format"}
		}
		spec, verb := format[specStart:j], format[j]
		i = j
		if err := checkFormatSpec(spec); err != nil {
			return nil, err
		}
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if !haveVal {
			if next >= len(args) {
				return nil, typeErrorf("not enough arguments for format string")
			}
			val = args[next]
			next++
		}
		switch verb {
		case 's':
			s := pyStr(val)
			if _, isM := val.(markup); !isM {
				s = esc(s)
			}
			fmt.Fprintf(&b, "%"+spec+"s", s)
		case 'r':
			fmt.Fprintf(&b, "%"+spec+"s", esc(pyRepr(val)))
		case 'd', 'i', 'x', 'X', 'o':
			f, iv, isInt, ok := asNumber(val)
			if !ok {
				return nil, typeErrorf("%%%c format: a real number is required, not %s", verb, typeName(val))
			}
			if !isInt {
				if verb != 'd' && verb != 'i' {
					return nil, typeErrorf("%%%c format: an integer is required, not float", verb)
				}
				var err error
				if iv, err = floatToInt(f); err != nil {
					return nil, err
				}
			}
			if verb == 'i' {
				verb = 'd'
			}
			if verb == 'o' && strings.Contains(spec, "#") {
				verb, spec = 'O', strings.ReplaceAll(spec, "#", "") // Python writes 0o17
			}
			fmt.Fprintf(&b, "%"+spec+string(verb), iv)
		case 'f', 'F', 'e', 'E', 'g', 'G':
			f, _, _, ok := asNumber(val)
			if !ok {
				return nil, typeErrorf("must be real number, not %s", typeName(val))
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				b.WriteString(pyNonFinite(f, spec, verb))
				continue
			}
			if !strings.Contains(spec, ".") && verb != 'g' && verb != 'G' {
				spec += ".6"
			}
			fmt.Fprintf(&b, "%"+spec+string(verb), f)
		default:
			return nil, &Error{Kind: "ValueError", Msg: fmt.Sprintf("unsupported format character '%c'", verb)}
		}
	}
	// Python skips this check when the argument supports [] (a list, a
	// range, Undefined...), treating it as a mapping.
	subscriptable := false
	switch arg.(type) {
	case []any, *view, *undefined:
		subscriptable = true
	}
	if !isMap && !subscriptable && next < len(args) {
		return nil, typeErrorf("not all arguments converted during string formatting")
	}
	return b.String(), nil
}
