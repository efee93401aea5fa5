package chat

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Python methods that templates call on strings, dicts and lists. Methods
// that would modify a list or dict are refused, as in transformers'
// ImmutableSandboxedEnvironment.

var unsafeMethods = map[string][]string{
	"dict": {"clear", "pop", "popitem", "setdefault", "update"},
	"list": {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"},
}

type method func(r *renderer, recv any, args []any, kw *Dict) (any, error)

var (
	strMethods  map[string]method
	dictMethods map[string]method
	listMethods map[string]method
)

// methodOf returns recv.name bound as a callable, or an Undefined that
// raises SecurityError for a mutating method.
func methodOf(recv any, name string) (any, bool) {
	var table map[string]method
	switch x := recv.(type) {
	case markup:
		return markupMethod(x, name)
	case string:
		table = strMethods
	case *Dict:
		table = dictMethods
	case []any, tuple:
		table = listMethods
	case *view:
		if x.typ == "range" {
			table = listMethods
		}
	default:
		return nil, false
	}
	if m, ok := table[name]; ok {
		return &builtinFunc{name: name, fn: func(r *renderer, args []any, kw *Dict) (any, error) {
			return m(r, recv, args, kw)
		}}, true
	}
	for _, u := range unsafeMethods[typeName(recv)] {
		if u == name {
			return &undefined{kind: "SecurityError", msg: fmt.Sprintf("access to attribute '%s' of '%s' object is unsafe.", name, typeName(recv))}, true
		}
	}
	return nil, false
}

// markupResults are the str methods whose results markupsafe turns back
// into Markup.
var markupResults = map[string]bool{
	"capitalize": true, "title": true, "lower": true, "upper": true, "replace": true,
	"lstrip": true, "rstrip": true, "strip": true, "removeprefix": true, "removesuffix": true,
}

// markupMethod binds a str method to a Markup receiver with markupsafe's
// behaviour: text results stay Markup, split results are lists of Markup,
// join and replace escape the strings they insert.
func markupMethod(recv markup, name string) (any, bool) {
	m, ok := strMethods[name]
	if !ok {
		return nil, false
	}
	return &builtinFunc{name: name, fn: func(r *renderer, args []any, kw *Dict) (any, error) {
		switch name {
		case "join":
			a, err := bind("join", args, kw, []string{"iterable"}, required)
			if err != nil {
				return nil, err
			}
			items, err := iterate(a[0])
			if err != nil {
				return nil, err
			}
			escaped := make([]any, len(items))
			for i, it := range items {
				if _, isM := it.(markup); isM {
					escaped[i] = pyStr(it)
				} else if s, isS := it.(string); isS {
					escaped[i] = htmlEscape(s)
				} else {
					escaped[i] = it
				}
			}
			args, kw = []any{escaped}, nil
		case "replace":
			if len(args) >= 2 {
				if s, isS := args[1].(string); isS {
					args = append([]any{args[0], htmlEscape(s)}, args[2:]...)
				}
			}
		}
		v, err := m(r, string(recv), args, kw)
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case string:
			if markupResults[name] || name == "join" {
				return markup(x), nil
			}
		case []any:
			if name == "split" || name == "rsplit" || name == "splitlines" {
				for i, e := range x {
					x[i] = markup(e.(string))
				}
			}
		}
		return v, nil
	}}, true
}

// strMethod adapts a method of a string receiver.
func strMethod(f func(s string, args []any, kw *Dict) (any, error)) method {
	return func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
		return f(recv.(string), args, kw)
	}
}

func noArgs(name string, f func(string) any) method {
	return strMethod(func(s string, args []any, kw *Dict) (any, error) {
		if _, err := bind(name, args, kw, nil); err != nil {
			return nil, err
		}
		return f(s), nil
	})
}

func stripMethod(name string, left, right bool) method {
	return strMethod(func(s string, args []any, kw *Dict) (any, error) {
		a, err := bind(name, args, kw, []string{"chars"}, nil)
		if err != nil {
			return nil, err
		}
		chars, err := optStr(name, a[0])
		if err != nil {
			return nil, err
		}
		return pyStrip(s, chars, left, right), nil
	})
}

