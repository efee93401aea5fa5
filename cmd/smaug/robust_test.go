package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/model"
)

// hashTree returns the SHA-256 of every file under dir, to check that a
// failed command changed nothing.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		out[p] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// expectFailure runs the CLI and checks it exits with status 1 and says want.
func expectFailure(t *testing.T, want string, args ...string) {
	t.Helper()
	out, err := runCLI(t, args...)
	var ee *exec.ExitError
	if !errorAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("smaug %s: got %v, want exit status 1\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("smaug %s: output %q lacks %q", strings.Join(args, " "), out, want)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Fatalf("smaug %s crashed:\n%s", strings.Join(args, " "), out)
	}
}

func errorAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// saveNaNModel writes a tiny model whose final norm weight holds a NaN, as
// a diverged training run leaves it.
func saveNaNModel(t *testing.T, dir string, vocab int) {
	t.Helper()
	m, err := model.NewRandom(tinyConfig(vocab), 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := m.Param("model.norm.weight")
	if !ok {
		t.Fatal("no model.norm.weight")
	}
	w.Data[3] = float32(math.NaN())
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
}

// TestNonFiniteModelIsAnError runs generate and logprobs on a model with a
// NaN weight: both must fail naming the position or the file line and the
// likely cause, print no NaN, write no output, and change no input file.
func TestNonFiniteModelIsAnError(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "diverged")
	saveNaNModel(t, modelDir, 50)
	pairs := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, pairs, 3, 1, 50, 4, 2, 5)
	before := hashTree(t, dir)

	expectFailure(t, "non-finite logit (NaN for token 0) at position 2: the model's weights are not finite — was it trained with too high a learning rate?",
		"generate", "--model", modelDir, "--prompt-ids", "5,6", "--max-new-tokens", "3")
	out := filepath.Join(dir, "scored.jsonl")
	expectFailure(t, pairs+`:1: field "chosen_ids": non-finite log-prob (NaN at completion token 0): the model's weights are not finite — was it trained with too high a learning rate?`,
		"logprobs", "--model", modelDir, "--data", pairs, "--out", out)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("logprobs left %s behind (stat: %v)", out, err)
	}
	after := hashTree(t, dir)
	if len(after) != len(before) {
		t.Errorf("files before %d, after %d", len(before), len(after))
	}
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}

// TestLogprobsRowChecks checks that logprobs names the file line of a bad
// row, says null for a null field, refuses a directory and invalid UTF-8,
// and accepts a byte order mark.
func TestLogprobsRowChecks(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "m")
	saveTinyModel(t, modelDir, 50)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"prompt_ids": [5, 6], "chosen_ids": [7, 8], "rejected_ids": [9]}` + "\n"
	out := filepath.Join(dir, "out.jsonl")
	for _, c := range []struct{ name, content, want string }{
		{"badid.jsonl", good + "\n" + `{"prompt_ids": [5], "chosen_ids": [7, 50]}` + "\n", `badid.jsonl:3: field "chosen_ids": token id 50 is outside the model's vocabulary (0..49)`},
		{"null.jsonl", good + `{"prompt_ids": [5], "chosen_ids": null}` + "\n", `null.jsonl:2: field "chosen_ids": is null`},
		{"utf8.jsonl", good + "{\"prompt_ids\": [5], \"chosen_ids\": [7], \"note\": \"caf\xe9\"}\n", `utf8.jsonl:2: invalid UTF-8`},
	} {
		expectFailure(t, c.want, "logprobs", "--model", modelDir, "--data", write(c.name, c.content), "--out", out)
	}
	expectFailure(t, "is a directory, not a data file", "logprobs", "--model", modelDir, "--data", modelDir, "--out", out)

	bom := write("bom.jsonl", "\ufeff"+good)
	if msg, err := runCLI(t, "logprobs", "--model", modelDir, "--data", bom, "--out", out); err != nil {
		t.Fatalf("BOM: %v\n%s", err, msg)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), `"chosen_logp":`) {
		t.Errorf("BOM: output %q, %v", b, err)
	}
}

