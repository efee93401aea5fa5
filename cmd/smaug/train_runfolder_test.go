package main

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

// dirState maps every file under dir to its content hash, mode and
// modification time (nil when dir does not exist): equal states mean
// nothing under dir was written, removed or added.
func dirState(t *testing.T, dir string) map[string]string {
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

// unchanged fails the test when dir differs from before, naming the files.
func unchanged(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	after := dirState(t, dir)
	if reflect.DeepEqual(before, after) {
		return
	}
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
	sort.Strings(diff)
	t.Errorf("%s: %s changed: %v", what, dir, diff)
}

// exitCode is the exit status of a finished smaug run (0 for success).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// copyModel copies the fixture's policy folder into a new folder, so that
// a test that could write into "the model" never touches ../shared.
func copyModel(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "model")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(root, "policy"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// fixtureRoot is the tiny Llama fixture folder as an absolute path.
func fixtureRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(sharedtest.Path(t, "fixtures/hf/llama"))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestTrainRunFolderRefusals builds each folder smaug train (or sft) must
// not write into and checks exit status 1, the message (in flags), that
// no work was done (no reference log-probs), and that no file changed
// under the folder's parent or the model.
func TestTrainRunFolderRefusals(t *testing.T) {
	root := fixtureRoot(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 4, 4, 8)
	sftData := filepath.Join(dir, "sft.jsonl")
	if err := os.WriteFile(sftData, []byte(`{"prompt_ids":[5,6,7],"completion_ids":[8,9]}`+"\n"+`{"prompt_ids":[9,8],"completion_ids":[7,6,5]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, model, out string) []string // the command's arguments
		want  []string
	}{
		{"train twice into one folder", func(t *testing.T, model, out string) []string {
			args := []string{"train", "--model", model, "--data", data, "--output", out, "--max-steps", "2", "--save-steps", "1", "--no-progress"}
			if msg, err := runCLI(t, args...); err != nil {
				t.Fatalf("first run: %v\n%s", err, msg)
			}
			return args
		}, []string{"holds another run (checkpoint-1, checkpoint-2, model.safetensors, config.yaml, metrics.jsonl, and 11 more)", "continue it with --resume, choose another --output, or pass --overwrite-output-dir"}},
		{"sft twice into one folder", func(t *testing.T, model, out string) []string {
			args := []string{"sft", "--model", model, "--data", sftData, "--output", out, "--max-steps", "1", "--no-progress"}
			if msg, err := runCLI(t, args...); err != nil {
				t.Fatalf("first run: %v\n%s", err, msg)
			}
			return args
		}, []string{"holds another run (", "--overwrite-output-dir"}},
		{"--output = --model", func(t *testing.T, model, out string) []string {
			return []string{"train", "--model", model, "--data", data, "--output", model, "--max-steps", "1", "--no-progress", "--overwrite-output-dir"}
		}, []string{"is the --model folder: training would replace its files"}},
		{"--output inside --ref-model", func(t *testing.T, model, out string) []string {
			return []string{"train", "--model", model, "--ref-model", filepath.Dir(out), "--data", data, "--output", out, "--max-steps", "1", "--no-progress"}
		}, []string{"is inside the --ref-model folder"}},
		{"a model folder", func(t *testing.T, model, out string) []string {
			if err := os.CopyFS(out, os.DirFS(model)); err != nil {
				t.Fatal(err)
			}
			return []string{"train", "--model", model, "--data", data, "--output", out, "--max-steps", "1", "--no-progress", "--overwrite-output-dir"}
		}, []string{"is a model folder (config.json and weights), not a run"}},
		{"unwritable output", func(t *testing.T, model, out string) []string {
			if err := os.WriteFile(out, []byte("a file"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"train", "--model", model, "--data", data, "--output", filepath.Join(out, "run"), "--max-steps", "1", "--no-progress"}
		}, []string{"cannot be written"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := copyModel(t, root)
			parent := t.TempDir()
			out := filepath.Join(parent, "run")
			args := tc.setup(t, model, out)
			// The parent is the model folder's parent when the output is
			// inside the model: hash both.
			before, modelBefore := dirState(t, parent), dirState(t, model)
			msg, err := runCLI(t, args...)
			if code := exitCode(err); code != 1 {
				t.Errorf("exit status %d, want 1:\n%s", code, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message does not say %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "data: ") || strings.Contains(msg, "reference log-probs") {
				t.Errorf("the data was read before the refusal:\n%s", msg)
			}
			unchanged(t, "refused run", parent, before)
			unchanged(t, "refused run", model, modelBefore)
		})
	}
}

// TestTrainFailedStartLeavesNoFolder trains on a token id outside the
// model's vocabulary of 320, found once the model is loaded (after the
// run folder was created): exit 1 naming the row, and no folder left.
func TestTrainFailedStartLeavesNoFolder(t *testing.T) {
	root := fixtureRoot(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	if err := os.WriteFile(data, []byte(`{"prompt_ids":[5,6],"chosen_ids":[7,400],"rejected_ids":[9]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out, "--no-progress")
	if code := exitCode(err); code != 1 || !strings.Contains(msg, "pairs.jsonl:1: token id 400 is outside the model's vocabulary of 320") {
		t.Errorf("exit %d, want 1 naming the bad id:\n%s", code, msg)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed run left %s behind (%v)", out, err)
	}
}

// TestTrainOverwriteOutputDir trains 3 steps into a folder, then 2 steps
// with --overwrite-output-dir: the folder holds the second run only (2
// metric rows, no checkpoint of the first).
func TestTrainOverwriteOutputDir(t *testing.T) {
	root := fixtureRoot(t)
	fixture := dirState(t, filepath.Join(root, "policy"))
	defer unchanged(t, "the fixture model", filepath.Join(root, "policy"), fixture)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 4, 4, 8)
	out := filepath.Join(dir, "run")
	args := []string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out, "--no-progress"}
	if msg, err := runCLI(t, append(args, "--max-steps", "3", "--save-steps", "1")...); err != nil {
		t.Fatalf("first run: %v\n%s", err, msg)
	}
	msg, err := runCLI(t, append(args, "--max-steps", "2", "--overwrite-output-dir")...)
	if err != nil {
		t.Fatalf("second run with --overwrite-output-dir: %v\n%s", err, msg)
	}
	if !strings.Contains(msg, "emptied "+out) {
		t.Errorf("the log does not say the folder was emptied:\n%s", msg)
	}
	if rows := readMetricRows(t, out); len(rows) != 2 {
		t.Errorf("metrics.jsonl has %d rows, want the second run's 2", len(rows))
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-1")); err == nil {
		t.Error("the first run's checkpoint-1 is still in the folder")
	}
}

// TestTrainConcurrentRuns starts a long run, and once it has saved its
// first checkpoint, a second smaug train into the same folder: the second
// is refused naming the first's pid. The first (60 steps, several seconds
// left) is then
// killed with SIGKILL, leaving its lock file; --resume takes the stale
// lock over and finishes the run.
func TestTrainConcurrentRuns(t *testing.T) {
	root := fixtureRoot(t)
	fixture := dirState(t, filepath.Join(root, "policy"))
	defer unchanged(t, "the fixture model", filepath.Join(root, "policy"), fixture)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 16, 1, 320, 16, 80, 100)
	out := filepath.Join(dir, "run")
	args := []string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
		"--max-steps", "60", "--save-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--no-progress"}
	first := exec.Command(smaugBin, args...)
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "saved ") {
			break
		}
	}
	msg, err := runCLI(t, args...)
	want := fmt.Sprintf("run folder %s is in use by another training process (pid %d)", out, first.Process.Pid)
	if code := exitCode(err); code != 1 || !strings.Contains(msg, want) {
		t.Errorf("second run into a folder in use: exit %d, want 1 saying %q:\n%s", code, want, msg)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	first.Wait()
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the first run ended before the kill, so the refusal was not tested against a live run:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(out, ".smaug.lock")); err != nil {
		t.Fatalf("the killed run left no lock file to take over: %v", err)
	}
	// --max-steps 2 (done already): the resumed run only saves, to keep
	// the test short.
	if msg, err := runCLI(t, "train", "--resume", out, "--max-steps", "2", "--no-progress"); err != nil {
		t.Fatalf("resume after the kill (a stale lock): %v\n%s", err, msg)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Errorf("the resumed run did not finish: %v", err)
	}
}

