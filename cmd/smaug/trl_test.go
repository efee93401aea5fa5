package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// readMetrics reads metrics.jsonl without the timing fields, which differ
// from run to run.
func readMetrics(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "tokens_per_s")
		delete(m, "step_time_s")
		out = append(out, m)
	}
	return out
}

// TestTrainTRLNames: the same run given with smaug's flags, with TRL's and
// transformers' spellings on the command line, and as a TRL-style YAML
// file (warmup_ratio 0.5 of 3 steps is ⌈1.5⌉ = 2 warm-up steps, loss_type
// sigmoid is dpo) writes the same metrics.jsonl, timing fields aside; a
// YAML file with keys that are no settings is refused, naming each.
func TestTrainTRLNames(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	model := filepath.Join(root, "policy")
	smaugRun := filepath.Join(dir, "smaug")
	if msg, err := runCLI(t, "train", "--model", model, "--data", data, "--output", smaugRun, "--lr", "1e-3",
		"--batch-size", "1", "--grad-accum", "2", "--max-steps", "3", "--warmup-steps", "2", "--lr-schedule", "cosine",
		"--loss", "dpo", "--beta", "0.2", "--max-length", "64", "--max-prompt-length", "32", "--seed", "3",
		"--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "q_proj,v_proj", "--no-progress"); err != nil {
		t.Fatalf("smaug names: %v\n%s", err, msg)
	}
	trlRun := filepath.Join(dir, "trl")
	if msg, err := runCLI(t, "train", "--model_name_or_path", model, "--data", data, "--output_dir", trlRun, "--learning_rate", "1e-3",
		"--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "2", "--max_steps", "3", "--warmup_steps", "2",
		"--lr_scheduler_type", "cosine", "--loss_type", "sigmoid", "--beta", "0.2", "--max_length", "64", "--max_prompt_length", "32",
		"--seed", "3", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj,v_proj", "--no-progress"); err != nil {
		t.Fatalf("TRL names: %v\n%s", err, msg)
	}
	yamlRun := filepath.Join(dir, "yaml")
	yml := filepath.Join(dir, "dpo.yaml")
	os.WriteFile(yml, []byte(`model_name_or_path: `+model+`
output_dir: `+yamlRun+`
learning_rate: 1.0e-3
per_device_train_batch_size: 1
gradient_accumulation_steps: 2
max_steps: 3
warmup_ratio: 0.5
lr_scheduler_type: cosine
loss_type: sigmoid
beta: 0.2
max_length: 64
max_prompt_length: 32
seed: 3
use_peft: true
lora_r: 4
lora_alpha: 8
lora_dropout: 0.0
lora_target_modules: [q_proj, v_proj]
logging_steps: 1
`), 0o644)
	if msg, err := runCLI(t, "train", "--config", yml, "--data", data, "--no-progress"); err != nil {
		t.Fatalf("TRL YAML: %v\n%s", err, msg)
	}
	want := readMetrics(t, smaugRun)
	if len(want) != 3 {
		t.Fatalf("smaug run: %d metric rows, want 3", len(want))
	}
	for _, run := range []string{trlRun, yamlRun} {
		if got := readMetrics(t, run); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: metrics.jsonl differs from the run with smaug's names:\n got %v\nwant %v", filepath.Base(run), got, want)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("learning_rate: 1e-3\nreport_to: wandb\ndataset_name: trl-lib/ultrafeedback\n"), 0o644)
	msg, err := runCLI(t, "train", "--config", bad, "--model", model, "--data", data, "--output", filepath.Join(dir, "bad"))
	if err == nil || !strings.Contains(msg, "unknown settings dataset_name, report_to") {
		t.Errorf("unknown keys: err %v, want one naming dataset_name and report_to:\n%s", err, msg)
	}
	dup := filepath.Join(dir, "dup.yaml")
	os.WriteFile(dup, []byte("learning_rate: 1e-3\nlr: 1e-4\n"), 0o644)
	if msg, err := runCLI(t, "train", "--config", dup, "--model", model, "--data", data, "--output", filepath.Join(dir, "dup")); err == nil || !strings.Contains(msg, "are the same setting (--lr)") {
		t.Errorf("learning_rate and lr in one file: err %v, want a refusal:\n%s", err, msg)
	}
}

// TestTrainRPOAndPEFT: --rpo_alpha adds the sft loss with that weight,
// --use_peft without LoRA settings takes TRL ModelConfig's (r 16, α 32,
// dropout 0.05, q_proj,v_proj), and TRL's max_steps -1 and
// constant_with_warmup are read, as config.yaml records.
func TestTrainRPOAndPEFT(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	out := filepath.Join(dir, "run")
	if msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
		"--loss_type", "sigmoid", "--rpo_alpha", "0.5", "--use_peft", "--max_steps", "1", "--batch-size", "3", "--no-progress"); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	b, err := os.ReadFile(filepath.Join(out, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"loss: dpo,sft\n", "loss-weights: 1,0.5\n", "lora-r: 16\n", "lora-alpha: 32\n", "lora-dropout: 0.05\n", "lora-targets: q_proj,v_proj\n"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("config.yaml lacks %q:\n%s", w, b)
		}
	}
	// TRL's value spellings: max_steps -1 (no limit) and constant_with_warmup.
	out = filepath.Join(dir, "values")
	if msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
		"--max_steps", "-1", "--num_train_epochs", "1", "--lr_scheduler_type", "constant_with_warmup", "--batch-size", "3", "--no-progress"); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	b, _ = os.ReadFile(filepath.Join(out, "config.yaml"))
	for _, w := range []string{"max-steps: 0\n", "epochs: 1\n", "lr-schedule: constant\n"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("config.yaml lacks %q:\n%s", w, b)
		}
	}
}

