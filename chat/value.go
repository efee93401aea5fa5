package chat

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values inside the interpreter mirror Python's types:
//
//	nil        None
//	bool       bool
//	int64      int
//	float64    float
//	string     str
//	[]any      list
//	tuple      tuple
//	*Dict      dict (insertion-ordered)
//	*undefined jinja2.Undefined
//	*namespace jinja2's namespace()
//	*loopInfo  the loop variable of a for block
//	callable   macros, global functions and bound methods
//
// fromGo converts caller-supplied Go values (maps, slices, numeric types)
// into this set once, before rendering.

// tuple is a Python tuple: an immutable list that prints with parentheses.
type tuple []any

// markup is markupsafe.Markup, which the safe and escape filters return: a
// string that HTML-escapes plain strings added to it ("<"|safe + '"' is
// `<&#34;`), as it does in transformers' rendering.
type markup string

// asString returns the text of a str or Markup value.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case markup:
		return string(x), true
	}
	return "", false
}

// iterator is a one-pass Python iterator, such as the generator that the
// select or map filters return: always true, without len(), not JSON
// serialisable, and empty once iterated. typ is its Python type name.
// A generator's body runs only when it is first iterated (pending), so,
// as in Python, its errors appear only if something consumes it.
type iterator struct {
	items   []any
	pos     int
	typ     string
	pending func() ([]any, error)
}

// force runs a pending generator body.
func (it *iterator) force() error {
	if it.pending == nil {
		return nil
	}
	f := it.pending
	it.pending = nil
	items, err := f()
	it.items = items
	return err
}

// drain returns the items not yet consumed and consumes them.
func (it *iterator) drain() ([]any, error) {
	if err := it.force(); err != nil {
		return nil, err
	}
	rest := it.items[it.pos:]
	it.pos = len(it.items)
	return rest, nil
}

// view is a re-iterable Python object that is not a list: dict_items,
// dict_keys, dict_values (not subscriptable) or range (subscriptable).
type view struct {
	items []any
	typ   string
	repr  string // range only: "range(0, 3)"
}

// Dict is an insertion-ordered mapping, the interpreter's form of a Python
// dict. DecodeJSON produces it for JSON objects so that templates see keys in
// file order (as Python's json.loads does); Go maps passed to Render are
// converted with their keys sorted.
type Dict struct {
	keys  []any
	vals  []any
	index map[any]int
}

// NewDict returns an empty Dict.
func NewDict() *Dict { return &Dict{index: map[any]int{}} }

// Set stores value under key, keeping the key's first insertion position.
func (d *Dict) Set(key string, value any) { d.set(key, value) }

// Get returns the value stored under key and whether it was present.
func (d *Dict) Get(key string) (any, bool) { return d.get(key) }

// Len returns the number of keys.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in insertion order. Keys set by templates may be
// integers, floats, booleans or nil as well as strings.
func (d *Dict) Keys() []any { return append([]any(nil), d.keys...) }

// hashKey maps a Python-hashable value to a Go map key with Python's
// equality (1 == 1.0 == True); ok is false for unhashable values.
func hashKey(k any) (any, bool) {
	switch v := k.(type) {
	case nil, string, int64:
		return v, true
	case markup:
		return string(v), true
	case bool:
		if v {
			return int64(1), true
		}
		return int64(0), true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return int64(v), true
		}
		return v, true
	}
	return nil, false
}

