package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// intNumber and floatNumber format numbers as Python's json module does.
func intNumber(v int) json.Number { return json.Number(strconv.Itoa(v)) }

// floatNumber formats f like Python's repr: shortest round-trip digits,
// fixed notation with a ".0" for exponents in [-4, 16), else e-notation with
// a two-digit exponent ("1e-05").
func floatNumber(f float64) json.Number {
	s := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(s[strings.IndexByte(s, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return json.Number(s)
	}
	s = strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return json.Number(s)
}

// writeJSON writes v atomically as transformers writes JSON files: sorted
// keys, two-space indent, a final newline.
func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
}
