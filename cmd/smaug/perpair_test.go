package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// fixtureSeqs returns the fixture's sequences (prompt+chosen and
// prompt+rejected of each pair) as LogProbs runs them.
func fixtureSeqs(t *testing.T, root string) [][]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Pairs []struct{ Prompt, Chosen, Rejected []int }
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	var seqs [][]int
	for _, p := range e.Pairs {
		for _, c := range [][]int{p.Chosen, p.Rejected} {
			seqs = append(seqs, append(append([]int(nil), p.Prompt...), c...))
		}
	}
	return seqs
}

// savedShare is the share of positions LogProbs skips, computed here
// independently of the prefix tree: the positions run are the distinct
// prefixes seq[:k] (1 ≤ k < len(seq)) when shared, len(seq)−1 per sequence
// otherwise.
func savedShare(seqs [][]int, share bool) float64 {
	distinct := map[string]bool{}
	run, total := 0, 0
	for _, s := range seqs {
		total += len(s)
		for k := 1; k < len(s); k++ {
			key := fmt.Sprint(s[:k])
			if !share || !distinct[key] {
				run++
			}
			distinct[key] = true
		}
	}
	return 1 - float64(run)/float64(total)
}

// trainStepRows reads the training rows (those with a loss and no eval_ metric)
// of a run folder's metrics.jsonl.
func trainStepRows(t *testing.T, dir string) []map[string]float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["loss"]; ok {
			rows = append(rows, m)
		}
	}
	return rows
}

// TestTrainSharePrefixAndPaddingFree trains one epoch on the fixture's three
// pairs: with shared prefixes (the default), with --no-share-prefix, with
// --padding-free at the default budget (all three pairs fit: one step) and
// at a budget of 1 token (each pair alone: three steps). The loss of the
// first three runs' single step agrees within 1e-5 relative (the same
// batch, float32 sums in another order); tokens_saved in metrics.jsonl is
// the share computed by savedShare (1e-9 absolute).
func TestTrainSharePrefixAndPaddingFree(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	seqs := fixtureSeqs(t, root)
	tests := []struct {
		name  string
		flags []string
		steps int
		saved float64
	}{
		{"shared", nil, 1, savedShare(seqs, true)},
		{"no-share-prefix", []string{"--no-share-prefix"}, 1, savedShare(seqs, false)},
		{"padding-free", []string{"--padding-free"}, 1, savedShare(seqs, true)},
		{"padding-free-1", []string{"--padding-free", "--max-tokens-per-batch", "1"}, 3, -1},
	}
	if a, b := tests[0].saved, tests[1].saved; !(a > b) {
		t.Fatalf("fixture shares no prefix: saved %.3f shared vs %.3f", a, b)
	}
	var loss0 float64
	for i, tc := range tests {
		out := filepath.Join(dir, tc.name)
		args := append([]string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
			"--batch-size", "3", "--epochs", "1", "--no-progress"}, tc.flags...)
		if msg, err := runCLI(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, msg)
		}
		rows := trainStepRows(t, out)
		if len(rows) != tc.steps {
			t.Fatalf("%s: %d steps, want %d", tc.name, len(rows), tc.steps)
		}
		if tc.saved < 0 {
			continue
		}
		if got := rows[0]["tokens_saved"]; math.Abs(got-tc.saved) > 1e-9 {
			t.Errorf("%s: tokens_saved %.6f, want %.6f", tc.name, got, tc.saved)
		}
		if i == 0 {
			loss0 = rows[0]["loss"]
		} else if d := math.Abs(rows[0]["loss"]-loss0) / math.Abs(loss0); d > 1e-5 {
			t.Errorf("%s: loss %.8g vs %.8g shared (relative %.2g > 1e-5)", tc.name, rows[0]["loss"], loss0, d)
		}
	}
	msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", filepath.Join(dir, "bad"),
		"--max-tokens-per-batch", "100", "--no-progress")
	if err == nil || !strings.Contains(msg, "--padding-free") {
		t.Errorf("--max-tokens-per-batch without --padding-free: err %v, output %q; want a refusal naming --padding-free", err, msg)
	}
}