func splitMethod(name string, fromRight bool) method {
	return strMethod(func(s string, args []any, kw *Dict) (any, error) {
		a, err := bind(name, args, kw, []string{"sep", "maxsplit"}, nil, int64(-1))
		if err != nil {
			return nil, err
		}
		sep, err := optStr(name, a[0])
		if err != nil {
			return nil, err
		}
		maxsplit, err := intArg(name, a[1])
		if err != nil {
			return nil, err
		}
		if sep != nil && *sep == "" {
			return nil, &Error{Kind: "ValueError", Msg: "empty separator"}
		}
		if err := checkSize(elemSize * splitCount(s, sep, maxsplit)); err != nil {
			return nil, err
		}
		parts := pySplit(s, sep, int(maxsplit), fromRight)
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	})
}

// replacedLen is the length of strings.Replace(s, old, repl, n).
func replacedLen(s, old, repl string, n int64) int64 {
	count := int64(strings.Count(s, old))
	if n >= 0 && n < count {
		count = n
	}
	return int64(len(s)) + count*(int64(len(repl))-int64(len(old)))
}

// joinedLen is the length of strings.Join(parts, sep).
func joinedLen(parts []string, sep string) int64 {
	n := int64(len(sep)) * int64(max(len(parts)-1, 0))
	for _, p := range parts {
		n += int64(len(p))
	}
	return n
}

// splitCount bounds the number of pieces pySplit returns.
func splitCount(s string, sep *string, maxsplit int64) int64 {
	var n int64
	if sep != nil {
		n = int64(strings.Count(s, *sep)) + 1
	} else {
		inWord := false
		for _, c := range s {
			w := !pyIsSpace(c)
			if w && !inWord {
				n++
			}
			inWord = w
		}
	}
	if maxsplit >= 0 && maxsplit+1 < n {
		n = maxsplit + 1
	}
	return n
}

// pySplit is Python's str.split / str.rsplit.
func pySplit(s string, sep *string, maxsplit int, fromRight bool) []string {
	if sep != nil {
		if maxsplit < 0 {
			return strings.Split(s, *sep)
		}
		if !fromRight {
			return strings.SplitN(s, *sep, maxsplit+1)
		}
		var parts []string
		for len(parts) < maxsplit {
			i := strings.LastIndex(s, *sep)
			if i < 0 {
				break
			}
			parts = append(parts, s[i+len(*sep):])
			s = s[:i]
		}
		parts = append(parts, s)
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		return parts
	}
	rs := []rune(s)
	parts := []string{}
	if !fromRight {
		i := 0
		for {
			for i < len(rs) && pyIsSpace(rs[i]) {
				i++
			}
			if i >= len(rs) {
				return parts
			}
			if maxsplit >= 0 && len(parts) == maxsplit {
				return append(parts, string(rs[i:]))
			}
			j := i
			for j < len(rs) && !pyIsSpace(rs[j]) {
				j++
			}
			parts = append(parts, string(rs[i:j]))
			i = j
		}
	}
	j := len(rs)
	var rev []string
	for {
		for j > 0 && pyIsSpace(rs[j-1]) {
			j--
		}
		if j == 0 {
			break
		}
		if maxsplit >= 0 && len(rev) == maxsplit {
			rev = append(rev, string(rs[:j]))
			break
		}
		i := j
		for i > 0 && !pyIsSpace(rs[i-1]) {
			i--
		}
		rev = append(rev, string(rs[i:j]))
		j = i
	}
	for k := len(rev) - 1; k >= 0; k-- {
		parts = append(parts, rev[k])
	}
	return parts
}

