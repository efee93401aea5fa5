package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runContaminationCmd(args ...string) (string, error) {
	cmd := newContaminationCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// Both methods end to end on a JSONL file: the same output twice, one row
// per example, the explanation printed.
func TestContaminationCommand(t *testing.T) {
	mdir := evalModelDir(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "texts.jsonl")
	os.WriteFile(data, []byte(`{"text": "The quick brown fox jumps over the lazy dog near the river bank."}
{"question": "What is two plus two?", "answer": "Two plus two is four."}
{"text": "Water boils at one hundred degrees Celsius at sea level."}
`), 0o644)
	var outs []string
	for i := 0; i < 2; i++ {
		o := filepath.Join(dir, "out"+string(rune('a'+i))+".jsonl")
		stdout, err := runContaminationCmd("--model", mdir, "--ref-model", mdir, "--task", data, "--samples", "3",
			"--n", "2", "--seed", "0", "--output", o, "--no-progress")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "neighbours:") || !strings.Contains(stdout, "not Min-K% Prob") {
			t.Errorf("output:\n%s", stdout)
		}
		b, _ := os.ReadFile(o)
		outs = append(outs, stdout+string(b))
		if n := strings.Count(string(b), "\n"); n != 2 || !strings.Contains(string(b), `"neighbour_losses"`) {
			t.Errorf("%d rows:\n%s", n, b)
		}
	}
	if outs[0] != outs[1] {
		t.Error("two runs differ")
	}
	stdout, err := runContaminationCmd("--model", mdir, "--task", data, "--method", "min-k", "--no-progress")
	if err != nil || !strings.Contains(stdout, "min-k:") || !strings.Contains(stdout, "Min-K% Prob (Shi et al. 2023)") {
		t.Errorf("min-k: %v\n%s", err, stdout)
	}
	if _, err := runContaminationCmd("--model", mdir, "--task", data); err == nil || !strings.Contains(err.Error(), "--ref-model") {
		t.Errorf("neighbours without a reference: %v", err)
	}
}