func (d *Dict) set(k, v any) error {
	h, ok := hashKey(k)
	if !ok {
		return typeErrorf("unhashable type: '%s'", typeName(k))
	}
	if i, ok := d.index[h]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[h] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (d *Dict) get(k any) (any, bool) {
	h, ok := hashKey(k)
	if !ok {
		return nil, false
	}
	i, ok := d.index[h]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// undefined is jinja2.Undefined: printing it gives "", iterating it gives
// nothing, and most other uses fail with msg. kind is "UndefinedError", or
// "SecurityError" for an attribute the immutable sandbox refuses.
type undefined struct {
	kind string
	msg  string
}

func (u *undefined) err() error { return &Error{Kind: u.kind, Msg: u.msg} }

func undefinedName(name string) *undefined {
	return &undefined{kind: "UndefinedError", msg: fmt.Sprintf("'%s' is undefined", name)}
}

// undefinedAttr is the Undefined that Jinja returns for a missing attribute
// or item of obj; the messages are jinja2's.
func undefinedAttr(obj, name any) *undefined {
	if s, ok := name.(string); ok {
		return &undefined{kind: "UndefinedError", msg: fmt.Sprintf("%s has no attribute %s", pyRepr(objectTypeRepr(obj)), pyRepr(s))}
	}
	return &undefined{kind: "UndefinedError", msg: fmt.Sprintf("%s has no element %s", objectTypeRepr(obj), pyRepr(name))}
}

// objectTypeRepr is jinja2.utils.object_type_repr.
func objectTypeRepr(obj any) string {
	if obj == nil {
		return "None"
	}
	return typeName(obj) + " object"
}

// namespace is the mutable object made by namespace(); the only thing a
// template can assign attributes to.
type namespace struct{ attrs *Dict }

// typeName is Python's type(v).__name__.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case markup:
		return "Markup"
	case []any:
		return "list"
	case tuple:
		return "tuple"
	case *Dict:
		return "dict"
	case *undefined:
		return "Undefined"
	case *namespace:
		return "Namespace"
	case *loopInfo:
		return "LoopContext"
	case *macro:
		return "Macro"
	case *builtinFunc:
		return "builtin_function_or_method"
	case *iterator:
		return x.typ
	case *view:
		return x.typ
	}
	return fmt.Sprintf("%T", v)
}

// fromGo converts a caller's Go value into the interpreter's value set.
func fromGo(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, *Dict:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case json.Number:
		return numberFromString(string(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := fromGo(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			c, err := fromGo(x[k])
			if err != nil {
				return nil, err
			}
			d.set(k, c)
		}
		return d, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			c, err := fromGo(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return fromGo(m)
		}
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return fromGo(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("chat: cannot use Go value of type %T in a template", v)
}

func numberFromString(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("bad number %q: %w", s, err)
	}
	return f, nil
}

// truthy is Python's bool(v).
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case markup:
		return x != ""
	case []any:
		return len(x) > 0
	case tuple:
		return len(x) > 0
	case *Dict:
		return x.Len() > 0
	case *view:
		return len(x.items) > 0
	case *undefined:
		return false
	}
	return true
}

// pyStr is Python's str(v) (Jinja's soft_str): what {{ v }} prints.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case markup:
		return string(x)
	case *undefined:
		return ""
	}
	return pyRepr(v)
}

// pyRepr is Python's repr(v).
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

// writeRepr writes repr(v). A dict that contains itself (possible through
// a namespace attribute) prints as {...}, as Python's repr does.
func writeRepr(b *strings.Builder, v any) { (&reprWriter{b: b, open: map[*Dict]bool{}}).write(v) }

type reprWriter struct {
	b    *strings.Builder
	open map[*Dict]bool
}

func (w *reprWriter) write(v any) {
	b := w.b
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(formatFloat(x, false))
	case string:
		writeStrRepr(b, x)
	case markup:
		b.WriteString("Markup(")
		writeStrRepr(b, string(x))
		b.WriteByte(')')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			w.write(e)
		}
		b.WriteByte(']')
	case tuple:
		b.WriteByte('(')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			w.write(e)
		}
		if len(x) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
	case *Dict:
		if w.open[x] {
			b.WriteString("{...}")
			return
		}
		w.open[x] = true
		defer delete(w.open, x)
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			w.write(k)
			b.WriteString(": ")
			w.write(x.vals[i])
		}
		b.WriteByte('}')
	case *undefined:
		b.WriteString("Undefined")
	case *namespace:
		b.WriteString("<Namespace ")
		w.write(x.attrs)
		b.WriteByte('>')
	case *macro:
		fmt.Fprintf(b, "<Macro '%s'>", x.def.name)
	case *iterator:
		fmt.Fprintf(b, "<%s object>", x.typ)
	case *view:
		if x.repr != "" {
			b.WriteString(x.repr)
			return
		}
		b.WriteString(x.typ + "(")
		w.write(x.items)
		b.WriteByte(')')
	default:
		fmt.Fprintf(b, "<%s object>", typeName(v))
	}
}