func affixMethod(name string, test func(s, affix string) bool) method {
	return strMethod(func(s string, args []any, kw *Dict) (any, error) {
		a, err := bind(name, args, kw, []string{"prefix", "start", "end"}, required, nil, nil)
		if err != nil {
			return nil, err
		}
		rs := []rune(s)
		lo, hi := int64(0), int64(len(rs))
		if a[1] != nil || a[2] != nil {
			var b [3]*int64
			for i := 1; i <= 2; i++ {
				if a[i] != nil {
					n, err := intArg(name, a[i])
					if err != nil {
						return nil, err
					}
					b[i-1] = &n
				}
			}
			idx, _ := sliceIndices(len(rs), b)
			if len(idx) == 0 {
				lo, hi = 0, 0
			} else {
				lo, hi = int64(idx[0]), int64(idx[len(idx)-1]+1)
			}
		}
		sub := string(rs[lo:hi])
		var candidates []any
		switch p := a[0].(type) {
		case string:
			candidates = []any{p}
		case tuple:
			candidates = p
		default:
			return nil, typeErrorf("%s first arg must be str or a tuple of str, not %s", name, typeName(a[0]))
		}
		for _, c := range candidates {
			cs, ok := c.(string)
			if !ok {
				return nil, typeErrorf("tuple for %s must only contain str, not %s", name, typeName(c))
			}
			if test(sub, cs) {
				return true, nil
			}
		}
		return false, nil
	})
}

func findMethod(name string, last, mustFind bool) method {
	return strMethod(func(s string, args []any, kw *Dict) (any, error) {
		a, err := bind(name, args, kw, []string{"sub"}, required)
		if err != nil {
			return nil, err
		}
		sub, err := strArg(name, a[0])
		if err != nil {
			return nil, err
		}
		i := strings.Index(s, sub)
		if last {
			i = strings.LastIndex(s, sub)
		}
		if i < 0 {
			if mustFind {
				return nil, &Error{Kind: "ValueError", Msg: "substring not found"}
			}
			return int64(-1), nil
		}
		return int64(utf8.RuneCountInString(s[:i])), nil
	})
}

func charClass(name string, f func(rune) bool) method {
	return noArgs(name, func(s string) any {
		if s == "" {
			return false
		}
		for _, c := range s {
			if !f(c) {
				return false
			}
		}
		return true
	})
}

