package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FieldMap maps a canonical field name (the name a layout documents, such
// as "query" or "prompt") to the column that holds it in a user's file.
// Names it does not map are looked up as themselves.
type FieldMap map[string]string

// Column returns the column that holds the canonical field name.
func (m FieldMap) Column(name string) string {
	if c, ok := m[name]; ok && c != "" {
		return c
	}
	return name
}

// ParseFieldMap parses "name=column" entries, as given to --field flags.
func ParseFieldMap(entries []string) (FieldMap, error) {
	m := FieldMap{}
	for _, e := range entries {
		name, col, ok := strings.Cut(e, "=")
		if !ok || name == "" || col == "" {
			return nil, fmt.Errorf("field mapping %q: want name=column", e)
		}
		m[name] = col
	}
	return m, nil
}

var (
	errMissing = errors.New("missing")
	errNull    = errors.New("is null")
)

// lookup returns the value of the first of names present in row (each
// mapped through m), and the column it came from. When none is present it
// returns a *RowError naming the first one: "is null" when the row has
// that column set to null, "missing" when it lacks it.
func lookup(row Row, m FieldMap, names ...string) (any, string, error) {
	nullCol := ""
	for _, n := range names {
		c := m.Column(n)
		v, ok := row.Fields[c]
		if ok && v != nil {
			return v, c, nil
		}
		if ok && nullCol == "" {
			nullCol = c
		}
	}
	if nullCol != "" {
		return nil, nullCol, &RowError{Source: row.Source, Line: row.Line, Field: nullCol, Err: errNull}
	}
	return nil, m.Column(names[0]), &RowError{Source: row.Source, Line: row.Line, Field: m.Column(names[0]), Err: errMissing}
}

// has reports whether any of names is present in row.
func has(row Row, m FieldMap, names ...string) bool {
	for _, n := range names {
		if v, ok := row.Fields[m.Column(n)]; ok && v != nil {
			return true
		}
	}
	return false
}

func fieldErr(row Row, field string, format string, args ...any) error {
	return &RowError{Source: row.Source, Line: row.Line, Field: field, Err: fmt.Errorf(format, args...)}
}

// getString returns the first present of names as a string.
func getString(row Row, m FieldMap, names ...string) (string, error) {
	v, col, err := lookup(row, m, names...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fieldErr(row, col, "want a string, got %s", typeName(v))
	}
	return s, nil
}

// getStrings returns the first present of names as a list of strings.
func getStrings(row Row, m FieldMap, names ...string) ([]string, string, error) {
	v, col, err := lookup(row, m, names...)
	if err != nil {
		return nil, col, err
	}
	s, err := asStrings(v)
	if err != nil {
		return nil, col, fieldErr(row, col, "%v", err)
	}
	return s, col, nil
}

func asStrings(v any) ([]string, error) {
	switch l := v.(type) {
	case []string:
		return l, nil
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d: want a string, got %s", i, typeName(e))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %s", typeName(v))
}

// asInt converts a JSON number, parquet integer or decimal string to int.
func asInt(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<31 {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int(x), nil
	case int:
		return x, nil
	case int32:
		return int(x), nil
	case int64:
		return int(x), nil
	case json.Number:
		return asInt(string(x))
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want an integer, got %s", typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, int, int32, int64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
