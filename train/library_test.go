package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/pref"
)

// randomPairs returns n preference pairs of token ids in [3, vocab) with
// 3-token prompts and 2- to 5-token completions; the same seed gives the
// same pairs.
func randomPairs(n int, seed uint64, vocab int) []Example {
	return randomPairsLen(n, seed, vocab, 3, 2, 6)
}

// randomPairsLen returns n preference pairs of token ids in [3, vocab) with
// prompts of promptLen tokens and completions of compMin to compMax−1
// tokens; the same seed gives the same pairs.
func randomPairsLen(n int, seed uint64, vocab, promptLen, compMin, compMax int) []Example {
	r := rand.New(rand.NewPCG(seed, 11))
	ids := func(k int) []int {
		out := make([]int, k)
		for i := range out {
			out[i] = 3 + r.IntN(vocab-3)
		}
		return out
	}
	exs := make([]Example, n)
	for i := range exs {
		exs[i] = Example{Prompt: ids(promptLen), Chosen: ids(compMin + r.IntN(compMax-compMin)), Rejected: ids(compMin + r.IntN(compMax-compMin)), Source: "random", Line: i + 1}
	}
	return exs
}

// newTiny returns a fresh random tinyConfig(32) model.
func newTiny(t *testing.T, seed uint64) *model.Model {
	t.Helper()
	m, err := model.NewRandom(tinyConfig(32), seed, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// trainInMemory trains a fresh random model (seed 1) on exs with cfg and
// returns its trainable parameters after training, by name.
func trainInMemory(t *testing.T, cfg Config, exs []Example) map[string][]float32 {
	t.Helper()
	tr, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return trainedParams(tr)
}

func trainedParams(tr *Trainer) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range tr.trainable() {
		out[p.Name] = append([]float32(nil), p.Tensor.Data...)
	}
	return out
}

// TestLambdaIsAValue is the case of issue 10: a Go caller who sets loss dpo
// with DPOPLambda 10 trains with λ = 10 — bitwise the same weights as loss
// dpop with λ 10 (the package pref documents that dpo with λ > 0 is dpop),
// and not those of plain DPO (λ 0) — and config.yaml records λ 10.
func TestLambdaIsAValue(t *testing.T) {
	exs := randomPairs(8, 1, 32)
	run := func(loss string, lambda float64) (map[string][]float32, string) {
		cfg := Defaults(Preference)
		cfg.Output = t.TempDir()
		cfg.Loss = pref.Spec{Losses: []string{loss}, Beta: 0.3, DPOPLambda: lambda}
		cfg.Optim.LR, cfg.BatchSize, cfg.MaxSteps = 1e-2, 4, 3
		w := trainInMemory(t, cfg, exs)
		b, err := os.ReadFile(filepath.Join(cfg.Output, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return w, string(b)
	}
	dpo10, yaml := run("dpo", 10)
	dpop10, _ := run("dpop", 10)
	dpo0, _ := run("dpo", 0)
	if !reflect.DeepEqual(dpo10, dpop10) {
		t.Error("dpo with DPOPLambda 10 trained other weights than dpop with λ 10: λ was not applied")
	}
	if reflect.DeepEqual(dpo10, dpo0) {
		t.Error("dpo with DPOPLambda 10 trained the same weights as λ 0")
	}
	if !strings.Contains(yaml, "dpop-lambda: 10\n") || !strings.Contains(yaml, "loss: dpo\n") {
		t.Errorf("config.yaml does not record loss dpo with λ 10:\n%s", yaml)
	}
}

// TestValidateLeavesConfigAlone checks that Validate names fields, not
// flags, and does not change its receiver.
func TestValidateLeavesConfigAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"batch", func(c *Config) { c.BatchSize = 0 }, "BatchSize must be ≥ 1"},
		{"beta", func(c *Config) { c.Loss.Beta = -1 }, "Beta = -1"},
		{"output", func(c *Config) { c.Output = "" }, "Output (the run folder) is required"},
		{"lora alpha", func(c *Config) { c.LoRA.R, c.LoRA.Alpha = 4, 0 }, "LoRA.Alpha must be > 0"},
		{"prompt length", func(c *Config) { c.MaxPromptLength = c.MaxLength }, "MaxPromptLength must be in [1, MaxLength)"},
		{"bf16 without frozen weights", func(c *Config) { c.BaseDType = 1 }, "BaseDType BF16"},
		{"half compute", func(c *Config) { c.ComputeDType = 2 }, "ComputeDType F16"},
		{"init config in pref", func(c *Config) { c.InitConfig = "x.json" }, "InitConfig is for SFT only"},
		{"token budget without padding-free", func(c *Config) { c.MaxTokensPerBatch = 100 }, "set PaddingFree too"},
		{"negative token budget", func(c *Config) { c.PaddingFree, c.MaxTokensPerBatch = true, -1 }, "MaxTokensPerBatch must be ≥ 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults(Preference)
			c.Output = "run"
			tc.edit(&c)
			before := c
			before.Loss.Losses = append([]string(nil), c.Loss.Losses...)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("Validate names a flag: %v", err)
			}
			if !reflect.DeepEqual(c, before) {
				t.Errorf("Validate changed its receiver: %+v → %+v", before, c)
			}
		})
	}
	c := Defaults(SFT)
	c.Output = "run"
	if err := c.Validate(); err != nil {
		t.Errorf("the SFT defaults with an Output: %v", err)
	}
}