// TestTrainLogsWithoutTerminal: with stderr not a terminal (a pipe here),
// train writes a start block, a line every --logging-steps steps (and at
// the last) with loss, margin, log-probs, lr, tok/s and ETA, and an end
// block.
func TestTrainLogsWithoutTerminal(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	out := filepath.Join(dir, "run")
	msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
		"--max-steps", "5", "--batch-size", "1", "--logging-steps", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	for _, w := range []string{
		"model:      " + filepath.Join(root, "policy"), "parameters: ", "trainable of", "data:       3 training examples",
		"truncation: 0 prompts", "memory:     ", "reference log-probs (train)",
		"step 2/5  loss ", "step 4/5  loss ", "step 5/5  loss ", "margin ", "logp chosen ", "rejected ", "lr ", "tok/s ", "ETA ",
		"done:       5 steps in ", "final loss", "written:    " + out,
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("log lacks %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "step 1/5") || strings.Contains(msg, "step 3/5") {
		t.Errorf("lines at steps not due (--logging-steps 2):\n%s", msg)
	}
}

// TestTrainReferenceOnlyDrawn: with --max-steps 1 and --batch-size 1 the
// step draws one of the fixture's three pairs; the reference log-probs are
// computed (and cached) for that pair only, and the log says so.
func TestTrainReferenceOnlyDrawn(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	out := filepath.Join(dir, "run")
	msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out, "--max-steps", "1", "--batch-size", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if !strings.Contains(msg, "reference log-probs (train: only the 1 of 3 examples drawn in the run's 1 step): computed for 1 examples") {
		t.Errorf("log does not say the reference covers 1 of 3 pairs:\n%s", msg)
	}
	caches, _ := filepath.Glob(filepath.Join(out, "ref_logps-*.json"))
	if len(caches) != 1 {
		t.Fatalf("%d reference caches, want 1", len(caches))
	}
	var rc struct{ Logps [][2]float64 }
	b, _ := os.ReadFile(caches[0])
	if err := json.Unmarshal(b, &rc); err != nil || len(rc.Logps) != 1 {
		t.Errorf("cache holds %d pairs (%v), want 1", len(rc.Logps), err)
	}
}
