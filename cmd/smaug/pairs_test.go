package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// runPairs runs "smaug pairs args..." on a fresh command tree and returns
// its stdout.
func runPairs(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newPairsCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

func readReport(t *testing.T, path string) data.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r data.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPairsSynthMathToMetaMath(t *testing.T) {
	dir := t.TempDir()
	synth := filepath.Join(dir, "synth.jsonl")
	if _, err := runPairs(t, "", "synth-math", "--n", "300", "--seed", "5", "--output", synth); err != nil {
		t.Fatal(err)
	}
	outs := []string{filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl"), filepath.Join(dir, "c.jsonl")}
	for i, seed := range []string{"9", "9", "10"} {
		if _, err := runPairs(t, "", "metamath", "--input", synth, "--output", outs[i], "--seed", seed, "--per-example", "2"); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(outs[0])
	b, _ := os.ReadFile(outs[1])
	c, _ := os.ReadFile(outs[2])
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("same seed equal: %v (want true); other seed equal: %v (want false)", bytes.Equal(a, b), bytes.Equal(a, c))
	}
	r := readReport(t, filepath.Join(dir, "a.stats.json"))
	skipped := 0
	for _, n := range r.Skipped {
		skipped += n
	}
	pairs, err := data.ReadPairs(outs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Examples != 300 || r.Pairs != len(pairs) || r.CharEditDistance.Count != len(pairs)+r.EvalPairs || skipped == 0 {
		t.Errorf("report %+v for %d pairs", r, len(pairs))
	}
	if r.CharEditDistance.Median <= 0 || r.CharEditDistance.Median >= 0.05 {
		t.Errorf("median edit distance %v, want in (0, 0.05)", r.CharEditDistance.Median)
	}
	// stats on the file agrees with the build report.
	out, err := runPairs(t, "", "stats", outs[0], "--json", filepath.Join(dir, "s.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := readReport(t, filepath.Join(dir, "s.json"))
	if s.CharEditDistance.Median != r.CharEditDistance.Median || s.CharEditDistance.Count != r.CharEditDistance.Count {
		t.Errorf("stats %+v, build %+v", s.CharEditDistance, r.CharEditDistance)
	}
	if !strings.Contains(out, "median") {
		t.Errorf("stats output lacks the summary:\n%s", out)
	}
}

func TestPairsStdinStdout(t *testing.T) {
	in := `{"query": "Q", "response": "3 * 4 = 12 pens, 12 + 1 = 13.\nThe answer is: 13"}` + "\n"
	out, err := runPairs(t, in, "metamath", "--input", "-", "--output", "-")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"prompt":"Q","chosen":"3 * 4 = 12 pens, 12 + 1 = 13.\nThe answer is: 13","rejected":"3 * 4 = `
	if !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, ` pens, 12 + 1 = 13.\nThe answer is: 13","source":"metamath:-","id":"-:1/0"}`+"\n") {
		t.Errorf("stdout %q", out)
	}
}

func TestPairsARCFewShotAndSplit(t *testing.T) {
	dev := sharedtest.Path(t, "data/arc_challenge_partial/ARC-Challenge-Dev.jsonl")
	dir := t.TempDir()
	out := filepath.Join(dir, "arc.parquet")
	if _, err := runPairs(t, "", "arc", "--input", dev, "--output", out, "--shots", "2", "--fewshot-from", dev, "--eval-fraction", "0.2"); err != nil {
		t.Fatal(err)
	}
	train, err := data.ReadPairs(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	eval, err := data.ReadPairs(filepath.Join(dir, "arc.eval.parquet"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 291 four-choice and 3 three-choice questions: 291*3 + 3*2 pairs.
	if len(train)+len(eval) != 879 || len(eval) < 3*30 || len(eval) > 3*90 {
		t.Errorf("%d train + %d eval pairs, want 879 in all and about 20%% eval", len(train), len(eval))
	}
	prompts := map[string]bool{}
	for _, p := range eval {
		prompts[p.Prompt.(string)] = true
	}
	for _, p := range train {
		pr := p.Prompt.(string)
		if prompts[pr] {
			t.Fatalf("question in both splits: %q", pr)
		}
		blocks := strings.Split(pr, "\n\n")
		if len(blocks) != 3 || !strings.HasPrefix(blocks[0], "Question: ") || !strings.Contains(blocks[0], "\nAnswer: ") ||
			!strings.HasPrefix(blocks[2], "Question: ") || !strings.HasSuffix(blocks[2], "\nAnswer:") {
			t.Fatalf("prompt is not 2 shots + query: %q", pr)
		}
	}
	r := readReport(t, filepath.Join(dir, "arc.stats.json"))
	if r.Pairs != len(train) || r.EvalPairs != len(eval) || r.CharEditDistance.Median < 0.5 {
		t.Errorf("report pairs %d eval %d median %v", r.Pairs, r.EvalPairs, r.CharEditDistance.Median)
	}
}

func TestPairsBadRows(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "wg.jsonl")
	os.WriteFile(in, []byte(`{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "2"}
{"sentence": "A _ b.", "option1": "x", "answer": "1"}
{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "3"}
`), 0o644)
	out := filepath.Join(dir, "wg_dpo.jsonl")
	_, err := runPairs(t, "", "winogrande", "--input", in, "--output", out)
	if err == nil || !strings.Contains(err.Error(), in+`:2: field "option2": missing`) || !strings.Contains(err.Error(), "--skip-bad-rows") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output left after a failed run")
	}
	if _, err := runPairs(t, "", "winogrande", "--input", in, "--output", out, "--skip-bad-rows"); err != nil {
		t.Fatal(err)
	}
	r := readReport(t, filepath.Join(dir, "wg_dpo.stats.json"))
	want := map[string]int{`field "option2": missing`: 1, `field "answer": want "1" or "2", got 3`: 1}
	if r.Examples != 3 || r.Pairs != 1 || len(r.Skipped) != 2 || r.Skipped[`field "option2": missing`] != 1 || r.Skipped[`field "answer": want "1" or "2", got 3`] != 1 {
		t.Errorf("report examples %d pairs %d skipped %v, want 3, 1, %v", r.Examples, r.Pairs, r.Skipped, want)
	}
}

// TestPairsMetaMathFewShot: --shots 1 --fewshot-from over the input file
// itself gives each row the other row as its example, in the GSM8K layout
// written out by hand, and the flag combinations that cannot work fail.
func TestPairsMetaMathFewShot(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "train.jsonl")
	rows := `{"question": "A?", "answer": "3 * 4 = <<3*4=12>>12, 12 + 1 = <<12+1=13>>13\n#### 13"}` + "\n" +
		`{"question": "B?", "answer": "2 * 5 = <<2*5=10>>10, 10 - 1 = <<10-1=9>>9\n#### 9"}` + "\n"
	if err := os.WriteFile(in, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPairs(t, "", "metamath", "--input", in, "--output", "-", "--shots", "1", "--fewshot-from", in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Question: B?\nAnswer: 2 * 5 = <<2*5=10>>10, 10 - 1 = <<10-1=9>>9\n#### 9\n\nQuestion: A?\nAnswer:",
		"Question: A?\nAnswer: 3 * 4 = <<3*4=12>>12, 12 + 1 = <<12+1=13>>13\n#### 13\n\nQuestion: B?\nAnswer:",
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d pairs, want %d:\n%s", len(lines), len(want), out)
	}
	for i, l := range lines {
		var p struct{ Prompt, Chosen, Rejected string }
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		if p.Prompt != want[i] || !strings.HasPrefix(p.Chosen, " ") || !strings.HasPrefix(p.Rejected, " ") || p.Chosen == p.Rejected {
			t.Errorf("pair %d: %+v; want prompt %q and completions starting with a space", i, p, want[i])
		}
	}
	for _, bad := range [][]string{
		{"--shots", "1"},
		{"--shots", "1", "--fewshot-from", in, "--prompt-template", "gsm8k"},
		{"--shots", "-1"},
	} {
		if _, err := runPairs(t, "", append([]string{"metamath", "--input", in, "--output", "-"}, bad...)...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
