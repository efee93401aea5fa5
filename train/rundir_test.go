package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// treeState maps every file under dir (relative path) to its content hash,
// mode and modification time: two equal states mean nothing under dir was
// written, removed or added.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%x %v %d", sha256.Sum256(b), info.Mode(), info.ModTime().UnixNano())
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test when dir changed since before.
func sameTree(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	after := treeState(t, dir)
	if !reflect.DeepEqual(before, after) {
		var diff []string
		for k, v := range before {
			if after[k] != v {
				diff = append(diff, k)
			}
		}
		for k := range after {
			if _, ok := before[k]; !ok {
				diff = append(diff, "+"+k)
			}
		}
		slices.Sort(diff)
		t.Errorf("%s: %s changed: %v", what, dir, diff)
	}
}

// smallRun is a preference config for the tiny model: 4 steps of 2 pairs
// at a learning rate that trains visibly.
func smallRun(out string) Config {
	cfg := Defaults(Preference)
	cfg.Output = out
	cfg.Optim.LR, cfg.BatchSize, cfg.MaxSteps = 1e-2, 2, 4
	return cfg
}

// saveTiny writes the tiny model (seed 1) into a new folder and returns it.
func saveTiny(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "base")
	saveRandomModel(t, tinyConfig(32), dir, 1)
	return dir
}

// runFromFolder trains cfg (starting from cfg.Model) to the end and
// returns the error of New or Run.
func runFromFolder(cfg Config, exs []Example, log *bytes.Buffer) error {
	o := Options{Train: exs}
	if log != nil {
		o.Log = log
	}
	tr, err := New(cfg, o)
	if err != nil {
		return err
	}
	defer tr.Close()
	return tr.Run(context.Background())
}