// writeStrRepr writes s quoted the way Python's repr quotes a str.
func writeStrRepr(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			fmt.Fprintf(b, `\x%02x`, r)
		case r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ':
			if r <= 0xff {
				fmt.Fprintf(b, `\x%02x`, r)
			} else if r <= 0xffff {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				fmt.Fprintf(b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
}

// formatFloat is Python's repr(float); json selects json.dumps's spelling
// of the non-finite values.
func formatFloat(f float64, json bool) string {
	switch {
	case math.IsNaN(f):
		if json {
			return "NaN"
		}
		return "nan"
	case math.IsInf(f, 1):
		if json {
			return "Infinity"
		}
		return "inf"
	case math.IsInf(f, -1):
		if json {
			return "-Infinity"
		}
		return "-inf"
	}
	// Shortest round-trip digits, then Python's layout: positional for
	// decimal exponents in [-4, 16), scientific otherwise.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	var s string
	switch {
	case exp < 0:
		s = "0." + strings.Repeat("0", -exp-1) + digits
	case exp+1 >= len(digits):
		s = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	default:
		s = digits[:exp+1] + "." + digits[exp+1:]
	}
	return sign + s
}

// asNumber reports v as a float64 when it is a Python number (bool, int or
// float); isInt tells whether Python would keep it an int.
func asNumber(v any) (f float64, i int64, isInt, ok bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, 1, true, true
		}
		return 0, 0, true, true
	case int64:
		return float64(x), x, true, true
	case float64:
		return x, 0, false, true
	}
	return 0, 0, false, false
}

// pyEqual is Python's == for interpreter values.
func pyEqual(a, b any) bool {
	if fa, ia, aInt, ok := asNumber(a); ok {
		fb, ib, bInt, ok := asNumber(b)
		if !ok {
			return false
		}
		if aInt && bInt {
			return ia == ib
		}
		return fa == fb
	}
	if x, ok := asString(a); ok {
		y, ok := asString(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case []any:
		y, ok := b.([]any)
		return ok && seqEqual(x, y)
	case tuple:
		y, ok := b.(tuple)
		return ok && seqEqual(x, y)
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i, k := range x.keys {
			v, ok := y.get(k)
			if !ok || !pyEqual(x.vals[i], v) {
				return false
			}
		}
		return true
	case *undefined:
		_, ok := b.(*undefined)
		return ok
	}
	return a == b
}

func seqEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !pyEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// pyCompare orders a and b as Python's < does; it fails for types Python
// cannot order.
func pyCompare(op string, a, b any) (int, error) {
	if ua, ok := a.(*undefined); ok {
		return 0, ua.err()
	}
	if ub, ok := b.(*undefined); ok {
		return 0, ub.err()
	}
	if fa, ia, aInt, ok := asNumber(a); ok {
		if fb, ib, bInt, ok := asNumber(b); ok {
			if aInt && bInt {
				return cmpOrdered(ia, ib), nil
			}
			return cmpOrdered(fa, fb), nil
		}
	}
	if x, ok := asString(a); ok {
		if y, ok := asString(b); ok {
			return strings.Compare(x, y), nil
		}
	}
	switch x := a.(type) {
	case []any:
		if y, ok := b.([]any); ok {
			return seqCompare(op, x, y)
		}
	case tuple:
		if y, ok := b.(tuple); ok {
			return seqCompare(op, x, y)
		}
	}
	return 0, typeErrorf("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func seqCompare(op string, a, b []any) (int, error) {
	for i := 0; i < len(a) && i < len(b); i++ {
		if pyEqual(a[i], b[i]) {
			continue
		}
		return pyCompare(op, a[i], b[i])
	}
	return cmpOrdered(int64(len(a)), int64(len(b))), nil
}

// pyIsSpace is Python's str.isspace for one character.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip/lstrip/rstrip: whitespace when chars is
// nil, else any of the characters in *chars.
func pyStrip(s string, chars *string, left, right bool) string {
	f := pyIsSpace
	if chars != nil {
		set := *chars
		f = func(r rune) bool { return strings.ContainsRune(set, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, f)
	}
	if right {
		s = strings.TrimRightFunc(s, f)
	}
	return s
}

// pySplitlines is Python's str.splitlines() without keepends.
func pySplitlines(s string) []string {
	var lines []string
	start := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			lines = append(lines, string(rs[start:i]))
			if rs[i] == '\r' && i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(rs) {
		lines = append(lines, string(rs[start:]))
	}
	return lines
}
