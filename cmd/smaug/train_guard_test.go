package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/memplan"
)

// writeConfigOnly writes a model folder holding only config.json: any
// attempt to load weights from it fails, so a run that stops with the
// memory estimate has loaded nothing.
func writeConfigOnly(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeIDPairs(t *testing.T, path string, n, promptLen, compLen int) {
	t.Helper()
	var buf bytes.Buffer
	ids := func(k, off int) []int {
		out := make([]int, k)
		for i := range out {
			out[i] = 3 + (i+off)%20
		}
		return out
	}
	for i := 0; i < n; i++ {
		json.NewEncoder(&buf).Encode(map[string]any{"prompt_ids": ids(promptLen, i), "chosen_ids": ids(compLen, i+1), "rejected_ids": ids(compLen, i+2)})
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainMemoryGate70B: a Llama-2-70B config on this machine stops
// before loading anything (the folder has no weights), with the estimate
// and the suggestions as flags, each with its estimate; --dry-run prints
// the same and exits 0.
func TestTrainMemoryGate70B(t *testing.T) {
	avail, _, err := memplan.Available()
	if err != nil {
		t.Fatal(err)
	}
	if avail > 1<<40 {
		t.Skipf("this machine has %s available: a 70B run may fit", memplan.GiB(avail))
	}
	dir := t.TempDir()
	m := filepath.Join(dir, "llama70b")
	writeConfigOnly(t, m, map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
		"num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
		"rope_theta": 10000, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2})
	data := filepath.Join(dir, "pairs.jsonl")
	writeIDPairs(t, data, 16, 100, 400)
	out, err := runCLI(t, "train", "--model", m, "--data", data, "--output", filepath.Join(dir, "run"), "--no-progress")
	if err == nil {
		t.Fatalf("a 70B run started:\n%s", out)
	}
	t.Log(out)
	for _, want := range []string{"memory: estimated peak", "the run will not fit", "Nothing was loaded",
		"--lora-r 16", "--gradient-checkpointing", "--batch-size 1 --grad-accum 4", "--base-dtype BF16",
		"no change above fits this machine", "GiB (weights"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "config.yaml")); err == nil {
		t.Error("the run folder was written")
	}
	out2, err := runCLI(t, "train", "--model", m, "--data", data, "--output", filepath.Join(dir, "run"), "--dry-run")
	if err != nil || !strings.Contains(out2, "the run will not fit") {
		t.Errorf("--dry-run: %v\n%s", err, out2)
	}
}

// TestTrainDryRunFits: a tiny config fits; --dry-run prints the estimate
// and stops without a run folder.
func TestTrainDryRunFits(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "tiny")
	writeConfigOnly(t, m, map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_key_value_heads": 2, "vocab_size": 32, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
		"rope_theta": 10000, "hidden_act": "silu"})
	data := filepath.Join(dir, "pairs.jsonl")
	writeIDPairs(t, data, 8, 4, 10)
	out, err := runCLI(t, "train", "--model", m, "--data", data, "--output", filepath.Join(dir, "run"), "--dry-run")
	if err != nil || !strings.Contains(out, "memory: estimated peak") || !strings.Contains(out, "8 sequences × 14 tokens") {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "run")); err == nil {
		t.Error("--dry-run created the run folder")
	}
}

// TestTrainShowsExample: the first example is printed and saved as
// example.txt; token-id data whose completions lack EOS and with an
// identical pair is warned about, not refused (its formatting is the
// user's), and the run's start line carries the memory estimate.
func TestTrainShowsExample(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	saveTinyModel(t, m, 32)
	data := filepath.Join(dir, "pairs.jsonl")
	writeJSONL(t, data, []map[string]any{
		{"prompt_ids": []int{1, 5, 6}, "chosen_ids": []int{7, 8, 2}, "rejected_ids": []int{8, 7, 2}},
		{"prompt_ids": []int{1, 6, 5}, "chosen_ids": []int{9, 9}, "rejected_ids": []int{9, 9}},
	})
	run := filepath.Join(dir, "run")
	out, err := runCLI(t, "train", "--model", m, "--data", data, "--output", run, "--max-steps", "1", "--no-progress")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"memory: estimated peak", "the first training example as the model sees it",
		"warning: " + data + ": 2 completions do not end with an end-of-sequence token", "--allow-data-issue no-eos",
		"--allow-data-issue identical-pairs"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(run, "example.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "ids:  1 5 6 | 7 8 2\nloss: 0 0 0 | 1 1 1\n"; !strings.Contains(string(b), want) {
		t.Errorf("example.txt lacks %q:\n%s", want, b)
	}
	if strings.Contains(out, "read from the cache") {
		t.Error("the first run read the token cache")
	}
	// A second run next to the first reads the tokenised data from the
	// cache and shows the same example.
	out, err = runCLI(t, "train", "--model", m, "--data", data, "--output", filepath.Join(dir, "run2"), "--max-steps", "1", "--no-progress")
	if err != nil || !strings.Contains(out, "tokenised examples read from the cache") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	b2, err := os.ReadFile(filepath.Join(dir, "run2", "example.txt"))
	if err != nil || string(b2) != string(b) {
		t.Errorf("second run's example.txt differs (%v):\n%s", err, b2)
	}
}
