package eval

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The table of Smaug-72B's published scores gives its published average,
// 80.48 (SPEC §3); a harness v0.3 file (keys without ",none", truthfulqa_mc,
// hendrycksTest-* subjects, some standard errors missing) is read too.
func TestReadResultsAndTable(t *testing.T) {
	dir := t.TempDir()
	v04 := filepath.Join(dir, "a.json")
	os.WriteFile(v04, []byte(`{"results": {"arc_challenge": {"acc_norm,none": 0.7602, "acc_norm_stderr,none": 0.0125},
	  "hellaswag": {"acc_norm,none": 0.8927, "acc_norm_stderr,none": 0.003}, "mmlu": {"acc,none": 0.7715, "acc_stderr,none": 0.004},
	  "truthfulqa_mc2": {"mc2,none": 0.7667, "mc2_stderr,none": 0.014}, "winogrande": {"acc,none": 0.8508, "acc_stderr,none": 0.01},
	  "gsm8k": {"acc,none": 0.787, "acc_stderr,none": 0.011}}}`), 0o644)
	v03 := filepath.Join(dir, "b.json")
	os.WriteFile(v03, []byte(`{"results": {"arc_challenge": {"acc_norm": 0.75, "acc_norm_stderr": 0.01},
	  "hendrycksTest-a": {"acc": 0.5, "acc_stderr": 0.03}, "hendrycksTest-b": {"acc": 0.75, "acc_stderr": 0.04},
	  "truthfulqa_mc": {"mc2": 0.5}}}`), 0o644)
	var rs []*Results
	for _, p := range []string{v04, v03} {
		r, err := ReadResults(p)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, []string{"Smaug-72B", "old"}, rs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"| Model | Average | ARC | HellaSwag | MMLU | TruthfulQA | Winogrande | GSM8K |",
		"| --- | --- | --- | --- | --- | --- | --- | --- |",
		"| Smaug-72B | 80.48 | 76.02 ± 1.25 | 89.27 ± 0.30 | 77.15 ± 0.40 | 76.67 ± 1.40 | 85.08 ± 1.00 | 78.70 ± 1.10 |",
		// MMLU: (50 + 75)/2 = 62.5, stderr √(3² + 4²)/2 = 2.5; average (75 + 62.5 + 50)/3 = 62.5.
		"| old | 62.50* | 75.00 ± 1.00 | – | 62.50 ± 2.50 | 50.00 | – | – |",
	}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", b.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d\n%s\nwant\n%s", i, lines[i], want[i])
		}
	}
	os.WriteFile(v03, []byte(`{"results": {}}`), 0o644)
	if _, err := ReadResults(v03); err == nil || !strings.Contains(err.Error(), "results") {
		t.Errorf("empty results: %v", err)
	}
}
