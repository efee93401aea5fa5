package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// writeRandomPairs writes n token-id preference pairs with ids in
// [3, vocab): prompts of promptLen tokens, completions of compMin to
// compMax−1 tokens. The same seed writes the same file.
func writeRandomPairs(t *testing.T, path string, n int, seed uint64, vocab, promptLen, compMin, compMax int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	ids := func(k int) []int {
		out := make([]int, k)
		for i := range out {
			out[i] = 3 + r.IntN(vocab-3)
		}
		return out
	}
	var buf bytes.Buffer
	for range n {
		row := map[string]any{"prompt_ids": ids(promptLen),
			"chosen_ids": ids(compMin + r.IntN(compMax-compMin)), "rejected_ids": ids(compMin + r.IntN(compMax-compMin))}
		if err := json.NewEncoder(&buf).Encode(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readMetricRows reads a run's metrics.jsonl.
func readMetricRows(t *testing.T, run string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s/metrics.jsonl: %v in %q", run, err, line)
		}
		rows = append(rows, m)
	}
	return rows
}

// timingMetrics are the metrics that measure wall-clock time, the only ones
// a resumed run may not reproduce.
var timingMetrics = map[string]bool{"tokens_per_s": true, "step_time_s": true}

// runUntilSaved starts smaug with args and sends it sig as soon as its log
// says checkpoint-<step> was saved. With SIGKILL it fails the test unless
// the kill is what ended the process; with SIGINT, unless the process
// stopped by itself with an error that says how to resume.
func runUntilSaved(t *testing.T, sig syscall.Signal, step string, args ...string) {
	t.Helper()
	cmd := exec.Command(smaugBin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	killed := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !killed && strings.HasPrefix(sc.Text(), "saved ") && strings.HasSuffix(sc.Text(), "checkpoint-"+step) {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if sig == syscall.SIGINT {
		if !killed || !ok || ws.Signaled() || ws.ExitStatus() == 0 || !strings.Contains(log.String(), "continue with: smaug train --resume") {
			t.Fatalf("the run did not stop on SIGINT after checkpoint-%s with a resume hint (wait: %v):\n%s", step, err, log.String())
		}
		return
	}
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the run was not ended by SIGKILL after checkpoint-%s (wait: %v); it was too fast, or failed:\n%s", step, err, log.String())
	}
}

// TestTrainResumeAfterSIGKILL trains 8 steps uninterrupted (run A), then
// the same configuration killed with SIGKILL right after checkpoint-4 and
// resumed with --resume (run B): with only --resume, the settings coming
// from the checkpoint's config.yaml, for full fine-tuning, and with every
// flag repeated for LoRA. B must end bitwise equal to A — final
// weights (or adapter) and every metric of every step except the timings —
// for full fine-tuning and for LoRA with dropout (whose masks depend on the
// restored generator state). The configuration exercises the state a
// checkpoint must carry: AdamW moments with weight decay, a cosine schedule
// after warm-up, gradient accumulation, and a data order that crosses an
// epoch boundary (16 pairs, 4 per step). It also checks that the killed
// run left only complete checkpoint-N folders. The case full-sigint sends
// SIGINT instead: the command cancels the trainer's context, which saves a
// checkpoint and returns, and the resumed run must end the same way.
func TestTrainResumeAfterSIGKILL(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	// Long completions (about 0.1 s a step) leave time to kill the run
	// between checkpoint-4 and the end.
	writeRandomPairs(t, data, 16, 1, 320, 16, 80, 100)
	for _, tc := range []struct {
		name, weights string
		sig           syscall.Signal
		extra         []string
	}{
		{"full", "model.safetensors", syscall.SIGKILL, []string{"--ref-model", filepath.Join(root, "ref")}},
		{"lora", "adapter_model.safetensors", syscall.SIGKILL, []string{"--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0.1", "--lora-targets", "all-linear"}},
		{"full-sigint", "model.safetensors", syscall.SIGINT, []string{"--ref-model", filepath.Join(root, "ref")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := func(out string) []string {
				return append([]string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
					"--loss", "dpop", "--max-steps", "8", "--save-steps", "2", "--batch-size", "2", "--grad-accum", "2",
					"--lr", "1e-3", "--lr-schedule", "cosine", "--warmup-steps", "2", "--weight-decay", "0.1",
					"--seed", "3", "--no-progress"}, tc.extra...)
			}
			runA := filepath.Join(dir, tc.name+"-A")
			if msg, err := runCLI(t, args(runA)...); err != nil {
				t.Fatalf("run A: %v\n%s", err, msg)
			}

			runB := filepath.Join(dir, tc.name+"-B")
			runUntilSaved(t, tc.sig, "4", args(runB)...)
			entries, err := os.ReadDir(runB)
			if err != nil {
				t.Fatal(err)
			}
			var ckpts []string
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "checkpoint-") {
					ckpts = append(ckpts, e.Name())
					if _, err := os.Stat(filepath.Join(runB, e.Name(), "trainer_state.json")); err != nil {
						t.Errorf("killed run left an incomplete %s visible: %v", e.Name(), err)
					}
				}
			}
			t.Logf("killed run B holds %v", ckpts)
			if _, err := os.Stat(filepath.Join(runB, "checkpoint-4")); err != nil {
				t.Fatalf("no checkpoint-4 after the log said it was saved: %v", err)
			}
			if _, err := os.Stat(filepath.Join(runB, tc.weights)); err == nil {
				t.Fatalf("run B wrote its final %s before the kill: nothing left to resume", tc.weights)
			}

			// Full fine-tuning resumes from the checkpoint's own settings; LoRA
			// is given every flag again.
			resume := []string{"train", "--resume", runB}
			if tc.name == "lora" {
				resume = append(args(runB), "--resume", runB)
			}
			if msg, err := runCLI(t, resume...); err != nil {
				t.Fatalf("resumed run B: %v\n%s", err, msg)
			} else if !strings.Contains(msg, "resumed from ") {
				t.Errorf("resumed run does not say where it resumed from:\n%s", msg)
			}

			wa := readAll(t, filepath.Join(runA, tc.weights))
			wb := readAll(t, filepath.Join(runB, tc.weights))
			if len(wa) == 0 || len(wa) != len(wb) {
				t.Fatalf("run A has %d tensors, resumed run B %d", len(wa), len(wb))
			}
			for name, a := range wa {
				b := wb[name]
				if !reflect.DeepEqual(a, b) {
					diff := 0
					for i := range a {
						if i >= len(b) || a[i] != b[i] {
							diff++
						}
					}
					t.Errorf("%s: %d of %d values differ between run A and resumed run B", name, diff, len(a))
				}
			}

			ma, mb := readMetricRows(t, runA), readMetricRows(t, runB)
			if len(ma) != 8 || len(mb) != len(ma) {
				t.Fatalf("metrics rows: run A %d (want 8), resumed run B %d", len(ma), len(mb))
			}
			for i := range ma {
				for k, va := range ma[i] {
					if timingMetrics[k] {
						continue
					}
					if vb, ok := mb[i][k]; !ok || va != vb {
						t.Errorf("step %v: %s = %v in run A, %v in resumed run B", ma[i]["step"], k, va, vb)
					}
				}
				if len(ma[i]) != len(mb[i]) {
					t.Errorf("step %v: %d metrics in run A, %d in run B", ma[i]["step"], len(ma[i]), len(mb[i]))
				}
			}

			if tc.name != "full" {
				return
			}
			// The resumed run's config.yaml describes the run, not its resumption:
			// given back as --config it trains run A again from the start.
			runC := filepath.Join(dir, tc.name+"-C")
			if msg, err := runCLI(t, "train", "--config", filepath.Join(runB, "config.yaml"), "--output", runC); err != nil {
				t.Fatalf("run C from run B's config.yaml: %v\n%s", err, msg)
			}
			if !reflect.DeepEqual(wa, readAll(t, filepath.Join(runC, tc.weights))) {
				t.Errorf("run C, from run B's config.yaml, does not end with run A's weights")
			}
		})
	}
}

// TestTrainResumeRefusesOtherData resumes a run on a different data file:
// the data position in the checkpoint would point into other examples, so
// it must be an error saying so, not a silently different run.
func TestTrainResumeRefusesOtherData(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data, other := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 4, 4, 8)
	writeRandomPairs(t, other, 4, 2, 320, 4, 4, 8)
	run := filepath.Join(dir, "run")
	if msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", run,
		"--batch-size", "2", "--max-steps", "2", "--save-steps", "1", "--no-progress"); err != nil {
		t.Fatalf("smaug train: %v\n%s", err, msg)
	}
	msg, err := runCLI(t, "train", "--resume", filepath.Join(run, "checkpoint-1"), "--data", other)
	if err == nil || !strings.Contains(msg, "the training examples differ from the run's") {
		t.Errorf("resume on other data: want an error saying the data differ, got %v:\n%s", err, msg)
	}
	if msg, err := runCLI(t, "train", "--resume", filepath.Join(run, "checkpoint-1")); err != nil {
		t.Errorf("resume on the same data: %v\n%s", err, msg)
	}
}