// TestTrainResumeWhereTheCheckpointIs trains 4 steps with checkpoints,
// then resumes from checkpoint-2 a copy of the run, a moved run, and a run
// given by a relative path from another working directory. Each resume
// must write only into the folder the checkpoint is in (the original, the
// working directory and the recorded output untouched) and end with the
// weights the first run ended with (bitwise: the same 2 steps again).
func TestTrainResumeWhereTheCheckpointIs(t *testing.T) {
	root := fixtureRoot(t)
	fixture := dirState(t, filepath.Join(root, "policy"))
	defer unchanged(t, "the fixture model", filepath.Join(root, "policy"), fixture)
	for _, tc := range []string{"copied", "moved", "relative"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "pairs.jsonl")
			writeRandomPairs(t, data, 8, 1, 320, 4, 4, 8)
			orig := filepath.Join(dir, "orig")
			train := exec.Command(smaugBin, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", "orig",
				"--max-steps", "4", "--save-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--no-progress")
			train.Dir = dir // a relative output, as config.yaml records it
			if msg, err := train.CombinedOutput(); err != nil {
				t.Fatalf("first run: %v\n%s", err, msg)
			}
			want := readAll(t, filepath.Join(orig, "model.safetensors"))
			cwd := filepath.Join(dir, "elsewhere")
			if err := os.Mkdir(cwd, 0o755); err != nil {
				t.Fatal(err)
			}
			resume, expect := "", ""
			switch tc {
			case "copied":
				expect = filepath.Join(dir, "copy")
				if err := os.CopyFS(expect, os.DirFS(orig)); err != nil {
					t.Fatal(err)
				}
				resume = filepath.Join(expect, "checkpoint-2")
			case "moved":
				expect = filepath.Join(dir, "moved")
				if err := os.Rename(orig, expect); err != nil {
					t.Fatal(err)
				}
				resume = filepath.Join(expect, "checkpoint-2")
			case "relative":
				resume, expect = filepath.Join("..", "orig", "checkpoint-2"), orig
			}
			// Weights are rewritten in the folder resumed: remove the final
			// model there to see it come back.
			if err := os.Remove(filepath.Join(expect, "model.safetensors")); err != nil {
				t.Fatal(err)
			}
			origBefore, cwdBefore := dirState(t, orig), dirState(t, cwd)
			cmd := exec.Command(smaugBin, "train", "--resume", resume, "--no-progress")
			cmd.Dir = cwd
			msg, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("resume: %v\n%s", err, msg)
			}
			if tc != "relative" {
				unchanged(t, "the original run", orig, origBefore)
			}
			unchanged(t, "the working directory", cwd, cwdBefore)
			if !reflect.DeepEqual(readAll(t, filepath.Join(expect, "model.safetensors")), want) {
				t.Errorf("the resumed run in %s does not end with the first run's weights", expect)
			}
		})
	}
}