// TestLogprobsNoSharePrefix: smaug logprobs gives the same log-probs with
// and without --no-share-prefix (1e-5 relative; float32 sums in another
// order).
func TestLogprobsNoSharePrefix(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	results := map[string][]map[string]any{}
	for _, flags := range [][]string{nil, {"--no-share-prefix"}} {
		name := strings.Join(flags, "")
		out := filepath.Join(dir, "out"+name+".jsonl")
		args := append([]string{"logprobs", "--model", filepath.Join(root, "policy"), "--data", data, "--out", out}, flags...)
		if msg, err := runCLI(t, args...); err != nil {
			t.Fatalf("logprobs %v: %v\n%s", flags, err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			results[name] = append(results[name], r)
		}
	}
	a, b := results[""], results["--no-share-prefix"]
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("%d and %d rows, want 3", len(a), len(b))
	}
	for i := range a {
		for _, f := range []string{"chosen_logp", "rejected_logp"} {
			x, y := a[i][f].(float64), b[i][f].(float64)
			if d := math.Abs(x-y) / math.Max(math.Abs(x), 1e-30); d > 1e-5 {
				t.Errorf("row %d %s: %.8g shared, %.8g unshared (relative %.2g > 1e-5)", i, f, x, y, d)
			}
		}
	}
}

// TestBenchTrainData runs smaug bench train on two pairs of a token-id file
// (the small shape, LoRA, one timed step) with prefixes shared and with
// --no-share-prefix and --output-chunk 1, and with TRL's layout (padded,
// unfused): tokens is the pairs' sequence tokens every time, positions the
// count of savedShare's rule (distinct prefixes, or every position but each
// sequence's last), or padded: every sequence as long as the longest.
func TestBenchTrainData(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "ids.jsonl")
	rows := []map[string]any{
		{"prompt_ids": []int{1, 5, 6, 7, 8}, "chosen_ids": []int{9, 10, 11}, "rejected_ids": []int{9, 10, 12, 13}},
		{"prompt_ids": []int{1, 5, 6, 20}, "chosen_ids": []int{21, 22}, "rejected_ids": []int{23}},
		{"prompt_ids": []int{1, 5}, "chosen_ids": []int{30}, "rejected_ids": []int{31}},
	}
	writeJSONL(t, data, rows)
	var seqs [][]int
	for _, r := range rows[:2] {
		p := r["prompt_ids"].([]int)
		for _, f := range []string{"chosen_ids", "rejected_ids"} {
			seqs = append(seqs, append(append([]int(nil), p...), r[f].([]int)...))
		}
	}
	tokens := 0
	for _, s := range seqs {
		tokens += len(s)
	}
	longest := 0
	for _, s := range seqs {
		longest = max(longest, len(s)-1)
	}
	for _, tc := range []struct {
		flags  []string
		share  bool
		padded bool
	}{{nil, true, false}, {[]string{"--no-share-prefix", "--output-chunk", "1"}, false, false},
		{[]string{"--no-share-prefix", "--padding-free=false", "--unfused-output"}, false, true}} {
		args := append([]string{"bench", "train", "--shapes", "small", "--modes", "lora", "--iters", "1", "--data", data, "--pairs", "2"}, tc.flags...)
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.flags, err, out)
		}
		var fields []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[0] == "small" && f[1] == "lora" {
				fields = f
			}
		}
		positions := int(math.Round((1 - savedShare(seqs, tc.share)) * float64(tokens)))
		if tc.padded {
			positions = len(seqs) * longest // each sequence but its last token, padded to the longest
		}
		if fields == nil || fields[4] != fmt.Sprint(tokens) || fields[5] != fmt.Sprint(positions) {
			t.Errorf("%v: row %q, want %d tokens and %d positions\n%s", tc.flags, fields, tokens, positions, out)
		}
	}
	if out, err := runCLI(t, "bench", "train", "--pairs", "2"); err == nil || !strings.Contains(out, "--data") {
		t.Errorf("--pairs without --data: err %v, output %q", err, out)
	}
}
