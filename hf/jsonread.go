package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// reader decodes the typed fields of c.Raw, keeping the first error.
type reader struct {
	c   *Config
	err error
}

func (r *reader) fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = r.c.FieldError(field, format, args...)
	}
}

// value returns the field's value, and false when it is absent or null.
func (r *reader) value(m map[string]any, field string) (any, bool) {
	v, ok := m[field]
	return v, ok && v != nil
}

func (r *reader) int(m map[string]any, field, label string, def int, required bool) int {
	v, ok := r.value(m, field)
	if !ok {
		if required {
			r.fail(label, "missing")
		}
		return def
	}
	return r.toInt(v, label, def)
}

func (r *reader) toInt(v any, label string, def int) int {
	n, isNum := v.(json.Number)
	i, err := strconv.Atoi(string(n))
	if !isNum || err != nil {
		r.fail(label, "want an integer, got %s", describe(v))
		return def
	}
	return i
}

func (r *reader) float(m map[string]any, field, label string, def float64) float64 {
	v, ok := r.value(m, field)
	if !ok {
		return def
	}
	n, isNum := v.(json.Number)
	f, err := strconv.ParseFloat(string(n), 64)
	if !isNum || err != nil {
		r.fail(label, "want a number, got %s", describe(v))
		return def
	}
	return f
}

func (r *reader) string(m map[string]any, field, label, def string) string {
	v, ok := r.value(m, field)
	if !ok {
		return def
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(label, "want a string, got %s", describe(v))
		return def
	}
	return s
}

func (r *reader) bool(m map[string]any, field string, def bool) bool {
	v, ok := r.value(m, field)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		r.fail(field, "want true or false, got %s", describe(v))
		return def
	}
	return b
}

func (r *reader) object(field string) map[string]any {
	v, ok := r.value(r.c.Raw, field)
	if !ok {
		return nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		r.fail(field, "want an object, got %s", describe(v))
	}
	return m
}

// describe names a decoded JSON value for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprint(v)
}

// keyLines returns the 1-based line of every top-level key of a JSON object.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return lines
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return lines
		}
		if k, ok := tok.(string); ok {
			lines[k] = lineAt(data, int(dec.InputOffset()))
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return lines
		}
	}
	return lines
}

// lineAt returns the 1-based line holding byte offset off of data.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// jsonErrorWithLine adds the line to JSON syntax and type errors.
func jsonErrorWithLine(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("line %d: %w", lineAt(data, int(syn.Offset)), err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("line %d: %w", lineAt(data, int(typ.Offset)), err)
	}
	return err
}