// TestTrainDiverged trains at a learning rate of 1e9 for one step: exit 1,
// the error names the step and says to lower --lr, and no weights are
// saved. With a warm-up, step 1 (learning rate 0) is saved as checkpoint-1
// and step 2 (1e9) diverges: checkpoint-1 stays, named as the last finite
// checkpoint, and no checkpoint-2 or final model is written.
func TestTrainDiverged(t *testing.T) {
	root := fixtureRoot(t)
	fixture := dirState(t, filepath.Join(root, "policy"))
	defer unchanged(t, "the fixture model", filepath.Join(root, "policy"), fixture)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 4, 4, 8)
	base := []string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--batch-size", "2", "--no-progress"}

	out := filepath.Join(dir, "lr1e9")
	msg, err := runCLI(t, append(base, "--output", out, "--lr", "1e9", "--max-steps", "1")...)
	if code := exitCode(err); code != 1 || !strings.Contains(msg, "diverged at step 1: ") || !strings.Contains(msg, "lower the learning rate (--lr") {
		t.Errorf("--lr 1e9 --max-steps 1: exit %d, want 1 with a divergence at step 1:\n%s", code, msg)
	}
	if strings.Contains(msg, "unsupported value") {
		t.Errorf("a JSON error leaked:\n%s", msg)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err == nil {
		t.Error("diverged weights were saved")
	}

	out = filepath.Join(dir, "warmup")
	msg, err = runCLI(t, append(base, "--output", out, "--lr", "1e12", "--warmup-steps", "1000", "--max-steps", "3", "--save-steps", "1")...)
	ck := filepath.Join(out, "checkpoint-1")
	if code := exitCode(err); code != 1 || !strings.Contains(msg, "diverged at step 2: ") || !strings.Contains(msg, ck+" is the last finite checkpoint") {
		t.Errorf("divergence at step 2: exit %d, want 1 naming step 2 and %s:\n%s", code, ck, msg)
	}
	for _, p := range []string{"checkpoint-2", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, p)); err == nil {
			t.Errorf("%s was written from diverged weights", p)
		}
	}
	w := readAll(t, filepath.Join(ck, "model.safetensors"))
	start := readAll(t, filepath.Join(root, "policy", "model.safetensors"))
	if !reflect.DeepEqual(w, start) {
		t.Error("checkpoint-1 (learning rate 0) does not hold the starting weights")
	}
}

