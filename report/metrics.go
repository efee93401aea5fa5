package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// maxLine bounds one metrics.jsonl line; rows are a few hundred bytes.
const maxLine = 16 << 20

// ReadMetrics reads a metrics.jsonl file: one JSON object per line, each a
// training or evaluation row keyed by TRL metric names. Blank lines are
// skipped.
//
// A value may be a JSON number; null, which reads as NaN (the trainer
// writes null for a NaN or infinite metric, as JSON has no such numbers);
// or a non-finite number spelled as Python's json module writes it (bare
// NaN, Infinity, -Infinity) or as a string ("NaN", "Infinity", "-Infinity",
// "inf", "-inf"). Non-finite values are returned as they are. Fields that are
// not metrics (keys other than the TRL names and "eval_"-prefixed ones) with
// non-numeric values, such as a timestamp string, are ignored; a metric with
// a non-numeric value is an error. Errors name the file, the line and, where
// one is to blame, the field.
func ReadMetrics(path string) ([]map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	var rows []map[string]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		row, err := parseRow(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", path, line+1, maxLine)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

// parseRow decodes one JSON object into metric values.
func parseRow(text []byte) (map[string]float64, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(quoteNonFinite(text), &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if raw == nil {
		return nil, errors.New("not a JSON object: null")
	}
	row := make(map[string]float64, len(raw))
	for key, val := range raw {
		v, ok, err := parseValue(val)
		switch {
		case err != nil && isMetric(key):
			return nil, fmt.Errorf("field %q: %w", key, err)
		case ok:
			row[key] = v
		}
	}
	return row, nil
}

// parseValue reads one metric value; null reads as NaN, and ok is false
// (with err set) for values that are not numbers.
func parseValue(val json.RawMessage) (v float64, ok bool, err error) {
	s := string(val)
	switch {
	case s == "null":
		return math.NaN(), true, nil
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal(val, &str); err != nil {
			return 0, false, err
		}
		if v, ok := nonFinite(str); ok {
			return v, true, nil
		}
		return 0, false, fmt.Errorf("value %s is not a number", s)
	case s == "true" || s == "false" || strings.HasPrefix(s, "{") || strings.HasPrefix(s, "["):
		return 0, false, fmt.Errorf("value %s is not a number", s)
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false, fmt.Errorf("value %s is not a number", s)
	}
	// Out-of-range numbers such as 1e999 come back as ±Inf, like Python's.
	return v, true, nil
}

// nonFinite maps the usual spellings of NaN and infinities to their values.
func nonFinite(s string) (float64, bool) {
	switch strings.ToLower(s) {
	case "nan", "+nan", "-nan":
		return math.NaN(), true
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), true
	case "-inf", "-infinity":
		return math.Inf(-1), true
	}
	return 0, false
}

// quoteNonFinite rewrites Python's bare NaN, Infinity and -Infinity tokens
// (outside strings) as JSON strings, so encoding/json accepts the line.
func quoteNonFinite(text []byte) []byte {
	if !bytes.Contains(text, []byte("NaN")) && !bytes.Contains(text, []byte("Infinity")) {
		return text
	}
	var out []byte
	inString, escaped := false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		matched := false
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(text[i:], []byte(tok)) {
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, c)
		}
	}
	return out
}

// trlMetrics are the keys a training row may hold; evaluation rows use the
// same names with the prefix "eval_".
var trlMetrics = map[string]bool{
	"step": true, "epoch": true, "loss": true,
	"rewards/chosen": true, "rewards/rejected": true, "rewards/margins": true, "rewards/accuracies": true,
	"logps/chosen": true, "logps/rejected": true, "logits/chosen": true, "logits/rejected": true,
	"learning_rate": true, "grad_norm": true, "tokens_per_s": true,
	"dpop/penalty": true, "dpop/active_fraction": true,
}

// isMetric reports whether key names a metric, whose value must be numeric.
func isMetric(key string) bool {
	return trlMetrics[key] || strings.HasPrefix(key, "eval_")
}

// Column returns the (x, y) pairs of the rows that hold both keys, in row
// order, non-finite values included (the plots skip them).
func Column(rows []map[string]float64, xKey, yKey string) (x, y []float64) {
	for _, r := range rows {
		xv, okx := r[xKey]
		yv, oky := r[yKey]
		if okx && oky {
			x = append(x, xv)
			y = append(y, yv)
		}
	}
	return x, y
}
