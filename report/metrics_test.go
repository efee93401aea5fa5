package report

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFile writes content to name in a fresh temporary folder.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameRow compares metric rows exactly, with NaN equal to NaN.
func sameRow(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !(va == vb || math.IsNaN(va) && math.IsNaN(vb)) {
			return false
		}
	}
	return true
}

func TestReadMetrics(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		content string
		want    []map[string]float64
	}{
		{"trl rows and blank lines",
			`{"step": 1, "loss": 0.6931, "rewards/chosen": 0.0, "learning_rate": 5e-7}` + "\n\n" +
				`  {"step": 2, "loss": 0.65, "rewards/margins": -0.125}  ` + "\n" +
				`{"step": 2, "eval_loss": 0.7, "eval_rewards/accuracies": 0.5}` + "\n\n",
			[]map[string]float64{
				{"step": 1, "loss": 0.6931, "rewards/chosen": 0, "learning_rate": 5e-7},
				{"step": 2, "loss": 0.65, "rewards/margins": -0.125},
				{"step": 2, "eval_loss": 0.7, "eval_rewards/accuracies": 0.5},
			}},
		{"no trailing newline", `{"step": 3}`, []map[string]float64{{"step": 3}}},
		{"empty file", "", nil},
		{"null is NaN", `{"step": 1, "grad_norm": null}`, []map[string]float64{{"step": 1, "grad_norm": nan}}},
		{"python non-finite tokens",
			`{"step": 1, "loss": NaN, "grad_norm": Infinity, "rewards/margins": -Infinity, "note": "NaN Infinity"}`,
			[]map[string]float64{{"step": 1, "loss": nan, "grad_norm": inf, "rewards/margins": math.Inf(-1)}}},
		{"non-finite strings",
			`{"step": 1, "loss": "nan", "grad_norm": "inf", "eval_loss": "-Infinity"}`,
			[]map[string]float64{{"step": 1, "loss": nan, "grad_norm": inf, "eval_loss": math.Inf(-1)}}},
		{"out of range number is Inf", `{"step": 1, "grad_norm": 1e999}`,
			[]map[string]float64{{"step": 1, "grad_norm": inf}}},
		{"non-metric fields of other types are ignored",
			`{"step": 1, "time": "2024-05-01T10:00:00", "done": true, "sizes": [1, 2], "seed": 7}`,
			[]map[string]float64{{"step": 1, "seed": 7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMetrics(writeFile(t, "metrics.jsonl", tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d rows %v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !sameRow(got[i], tt.want[i]) {
					t.Errorf("row %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadMetricsErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // substrings of the error after the path
	}{
		{"malformed line", "{\"step\": 1}\n\n{\"step\": 2, \"loss\": }\n", []string{":3:", "not a JSON object"}},
		{"truncated last line", "{\"step\": 1}\n{\"step\": 2, \"lo", []string{":2:"}},
		{"array row", "[1, 2]\n", []string{":1:", "not a JSON object"}},
		{"null row", "{\"step\": 1}\nnull\n", []string{":2:", "null"}},
		{"metric is a word", "{\"step\": 1}\n{\"step\": 2, \"loss\": \"high\"}\n", []string{":2:", `field "loss"`, "not a number"}},
		{"eval metric is a bool", "{\"step\": 1, \"eval_loss\": true}\n", []string{":1:", `field "eval_loss"`}},
		{"step is an object", "{\"step\": {\"n\": 1}}\n", []string{":1:", `field "step"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "metrics.jsonl", tt.content)
			_, err := ReadMetrics(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+":") {
				t.Errorf("error %q does not start with the path", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
	if _, err := ReadMetrics(filepath.Join(t.TempDir(), "absent.jsonl")); err == nil || !strings.Contains(err.Error(), "absent.jsonl") {
		t.Errorf("missing file: error %v does not name it", err)
	}
}

func TestQuoteNonFinite(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": 1}`, `{"a": 1}`},
		{`{"a": NaN, "b": -Infinity, "c": Infinity}`, `{"a": "NaN", "b": "-Infinity", "c": "Infinity"}`},
		{`{"NaN": "x Infinity \" NaN", "b": NaN}`, `{"NaN": "x Infinity \" NaN", "b": "NaN"}`},
		{`{"s": "\\", "b": NaN}`, `{"s": "\\", "b": "NaN"}`},
	}
	for _, tt := range tests {
		if got := string(quoteNonFinite([]byte(tt.in))); got != tt.want {
			t.Errorf("quoteNonFinite(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestColumn(t *testing.T) {
	rows := []map[string]float64{
		{"step": 1, "loss": 0.7},
		{"step": 2},
		{"loss": 0.5},
		{"step": 3, "loss": 0.4, "eval_loss": 0.6},
	}
	x, y := Column(rows, "step", "loss")
	if !reflect.DeepEqual(x, []float64{1, 3}) || !reflect.DeepEqual(y, []float64{0.7, 0.4}) {
		t.Errorf("Column = %v, %v; want [1 3], [0.7 0.4]", x, y)
	}
	x, y = Column(rows, "step", "grad_norm")
	if x != nil || y != nil {
		t.Errorf("Column of an absent key = %v, %v; want nil", x, y)
	}
}