// TestCancelAndResume cancels Run after step 3 of 8 (through its context),
// resumes from the run folder, and checks that the result is bitwise the
// same as an uninterrupted run: trained weights (or adapter) and every
// metric of every step but the timings. Full fine-tuning and LoRA with
// dropout, whose masks depend on the restored generator state, and
// PaddingFree batches of 2 or 3 pairs by a 20-position budget, recut after
// the resume; all start from an in-memory model and cross an epoch boundary with gradient
// accumulation, weight decay and a cosine schedule after warm-up.
func TestCancelAndResume(t *testing.T) {
	exs := randomPairs(12, 2, 32)
	for _, v := range []struct {
		name string
		edit func(*Config)
	}{
		{"full", func(*Config) {}},
		{"lora", func(c *Config) { c.LoRA.R, c.LoRA.Alpha, c.LoRA.Dropout = 4, 8, 0.2 }},
		// Batches of about two pairs by a token budget, across epochs.
		{"padding-free", func(c *Config) { c.PaddingFree, c.MaxTokensPerBatch = true, 20 }},
	} {
		t.Run(v.name, func(t *testing.T) {
			cfg := Defaults(Preference)
			cfg.Optim.LR, cfg.Optim.Schedule, cfg.Optim.WarmupSteps, cfg.Optim.WeightDecay = 1e-2, "cosine", 2, 0.01
			cfg.BatchSize, cfg.GradAccum, cfg.MaxSteps, cfg.Seed = 2, 2, 8, 4
			v.edit(&cfg)
			a := cfg
			a.Output = t.TempDir()
			want := trainInMemory(t, a, exs)

			b := cfg
			b.Output = t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tr, err := New(b, Options{Train: exs, Policy: newTiny(t, 1), Progress: func(step int, _ map[string]float64) {
				if step == 3 {
					cancel()
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Run(ctx)
			tr.Close()
			if !errors.Is(err, context.Canceled) || tr.StepsDone() != 3 {
				t.Fatalf("cancelled run: %v after %d steps, want context.Canceled after 3", err, tr.StepsDone())
			}
			if _, err := os.Stat(filepath.Join(b.Output, "checkpoint-3", "trainer_state.json")); err != nil {
				t.Fatalf("no checkpoint-3 after the cancel: %v", err)
			}
			b.Resume = b.Output
			tr, err = New(b, Options{Train: exs, Policy: newTiny(t, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if tr.StepsDone() != 3 {
				t.Fatalf("resumed at step %d, want 3", tr.StepsDone())
			}
			if err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := trainedParams(tr); !reflect.DeepEqual(got, want) {
				t.Error("cancelled and resumed run ended with other weights than the uninterrupted run")
			}
			ra, rb := metricRows(t, a.Output), metricRows(t, b.Output)
			if len(ra) != 8 || len(rb) != len(ra) {
				t.Fatalf("metrics rows: uninterrupted %d, resumed %d, want 8", len(ra), len(rb))
			}
			for i := range ra {
				for _, k := range []string{"tokens_per_s", "step_time_s"} {
					delete(ra[i], k)
					delete(rb[i], k)
				}
				if !reflect.DeepEqual(ra[i], rb[i]) {
					t.Errorf("step %d metrics differ:\nuninterrupted %v\nresumed       %v", i+1, ra[i], rb[i])
				}
			}
		})
	}
}

// TestStepDrivesOwnLoop checks that callers driving their own loop with
// Step get Run's training: the same weights after TotalSteps steps, and
// that Step refuses a cancelled context without moving.
func TestStepDrivesOwnLoop(t *testing.T) {
	exs := randomPairs(6, 3, 32)
	cfg := Defaults(Preference)
	cfg.Optim.LR, cfg.BatchSize, cfg.MaxSteps = 1e-2, 3, 4
	cfg.Output = t.TempDir()
	want := trainInMemory(t, cfg, exs)
	cfg.Output = t.TempDir()
	tr, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Step(cancelled); !errors.Is(err, context.Canceled) || tr.StepsDone() != 0 {
		t.Fatalf("Step with a cancelled context: %v, %d steps done", err, tr.StepsDone())
	}
	for tr.StepsDone() < tr.TotalSteps() {
		m, err := tr.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if m["step"] != float64(tr.StepsDone()) || m["loss"] <= 0 {
			t.Errorf("step %d metrics %v", tr.StepsDone(), m)
		}
	}
	if !reflect.DeepEqual(trainedParams(tr), want) {
		t.Error("Step loop and Run trained different weights")
	}
}

// TestPairItems checks the one layout of chosen/rejected batches.
func TestPairItems(t *testing.T) {
	exs := []Example{
		{Prompt: []int{1}, Chosen: []int{2}, Rejected: []int{3}},
		{Prompt: []int{4}, Chosen: []int{5}},
		{Prompt: []int{6}, Chosen: []int{7}, Rejected: []int{8, 9}},
	}
	items, rej := PairItems(exs)
	var got [][2][]int
	for _, it := range items {
		got = append(got, [2][]int{it.Prompt, it.Completion})
	}
	want := [][2][]int{{{1}, {2}}, {{4}, {5}}, {{6}, {7}}, {{1}, {3}}, {{6}, {8, 9}}}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(rej, []int{3, -1, 4}) {
		t.Errorf("PairItems: items %v rejected rows %v; want %v and [3 -1 4]", got, rej, want)
	}
}