// TestRunFolderRefused builds each folder a run must not write into and
// checks that CheckRunFolder and New refuse it with the right problem, New
// before the reference log-probs are computed, leaving the folder and the
// model untouched.
func TestRunFolderRefused(t *testing.T) {
	exs := randomPairs(4, 1, 32)
	base := saveTiny(t)
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, cfg *Config) // builds the situation in cfg.Output
		problem FolderProblem
		want    string
	}{
		{"another run", func(t *testing.T, cfg *Config) {
			if err := runFromFolder(*cfg, exs, nil); err != nil {
				t.Fatal(err)
			}
		}, HoldsRun, "holds another run (checkpoint-4, model.safetensors, config.yaml, metrics.jsonl, config.json, and 3 more)"},
		{"other files", func(t *testing.T, cfg *Config) {
			mustWrite(t, filepath.Join(cfg.Output, "notes.txt"), "mine")
		}, NotEmpty, "is not empty (notes.txt)"},
		{"a model folder", func(t *testing.T, cfg *Config) {
			saveRandomModel(t, tinyConfig(32), cfg.Output, 2)
		}, IsModel, "is a model folder"},
		{"a model folder even with OverwriteOutput", func(t *testing.T, cfg *Config) {
			saveRandomModel(t, tinyConfig(32), cfg.Output, 2)
			cfg.OverwriteOutput = true
		}, IsModel, "is a model folder"},
		{"output = model", func(t *testing.T, cfg *Config) { cfg.Output = cfg.Model }, InsideInput, "is the Model folder"},
		{"output inside model", func(t *testing.T, cfg *Config) { cfg.Output = filepath.Join(cfg.Model, "run") }, InsideInput, "is inside the Model folder"},
		{"output = ref model", func(t *testing.T, cfg *Config) {
			cfg.RefModel = cfg.Output
			saveRandomModel(t, tinyConfig(32), cfg.Output, 3)
		},
			InsideInput, "is the RefModel folder"},
		{"output = tokenizer folder", func(t *testing.T, cfg *Config) {
			cfg.Tokenizer = filepath.Join(cfg.Output, "tokenizer.json")
			mustWrite(t, cfg.Tokenizer, "{}")
		}, InsideInput, "is the Tokenizer folder"},
		{"overwrite would delete the data", func(t *testing.T, cfg *Config) {
			mustWrite(t, filepath.Join(cfg.Output, "pairs.jsonl"), "{}")
			cfg.Data, cfg.OverwriteOutput = filepath.Join(cfg.Output, "pairs.jsonl"), true
		}, HoldsInput, "holds the Data input"},
		{"output under a file", func(t *testing.T, cfg *Config) {
			mustWrite(t, filepath.Join(filepath.Dir(cfg.Output), "file"), "x")
			cfg.Output = filepath.Join(filepath.Dir(cfg.Output), "file", "run")
		}, Unwritable, "cannot be written"},
		{"read-only folder", func(t *testing.T, cfg *Config) {
			if os.Geteuid() == 0 {
				t.Skip("root writes into a read-only folder: the case needs an ordinary user")
			}
			if err := os.Chmod(cfg.Output, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(cfg.Output, 0o755) })
		}, Unwritable, "cannot be written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallRun(filepath.Join(t.TempDir(), "run"))
			cfg.Model, cfg.SaveSteps = base, 4
			if err := os.MkdirAll(cfg.Output, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, &cfg)
			parent := filepath.Dir(cfg.Output)
			before, model := treeState(t, parent), treeState(t, base)
			var rf *RunFolderError
			if err := CheckRunFolder(cfg); !errors.As(err, &rf) || rf.Problem != tc.problem || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckRunFolder: got %v; want a RunFolderError %d saying %q", err, tc.problem, tc.want)
			}
			var log bytes.Buffer
			err := runFromFolder(cfg, exs, &log)
			if !errors.As(err, &rf) || rf.Problem != tc.problem || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v; want a RunFolderError %d saying %q", err, tc.problem, tc.want)
			}
			if strings.Contains(log.String(), "reference log-probs") {
				t.Errorf("the reference log-probs were computed before the refusal:\n%s", log.String())
			}
			sameTree(t, "refused run", parent, before)
			sameTree(t, "refused run", base, model)
		})
	}
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOverwriteOutput trains twice into one folder with OverwriteOutput:
// the second run starts from an empty folder (the first run's checkpoints
// and metrics are gone; metrics.jsonl holds the second run's 2 steps).
func TestOverwriteOutput(t *testing.T) {
	exs := randomPairs(4, 1, 32)
	cfg := smallRun(filepath.Join(t.TempDir(), "run"))
	cfg.Model, cfg.SaveSteps = saveTiny(t), 1
	if err := runFromFolder(cfg, exs, nil); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(cfg.Output, "notes.txt"), "old")
	cfg.MaxSteps, cfg.SaveSteps, cfg.OverwriteOutput = 2, 0, true
	if err := runFromFolder(cfg, exs, nil); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"checkpoint-1", "checkpoint-4", "notes.txt"} {
		if _, err := os.Stat(filepath.Join(cfg.Output, gone)); err == nil {
			t.Errorf("%s of the first run is still in the folder", gone)
		}
	}
	b, err := os.ReadFile(filepath.Join(cfg.Output, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 2 {
		t.Errorf("metrics.jsonl has %d rows after the second run of 2 steps, want 2", n)
	}
}

// TestFailedStartLeavesNoFolder makes New fail after it created the run
// folder (a token id outside the vocabulary is found once the model is
// loaded): the folder is removed; a folder that existed empty is left
// empty; and a trainer closed before any step removes its folder too.
func TestFailedStartLeavesNoFolder(t *testing.T) {
	bad := randomPairs(4, 1, 32)
	bad[2].Chosen[0] = 40
	base := saveTiny(t)
	for _, existed := range []bool{false, true} {
		cfg := smallRun(filepath.Join(t.TempDir(), "run"))
		cfg.Model = base
		if existed {
			if err := os.Mkdir(cfg.Output, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err := runFromFolder(cfg, bad, nil)
		if err == nil || !strings.Contains(err.Error(), "outside the model's vocabulary") {
			t.Fatalf("New on a bad token id: %v", err)
		}
		entries, statErr := os.ReadDir(cfg.Output)
		switch {
		case !existed && !errors.Is(statErr, fs.ErrNotExist):
			t.Errorf("the failed run left %s behind (%v)", cfg.Output, statErr)
		case existed && (statErr != nil || len(entries) != 0):
			t.Errorf("the failed run left %d entries in the folder it found empty (%v)", len(entries), statErr)
		}
	}
	cfg := smallRun(filepath.Join(t.TempDir(), "run"))
	tr, err := New(cfg, Options{Train: randomPairs(4, 1, 32), Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if _, err := os.Stat(cfg.Output); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a trainer closed before its first step left %s (%v)", cfg.Output, err)
	}
}

// TestRunFolderLock opens two trainers on one folder: the second is refused
// naming this process's pid; after the first is closed (its lock file
// removed) a third one starts. A lock file left by a dead process (a pid
// written, no lock held) is taken over.
func TestRunFolderLock(t *testing.T) {
	exs := randomPairs(4, 1, 32)
	cfg := smallRun(filepath.Join(t.TempDir(), "run"))
	first, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(cfg.Output, LockFile))
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q (%v), want this pid %d", b, err, os.Getpid())
	}
	_, err = New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
	var rf *RunFolderError
	if !errors.As(err, &rf) || rf.Problem != InUse || rf.PID != os.Getpid() || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second trainer on a locked folder: %v; want InUse naming pid %d", err, os.Getpid())
	}
	if _, err := first.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if _, err := os.Stat(filepath.Join(cfg.Output, LockFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close left the lock file (%v)", err)
	}

	stale := smallRun(filepath.Join(t.TempDir(), "run"))
	mustWrite(t, filepath.Join(stale.Output, LockFile), "999999999\n")
	tr, err := New(stale, Options{Train: exs, Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatalf("a lock file without a live holder was not taken over: %v", err)
	}
	tr.Close()
}

// interruptedRun trains cfg from the tiny model in memory (seed 1) and
// cancels it after step 2, leaving checkpoint-2 (Run's cancellation save).
func interruptedRun(t *testing.T, cfg Config, exs []Example) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1), Progress: func(step int, _ map[string]float64) {
		if step == 2 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
}

// resumeRun resumes from resume, with Output unset, starting from the tiny
// model (seed 1) given again, and returns the trained weights and the run
// folder the trainer used.
func resumeRun(t *testing.T, cfg Config, resume string, exs []Example) (map[string][]float32, string) {
	t.Helper()
	cfg.Output, cfg.Resume = "", resume
	tr, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return trainedParams(tr), tr.Cfg.Output
}

// TestResumeContinuesWhereTheCheckpointIs interrupts a run after step 2 of
// 4, then continues it (Resume set, Output empty) as a copy, after a move,
// and by a relative path from another working directory. Each must write
// only into the folder the checkpoint is in, never into the original path
// or the working directory, and end with the weights of the uninterrupted
// run (bitwise).
func TestResumeContinuesWhereTheCheckpointIs(t *testing.T) {
	exs := randomPairs(8, 1, 32)
	root := t.TempDir()
	cfg := smallRun(filepath.Join(root, "whole"))
	want := trainInMemory(t, cfg, exs)

	for _, tc := range []string{"copied", "moved", "relative"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			orig := filepath.Join(dir, "orig")
			c := cfg
			c.Output = orig
			interruptedRun(t, c, exs)
			resumeFrom, expect := "", ""
			switch tc {
			case "copied":
				expect = filepath.Join(dir, "copy")
				if err := os.CopyFS(expect, os.DirFS(orig)); err != nil {
					t.Fatal(err)
				}
				resumeFrom = expect
			case "moved":
				expect = filepath.Join(dir, "moved")
				if err := os.Rename(orig, expect); err != nil {
					t.Fatal(err)
				}
				resumeFrom = filepath.Join(expect, "checkpoint-2")
			case "relative":
				other := filepath.Join(dir, "elsewhere")
				if err := os.Mkdir(other, 0o755); err != nil {
					t.Fatal(err)
				}
				t.Chdir(other)
				resumeFrom, expect = filepath.Join("..", "orig"), filepath.Join("..", "orig")
			}
			before := treeState(t, orig)
			got, used := resumeRun(t, c, resumeFrom, exs)
			if realPath(used) != realPath(expect) {
				t.Errorf("resumed into %s, want %s", used, expect)
			}
			if tc != "relative" {
				sameTree(t, "the original run after resuming a "+tc+" run", orig, before)
			} else if entries, _ := os.ReadDir("."); len(entries) != 0 {
				t.Errorf("resuming by a relative path wrote %d entries into the working directory", len(entries))
			}
			if _, err := os.Stat(filepath.Join(expect, "model.safetensors")); err != nil {
				t.Errorf("the resumed run's final model is not in %s: %v", expect, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("the resumed run's weights differ from the uninterrupted run's")
			}
		})
	}
}

// TestResumeFinishedRunChangesNothing resumes a run that did all its steps
// and saved its model: Finished is true, Run returns nil, and no file of
// the folder is written (content and modification times equal).
func TestResumeFinishedRunChangesNothing(t *testing.T) {
	exs := randomPairs(4, 1, 32)
	cfg := smallRun(filepath.Join(t.TempDir(), "run"))
	cfg.SaveSteps = 2
	trainInMemory(t, cfg, exs)
	before := treeState(t, cfg.Output)
	c := cfg
	c.Output, c.Resume = "", cfg.Output
	tr, err := New(c, Options{Train: exs, Policy: newTiny(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Finished() {
		t.Error("Finished is false on a finished run")
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	sameTree(t, "resuming a finished run", cfg.Output, before)
}

// TestStaleTempsRemoved leaves what a kill during a save leaves (a
// .checkpoint-N.tmp folder, an atomic-write temp file in the folder and in
// a checkpoint) in an interrupted run: resuming removes them, and keeps a
// hidden file smaug does not write.
func TestStaleTempsRemoved(t *testing.T) {
	exs := randomPairs(8, 1, 32)
	cfg := smallRun(filepath.Join(t.TempDir(), "run"))
	interruptedRun(t, cfg, exs)
	stale := []string{".checkpoint-3.tmp/model.safetensors", ".model.safetensors.tmp-123456", "checkpoint-2/.optimizer.safetensors.tmp-42"}
	for _, s := range stale {
		mustWrite(t, filepath.Join(cfg.Output, s), "partial")
	}
	mustWrite(t, filepath.Join(cfg.Output, ".keep"), "user's")
	var log bytes.Buffer
	c := cfg
	c.Output, c.Resume = "", cfg.Output
	tr, err := New(c, Options{Train: exs, Policy: newTiny(t, 1), Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	for _, s := range stale {
		if _, err := os.Stat(filepath.Join(cfg.Output, strings.Split(s, "/")[0])); err == nil && !strings.HasPrefix(s, "checkpoint-2/") {
			t.Errorf("%s is still there", s)
		}
		if _, err := os.Stat(filepath.Join(cfg.Output, s)); err == nil {
			t.Errorf("%s is still there", s)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Output, ".keep")); err != nil {
		t.Errorf("a hidden file smaug does not write was removed: %v", err)
	}
	if !strings.Contains(log.String(), "removed 3 temporary file(s)") {
		t.Errorf("the log does not say the temporary files were removed:\n%s", log.String())
	}
}

// TestSaveTotalLimit saves a checkpoint at each of 5 steps with
// SaveTotalLimit 2: only checkpoint-4 and checkpoint-5 remain.
func TestSaveTotalLimit(t *testing.T) {
	for _, tc := range []struct {
		limit int
		want  []int
	}{{0, []int{1, 2, 3, 4, 5}}, {2, []int{4, 5}}, {1, []int{5}}} {
		cfg := smallRun(filepath.Join(t.TempDir(), "run"))
		cfg.MaxSteps, cfg.SaveSteps, cfg.SaveTotalLimit = 5, 1, tc.limit
		trainInMemory(t, cfg, randomPairs(4, 1, 32))
		if got := checkpointSteps(cfg.Output); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SaveTotalLimit %d: checkpoints %v, want %v", tc.limit, got, tc.want)
		}
	}
}

// TestCheckStep is the divergence check on hand-made values.
func TestCheckStep(t *testing.T) {
	for _, tc := range []struct {
		loss, norm float64
		want       string
	}{
		{0.69, 1.2, ""},
		{math.NaN(), 1, "diverged at step 2: the loss is NaN: lower the learning rate"},
		{math.Inf(1), 1, "diverged at step 2: the loss is +Inf"},
		{0.5, math.Inf(1), "diverged at step 2: the gradient norm is +Inf"},
		{0.5, math.NaN(), "diverged at step 2: the gradient norm is NaN"},
	} {
		d := checkStep(2, tc.loss, tc.norm)
		switch {
		case tc.want == "" && d != nil:
			t.Errorf("checkStep(%v, %v) = %v, want nil", tc.loss, tc.norm, d)
		case tc.want != "" && (d == nil || !strings.HasPrefix(d.Error(), tc.want)):
			t.Errorf("checkStep(%v, %v) = %v, want %q…", tc.loss, tc.norm, d, tc.want)
		}
	}
}

// TestDivergence trains with a learning rate of 1e9 (weights of about 1e9
// after one step: finite, but their forward overflows) and with a NaN put
// into a weight: neither saves weights, the error names the step, and the
// checkpoint saved before stays as it was.
func TestDivergence(t *testing.T) {
	exs := randomPairs(4, 1, 32)
	t.Run("lr 1e9", func(t *testing.T) {
		cfg := smallRun(filepath.Join(t.TempDir(), "run"))
		cfg.Optim.LR, cfg.MaxSteps = 1e9, 1
		tr, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		err = tr.Run(context.Background())
		var d *DivergedError
		if !errors.As(err, &d) || d.Step != 1 || !strings.Contains(err.Error(), "diverged at step 1: the trained weights give a log-prob of") {
			t.Fatalf("Run at lr 1e9: %v; want a DivergedError at step 1", err)
		}
		if _, err := os.Stat(filepath.Join(cfg.Output, "model.safetensors")); err == nil {
			t.Error("the diverged weights were saved")
		}
	})
	t.Run("sft lr 1e9", func(t *testing.T) {
		cfg := Defaults(SFT)
		cfg.Output = filepath.Join(t.TempDir(), "run")
		cfg.Optim.LR, cfg.BatchSize, cfg.MaxSteps, cfg.SaveSteps = 1e9, 2, 1, 1
		sft := randomPairs(4, 1, 32)
		for i := range sft {
			sft[i].Rejected = nil
		}
		tr, err := New(cfg, Options{Train: sft, Policy: newTiny(t, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		err = tr.Run(context.Background())
		var d *DivergedError
		if !errors.As(err, &d) || d.Step != 1 || d.LastCheckpoint != "" {
			t.Fatalf("SFT Run at lr 1e9: %v; want a DivergedError at step 1 with no checkpoint", err)
		}
		if steps := checkpointSteps(cfg.Output); len(steps) != 0 {
			t.Errorf("checkpoints %v saved from diverged weights", steps)
		}
	})
	t.Run("NaN weight", func(t *testing.T) {
		cfg := smallRun(filepath.Join(t.TempDir(), "run"))
		tr, err := New(cfg, Options{Train: exs, Policy: newTiny(t, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, err := tr.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := tr.SaveCheckpoint(); err != nil {
			t.Fatal(err)
		}
		ck := filepath.Join(cfg.Output, "checkpoint-1")
		before := treeState(t, ck)
		p := tr.trainable()[3]
		p.Tensor.Data[0] = float32(math.NaN())
		err = tr.SaveCheckpoint()
		var d *DivergedError
		if !errors.As(err, &d) || d.Step != 1 || d.LastCheckpoint != ck || !strings.Contains(err.Error(), "weight "+p.Name+"[0] is NaN") {
			t.Errorf("SaveCheckpoint with a NaN weight: %v; want a DivergedError naming %s and %s", err, p.Name, ck)
		}
		_, err = tr.Step(context.Background())
		if !errors.As(err, &d) || d.Step != 2 || !strings.Contains(err.Error(), "diverged at step 2: the policy's log-prob of random:") {
			t.Errorf("Step on NaN weights: %v; want a DivergedError at step 2 naming a pair", err)
		}
		if tr.StepsDone() != 1 {
			t.Errorf("the diverged step was counted: %d steps done", tr.StepsDone())
		}
		sameTree(t, "the last finite checkpoint", ck, before)
	})
}
