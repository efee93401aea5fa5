package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeJSON decodes one JSON document the way Python's json.loads does:
// objects become *Dict with their keys in file order, integers int64,
// other numbers float64, arrays []any. Errors give the line and column.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err == nil && len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		rest := data[dec.InputOffset():]
		off := dec.InputOffset() + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
		line, col := lineCol(data, off)
		return nil, fmt.Errorf("line %d, column %d: unexpected data after the JSON value", line, col)
	}
	if err != nil {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("unexpected end of JSON input")
			off = int64(len(data))
		}
		line, col := lineCol(data, off)
		return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	return v, nil
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		case '{':
			d := NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				d.set(kt.(string), v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return d, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case json.Number:
		return numberFromString(string(t))
	default:
		return t, nil // string, bool or nil
	}
}

// jsonOptions are the arguments of Hugging Face's tojson filter, which
// calls json.dumps(x, ensure_ascii=False, indent=indent,
// separators=separators, sort_keys=sort_keys).
type jsonOptions struct {
	indent    *string // nil: one line
	itemSep   string
	keySep    string
	sortKeys  bool
	asciiOnly bool // ensure_ascii: non-ASCII characters as \uXXXX escapes
}

// toJSON is json.dumps with ensure_ascii=False.
func toJSON(v any, o jsonOptions) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, v, o, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeJSON(b *strings.Builder, v any, o jsonOptions, depth int) error {
	if depth > maxDepth {
		return &Error{Kind: "RecursionError", Msg: "maximum recursion depth exceeded while encoding a JSON object"}
	}
	if b.Len() > maxStringLen {
		return tooLong()
	}
	newline := func(d int) error {
		if o.indent != nil {
			if int64(b.Len())+int64(len(*o.indent))*int64(d) > maxStringLen {
				return tooLong()
			}
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(*o.indent, d))
		}
		return nil
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(formatFloat(x, true))
	case string:
		writeJSONString(b, x, o.asciiOnly)
	case markup:
		writeJSONString(b, string(x), o.asciiOnly)
	case []any, tuple:
		list := asList(x)
		if len(list) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range list {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			if err := newline(depth + 1); err != nil {
				return err
			}
			if err := writeJSON(b, e, o, depth+1); err != nil {
				return err
			}
		}
		if err := newline(depth); err != nil {
			return err
		}
		b.WriteByte(']')
	case *Dict:
		if x.Len() == 0 {
			b.WriteString("{}")
			return nil
		}
		type kv struct {
			k string
			v any
		}
		items := make([]kv, len(x.keys))
		for i, k := range x.keys {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case markup:
				ks = string(kk)
			case nil:
				ks = "null"
			case bool:
				ks = strconv.FormatBool(kk)
			case float64:
				ks = formatFloat(kk, true)
			default:
				ks = pyStr(kk)
			}
			items[i] = kv{ks, x.vals[i]}
		}
		if o.sortKeys {
			sort.SliceStable(items, func(i, j int) bool { return items[i].k < items[j].k })
		}
		b.WriteByte('{')
		for i, it := range items {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			if err := newline(depth + 1); err != nil {
				return err
			}
			writeJSONString(b, it.k, o.asciiOnly)
			b.WriteString(o.keySep)
			if err := writeJSON(b, it.v, o, depth+1); err != nil {
				return err
			}
		}
		if err := newline(depth); err != nil {
			return err
		}
		b.WriteByte('}')
	default:
		return typeErrorf("Object of type %s is not JSON serializable", typeName(v))
	}
	return nil
}

// writeJSONString quotes s as json.dumps does.
func writeJSONString(b *strings.Builder, s string, asciiOnly bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || asciiOnly && r > 0x7e && r <= 0xffff:
				fmt.Fprintf(b, `\u%04x`, r)
			case asciiOnly && r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// DecodeMessages decodes a JSON list of chat messages (objects with at
// least a string "role"). Values inside each message keep JSON key order
// (see DecodeJSON). Errors give the line and column, or the message index.
func DecodeMessages(data []byte) ([]Message, error) {
	v, err := DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON list of messages, got %s", jsonTypeName(v))
	}
	msgs := make([]Message, len(list))
	for i, e := range list {
		d, ok := e.(*Dict)
		if !ok {
			return nil, fmt.Errorf("messages[%d]: want an object, got %s", i, jsonTypeName(e))
		}
		role, ok := d.get("role")
		if !ok {
			return nil, fmt.Errorf("messages[%d]: missing field role", i)
		}
		if _, ok := role.(string); !ok {
			return nil, fmt.Errorf("messages[%d]: field role: want a string, got %s", i, jsonTypeName(role))
		}
		m := make(Message, d.Len())
		for j, k := range d.keys {
			m[k.(string)] = d.vals[j]
		}
		msgs[i] = m
	}
	return msgs, nil
}

// jsonTypeName names a decoded JSON value's type for error messages.
func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	}
	return "an object"
}