func init() {
	strMethods = map[string]method{
		"strip":  stripMethod("strip", true, true),
		"lstrip": stripMethod("lstrip", true, false),
		"rstrip": stripMethod("rstrip", false, true),
		"split":  splitMethod("split", false),
		"rsplit": splitMethod("rsplit", true),
		"splitlines": strMethod(func(s string, args []any, kw *Dict) (any, error) {
			if _, err := bind("splitlines", args, kw, nil); err != nil {
				return nil, err
			}
			if err := checkSize(elemSize * int64(strings.Count(s, "\n")+strings.Count(s, "\r")+1)); err != nil {
				return nil, err
			}
			out := []any{}
			for _, l := range pySplitlines(s) {
				out = append(out, l)
			}
			return out, nil
		}),
		"startswith": affixMethod("startswith", strings.HasPrefix),
		"endswith":   affixMethod("endswith", strings.HasSuffix),
		"upper":      noArgs("upper", func(s string) any { return strings.ToUpper(s) }),
		"lower":      noArgs("lower", func(s string) any { return strings.ToLower(s) }),
		"title":      noArgs("title", func(s string) any { return pyTitle(s) }),
		"capitalize": noArgs("capitalize", func(s string) any { return pyCapitalize(s) }),
		"isdigit":    charClass("isdigit", unicode.IsDigit),
		"isalpha":    charClass("isalpha", unicode.IsLetter),
		"isalnum":    charClass("isalnum", func(c rune) bool { return unicode.IsLetter(c) || unicode.IsNumber(c) }),
		"isspace":    charClass("isspace", pyIsSpace),
		"isupper": noArgs("isupper", func(s string) any {
			return strings.ToUpper(s) == s && strings.ToLower(s) != s
		}),
		"islower": noArgs("islower", func(s string) any {
			return strings.ToLower(s) == s && strings.ToUpper(s) != s
		}),
		"find":  findMethod("find", false, false),
		"rfind": findMethod("rfind", true, false),
		"index": findMethod("index", false, true),
		"count": strMethod(func(s string, args []any, kw *Dict) (any, error) {
			a, err := bind("count", args, kw, []string{"sub"}, required)
			if err != nil {
				return nil, err
			}
			sub, err := strArg("count", a[0])
			if err != nil {
				return nil, err
			}
			if sub == "" {
				return int64(utf8.RuneCountInString(s) + 1), nil
			}
			return int64(strings.Count(s, sub)), nil
		}),
		"replace": strMethod(func(s string, args []any, kw *Dict) (any, error) {
			a, err := bind("replace", args, kw, []string{"old", "new", "count"}, required, required, int64(-1))
			if err != nil {
				return nil, err
			}
			old, err := strArg("replace", a[0])
			if err != nil {
				return nil, err
			}
			repl, err := strArg("replace", a[1])
			if err != nil {
				return nil, err
			}
			n, err := intArg("replace", a[2])
			if err != nil {
				return nil, err
			}
			if err := checkSize(replacedLen(s, old, repl, n)); err != nil {
				return nil, err
			}
			return strings.Replace(s, old, repl, int(n)), nil
		}),
		"join": strMethod(func(s string, args []any, kw *Dict) (any, error) {
			a, err := bind("join", args, kw, []string{"iterable"}, required)
			if err != nil {
				return nil, err
			}
			items, err := iterate(a[0])
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				p, ok := it.(string)
				if !ok {
					return nil, typeErrorf("sequence item %d: expected str instance, %s found", i, typeName(it))
				}
				parts[i] = p
			}
			if err := checkSize(joinedLen(parts, s)); err != nil {
				return nil, err
			}
			return strings.Join(parts, s), nil
		}),
		"removeprefix": strMethod(func(s string, args []any, kw *Dict) (any, error) {
			a, err := bind("removeprefix", args, kw, []string{"prefix"}, required)
			if err != nil {
				return nil, err
			}
			p, err := strArg("removeprefix", a[0])
			return strings.TrimPrefix(s, p), err
		}),
		"removesuffix": strMethod(func(s string, args []any, kw *Dict) (any, error) {
			a, err := bind("removesuffix", args, kw, []string{"suffix"}, required)
			if err != nil {
				return nil, err
			}
			p, err := strArg("removesuffix", a[0])
			return strings.TrimSuffix(s, p), err
		}),
	}

	dictMethods = map[string]method{
		"items": func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
			if _, err := bind("items", args, kw, nil); err != nil {
				return nil, err
			}
			return &view{items: dictItems(recv.(*Dict)), typ: "dict_items"}, nil
		},
		"keys": func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
			if _, err := bind("keys", args, kw, nil); err != nil {
				return nil, err
			}
			return &view{items: recv.(*Dict).Keys(), typ: "dict_keys"}, nil
		},
		"values": func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
			if _, err := bind("values", args, kw, nil); err != nil {
				return nil, err
			}
			return &view{items: append([]any{}, recv.(*Dict).vals...), typ: "dict_values"}, nil
		},
		"get": func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
			a, err := bind("get", args, kw, []string{"key", "default"}, required, nil)
			if err != nil {
				return nil, err
			}
			if v, ok := recv.(*Dict).get(a[0]); ok {
				return v, nil
			}
			return a[1], nil
		},
	}

	listMethods = map[string]method{
		"index": func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
			a, err := bind("index", args, kw, []string{"value"}, required)
			if err != nil {
				return nil, err
			}
			for i, e := range seqItems(recv) {
				if pyEqual(e, a[0]) {
					return int64(i), nil
				}
			}
			return nil, &Error{Kind: "ValueError", Msg: pyRepr(a[0]) + " is not in list"}
		},
		"count": func(_ *renderer, recv any, args []any, kw *Dict) (any, error) {
			a, err := bind("count", args, kw, []string{"value"}, required)
			if err != nil {
				return nil, err
			}
			n := int64(0)
			for _, e := range seqItems(recv) {
				if pyEqual(e, a[0]) {
					n++
				}
			}
			return n, nil
		},
	}
}

// seqItems returns the items of a list, tuple or range.
func seqItems(v any) []any {
	if r, ok := v.(*view); ok {
		return r.items
	}
	return asList(v)
}
