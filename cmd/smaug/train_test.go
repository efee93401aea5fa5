package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// smaugBin is the smaug binary built once for the command-line tests.
var smaugBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smaug-cli-test")
	if err != nil {
		panic(err)
	}
	smaugBin = filepath.Join(dir, "smaug")
	build := exec.Command("go", "build", "-o", smaugBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the smaug binary with args and returns its combined output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(smaugBin, args...).CombinedOutput()
	return string(out), err
}

// writeFixturePairs writes the fixture's three pairs as a token-id JSONL file.
func writeFixturePairs(t *testing.T, root, path string) {
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
	var buf bytes.Buffer
	for _, p := range e.Pairs {
		json.NewEncoder(&buf).Encode(map[string]any{"prompt_ids": p.Prompt, "chosen_ids": p.Chosen, "rejected_ids": p.Rejected})
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every tensor of a model folder or a single safetensors file.
func readAll(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	if filepath.Ext(path) == ".safetensors" {
		f, err := hf.OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, n := range f.Names() {
			ten, _ := f.Tensor(n)
			if out[n], err = ten.Float32(); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	ck, err := hf.OpenCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for _, n := range ck.Names() {
		ten, err := ck.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		if out[n], err = ten.Float32(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestTrainPerLossDefaults checks how the command resolves β and λ into
// the values it gives the library, as config.yaml records them: the
// per-loss defaults of pref.ParseSpec (dpop: β 0.3, λ 50; dpo: β 0.1, λ 0)
// unless --beta or --dpop-lambda is given, for any loss.
func TestTrainPerLossDefaults(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"dpop", nil, []string{"loss: dpop\n", "beta: 0.3\n", "dpop-lambda: 50\n"}},
		{"dpo", []string{"--loss", "dpo"}, []string{"loss: dpo\n", "beta: 0.1\n", "dpop-lambda: 0\n"}},
		{"dpo-lambda", []string{"--loss", "dpo", "--dpop-lambda", "10", "--beta", "0.2"}, []string{"loss: dpo\n", "beta: 0.2\n", "dpop-lambda: 10\n"}},
	} {
		out := filepath.Join(dir, tc.name)
		args := append([]string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", out,
			"--batch-size", "3", "--max-steps", "1", "--no-progress"}, tc.flags...)
		if msg, err := runCLI(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, msg)
		}
		b, err := os.ReadFile(filepath.Join(out, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: config.yaml lacks %q:\n%s", tc.name, w, b)
			}
		}
	}
}
