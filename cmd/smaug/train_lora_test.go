package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

// TestTrainLoRAEndToEnd trains a LoRA adapter (r 4, α 8, all-linear) with
// DPOP, an eval split every 2 steps, and checks the run folder:
//
//   - the adapter folder loads back with model.LoadAdapter with the
//     configured rank, α and all seven projections as targets;
//   - the first step's rewards/chosen and rewards/rejected are 0 within
//     1e-6: metrics are computed before the update, when the adapter's B is
//     still 0, so the policy is its reference (the base with the adapter
//     off), up to the float32 rounding of differently padded batches;
//   - every step row has grad_norm, learning_rate and epoch, and eval_ rows
//     follow steps 2 and 4; epoch counts data passes (12 pairs, 4 a step);
//   - the last eval_logps/chosen equals the mean chosen log-prob of the eval
//     pairs under base + loaded adapter, within 1e-4 (the saved adapter is
//     the trained one);
//   - the PNG plots of loss, rewards, log-probs and margins were written.
func TestTrainLoRAEndToEnd(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	base := filepath.Join(root, "policy")
	dir := t.TempDir()
	data, eval := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "eval.jsonl")
	writeRandomPairs(t, data, 12, 1, 320, 8, 10, 20)
	writeRandomPairs(t, eval, 4, 2, 320, 8, 10, 20)
	out := filepath.Join(dir, "run")
	if msg, err := runCLI(t, "train", "--model", base, "--data", data, "--eval-data", eval, "--eval-steps", "2",
		"--output", out, "--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "all-linear",
		"--lr", "1e-2", "--lr-schedule", "constant", "--batch-size", "2", "--grad-accum", "2", "--max-steps", "5", "--no-progress"); err != nil {
		t.Fatalf("smaug train: %v\n%s", err, msg)
	}

	m, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := model.LoadAdapter(m, out)
	if err != nil {
		t.Fatalf("the trained adapter does not load: %v", err)
	}
	if want := []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}; lc.R != 4 || lc.Alpha != 8 || !slices.Equal(lc.Targets, want) {
		t.Errorf("adapter config r %d, alpha %v, targets %v; want 4, 8, %v", lc.R, lc.Alpha, lc.Targets, want)
	}

	rows := readMetricRows(t, out)
	var steps, evals []map[string]any
	for _, r := range rows {
		if _, ok := r["eval_loss"]; ok {
			evals = append(evals, r)
		} else {
			steps = append(steps, r)
		}
	}
	if len(steps) != 5 {
		t.Fatalf("%d step rows, want 5", len(steps))
	}
	for _, k := range []string{"rewards/chosen", "rewards/rejected"} {
		if v := steps[0][k].(float64); math.Abs(v) > 1e-6 {
			t.Errorf("first step %s = %g; want 0 (policy = reference before the first update)", k, v)
		}
	}
	for i, r := range steps {
		for _, k := range []string{"grad_norm", "learning_rate", "epoch", "loss", "rewards/margins", "logps/chosen", "dpop/penalty"} {
			if _, ok := r[k].(float64); !ok {
				t.Errorf("step %d: no %s", i+1, k)
			}
		}
		if want := float64(4*(i+1)) / 12; math.Abs(r["epoch"].(float64)-want) > 1e-12 {
			t.Errorf("step %d: epoch %v, want %v", i+1, r["epoch"], want)
		}
	}
	// Eval at steps 2 and 4, and at the end (step 5 is not a multiple of 2).
	var evalSteps []float64
	for _, r := range evals {
		evalSteps = append(evalSteps, r["step"].(float64))
	}
	if !slices.Equal(evalSteps, []float64{2, 4, 5}) {
		t.Errorf("eval rows at steps %v, want [2 4 5]", evalSteps)
	}
	last := evals[len(evals)-1]
	if v, _ := last["eval_rewards/chosen"].(float64); v == 0 {
		t.Errorf("last eval_rewards/chosen is 0: the adapter did not move")
	}

	var items []model.Completion
	f, err := os.Open(eval)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row map[string][]int
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		items = append(items, model.Completion{Prompt: row["prompt_ids"], Completion: row["chosen_ids"]})
	}
	s, err := m.LogProbs(nil, items)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, v := range s.Seq.Data {
		mean += float64(v) / float64(len(items))
	}
	if got := last["eval_logps/chosen"].(float64); math.Abs(got-mean) > 1e-4 {
		t.Errorf("last eval_logps/chosen %.6f; base + saved adapter gives %.6f", got, mean)
	}

	for _, png := range []string{"loss.png", "rewards.png", "logps.png", "accuracy.png", "dpop.png", "optim.png", "eval_rewards.png"} {
		st, err := os.Stat(filepath.Join(out, png))
		if err != nil || st.Size() < 1000 {
			t.Errorf("plot %s missing or empty: %v", png, err)
		}
	}
}

// TestTrainLoRABF16Base checks --base-dtype on the command line: BF16
// with a LoRA base is accepted, and BF16 without anything frozen is
// refused with the flag named. (That the adapters equal those of a
// float32-held base is train's TestLoRABF16Base.)
func TestTrainLoRABF16Base(t *testing.T) {
	base := filepath.Join(sharedtest.Path(t, "fixtures/hf/llama"), "policy_bf16")
	dir := t.TempDir()
	data := filepath.Join(dir, "train.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 8, 10, 20)
	out := filepath.Join(dir, "lora")
	if msg, err := runCLI(t, "train", "--model", base, "--data", data, "--output", out, "--base-dtype", "bf16",
		"--lora-r", "4", "--batch-size", "2", "--max-steps", "1", "--no-progress"); err != nil {
		t.Fatalf("smaug train --base-dtype bf16 --lora-r 4: %v\n%s", err, msg)
	}
	if b, err := os.ReadFile(filepath.Join(out, "config.yaml")); err != nil || !strings.Contains(string(b), "base-dtype: BF16\n") {
		t.Errorf("config.yaml does not record base-dtype BF16 (%v):\n%s", err, b)
	}
	msg, err := runCLI(t, "train", "--model", base, "--data", data, "--output", filepath.Join(dir, "full"), "--base-dtype", "bf16", "--no-progress")
	if err == nil || !strings.Contains(msg, "--base-dtype BF16") {
		t.Errorf("full fine-tuning with --base-dtype bf16: err %v, output %q; want a refusal naming the flag", err, msg)
	}
}