// TestOversizedLoRARankIsAnError trains with --lora-r 1000000000 under
// GOMEMLIMIT=512MiB, past the estimate (--skip-memory-check): the run must
// stop with the allocator's memory refusal (exit 1),
// not Go's fatal out-of-memory, and leave the base model unchanged.
func TestOversizedLoRARankIsAnError(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	saveTinyModel(t, base, 50)
	pairs := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, pairs, 4, 1, 50, 4, 2, 5)
	before := hashTree(t, base)
	cmd := exec.Command(smaugBin, "train", "--model", base, "--data", pairs, "--output", filepath.Join(dir, "run"),
		"--lora-r", "1000000000", "--max-steps", "1", "--no-progress", "--skip-memory-check")
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=512MiB")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorAs(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "out of memory: LoRA adapters of rank 1000000000") ||
		strings.Contains(string(b), "goroutine ") {
		t.Fatalf("got %v:\n%s", err, b)
	}
	for p, h := range hashTree(t, base) {
		if before[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}

// TestTokenizeCatastrophicRegex runs smaug tokenize with a tokenizer.json
// whose Split pattern passes the load-time probe but backtracks
// exponentially on a run of "x": the command must stop at the 1 s budget
// with exit status 1 and name the pattern, not hang.
func TestTokenizeCatastrophicRegex(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	doc := `{"added_tokens": [], "normalizer": null, "post_processor": null, "decoder": null,
	"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(x+)+y"}, "behavior": "Isolated"},
	"model": {"type": "BPE", "vocab": {"x": 0, "y": 1}, "merges": []}}`
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "tokenize", "--tokenizer", p, "--text", "xyxy"); err != nil || strings.TrimSpace(out) != "[0,1,0,1]" {
		t.Fatalf("benign text: %v\n%s", err, out)
	}
	expectFailure(t, `regex "(x+)+y" ran past its 1s time budget on 40 bytes of text: the pattern backtracks catastrophically`,
		"tokenize", "--tokenizer", p, "--text", strings.Repeat("x", 40))
}

// TestOversizedBatchIsAnError trains with settings whose activations need
// gigabytes (--batch-size 16 over 16 long pairs, and one 10000-token pair
// under --max-length 1000000) under GOMEMLIMIT=300MiB, past the estimate
// (--skip-memory-check): each run must stop with the allocator's memory
// refusal (exit 1), not Go's fatal out-of-memory, and leave the base model
// unchanged. The tiny model has a 16384-wide MLP, so one
// [positions, 16384] activation is 64 KiB a position (the logits, chunked
// by the fused output layer, no longer grow with the batch).
func TestOversizedBatchIsAnError(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	c := tinyConfig(32000)
	c.IntermediateSize = 16384
	wide, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	if err := wide.Save(base, "F32", 0); err != nil {
		t.Fatal(err)
	}
	many := filepath.Join(dir, "many.jsonl")
	writeRandomPairs(t, many, 16, 1, 32000, 100, 200, 300)
	long := filepath.Join(dir, "long.jsonl")
	writeRandomPairs(t, long, 1, 2, 32000, 5000, 5000, 5001)
	before := hashTree(t, base)
	for i, args := range [][]string{
		{"--data", many, "--batch-size", "16"},
		{"--data", long, "--max-length", "1000000", "--batch-size", "1"},
	} {
		cmd := exec.Command(smaugBin, append([]string{"train", "--model", base, "--output", filepath.Join(dir, "run", string(rune('a'+i))),
			"--max-steps", "1", "--no-progress", "--skip-memory-check"}, args...)...)
		cmd.Env = append(os.Environ(), "GOMEMLIMIT=300MiB")
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errorAs(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "smaug: out of memory: a tensor buffer of ") ||
			!strings.Contains(string(b), "(Go memory limit (GOMEMLIMIT)); use smaller settings") || strings.Contains(string(b), "goroutine ") {
			t.Fatalf("%v: got %v:\n%s", args, err, b)
		}
	}
	for p, h := range hashTree(t, base) {
		if before[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}