// TestTrainFinishedAndStale resumes a finished run (exit 0, "nothing to
// do", not one file written), then leaves in it what a kill during a save
// leaves and resumes from checkpoint-2: the temporary files are removed, a
// hidden file of the user's is kept, and --save-total-limit 1 leaves only
// the newest checkpoint.
func TestTrainFinishedAndStale(t *testing.T) {
	root := fixtureRoot(t)
	fixture := dirState(t, filepath.Join(root, "policy"))
	defer unchanged(t, "the fixture model", filepath.Join(root, "policy"), fixture)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 4, 4, 8)
	out := filepath.Join(dir, "run")
	if msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
		"--max-steps", "4", "--save-steps", "2", "--batch-size", "2", "--no-progress"); err != nil {
		t.Fatalf("run: %v\n%s", err, msg)
	}
	before := dirState(t, out)
	msg, err := runCLI(t, "train", "--resume", out, "--no-progress")
	if err != nil || !strings.Contains(msg, "already holds the finished run (4 of 4 steps") {
		t.Errorf("resume of a finished run: %v, want success saying it is finished:\n%s", err, msg)
	}
	unchanged(t, "a finished run resumed", out, before)

	for _, s := range []string{".checkpoint-3.tmp/model.safetensors", ".model.safetensors.tmp-77", "checkpoint-2/.trainer_state.json.tmp-5"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(out, s)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, s), []byte("cut"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, ".keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err = runCLI(t, "train", "--resume", filepath.Join(out, "checkpoint-2"), "--save-total-limit", "1", "--no-progress")
	if err != nil || !strings.Contains(msg, "removed 3 temporary file(s)") {
		t.Errorf("resume with stale temporary files: %v, want a line saying 3 were removed:\n%s", err, msg)
	}
	var names []string
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".tmp") {
			names = append(names, p)
		}
		return err
	})
	if err != nil || len(names) > 0 {
		t.Errorf("temporary files left: %v (%v)", names, err)
	}
	if _, err := os.Stat(filepath.Join(out, ".keep")); err != nil {
		t.Errorf("the user's hidden file was removed: %v", err)
	}
	entries, _ := filepath.Glob(filepath.Join(out, "checkpoint-*"))
	if len(entries) != 1 || filepath.Base(entries[0]) != "checkpoint-4" {
		t.Errorf("--save-total-limit 1 left %v, want checkpoint-4 only", entries)
	}
}

// TestTrainNaNCheckpoint trains from, and against, a model with one NaN
// weight (as a diverged run would save): each is exit 1 with a message
// naming the weight or the row, never "json: unsupported value: NaN", no
// run folder is left, and the model folder is unchanged.
func TestTrainNaNCheckpoint(t *testing.T) {
	root := fixtureRoot(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 4, 1, 320, 4, 4, 8)
	nan := copyModel(t, root)
	m, err := model.Load(nan)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, p := range m.Params() {
		if strings.HasSuffix(p.Name, "q_proj.weight") {
			p.Tensor.Data[3], name = float32(math.NaN()), p.Name
			break
		}
	}
	if err := m.Save(nan, "F32", 5<<30); err != nil {
		t.Fatal(err)
	}
	m.Close()
	before := dirState(t, nan)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--model", []string{"--model", nan}, "starting model: weight " + name + "[3] is NaN: the checkpoint is not finite"},
		{"--ref-model", []string{"--model", filepath.Join(root, "policy"), "--ref-model", nan}, "pairs.jsonl:1: the reference model gives a log-prob of NaN"},
		{"--model with LoRA", []string{"--model", nan, "--lora-r", "2"}, "pairs.jsonl:1: the reference model gives a log-prob of NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			msg, err := runCLI(t, append([]string{"train", "--data", data, "--output", out, "--max-steps", "1", "--no-progress"}, tc.args...)...)
			if code := exitCode(err); code != 1 || !strings.Contains(msg, tc.want) || strings.Contains(msg, "unsupported value") {
				t.Errorf("exit %d, want 1 saying %q:\n%s", code, tc.want, msg)
			}
			if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the failed run left %s behind (%v)", out, err)
			}
			unchanged(t, "the NaN model", nan, before)
		})
	}
}
