package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

func runEvalCmd(args ...string) (string, error) {
	cmd := newEvalCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// evalModelDir saves a tiny random model over the Llama-2 vocabulary with
// that tokenizer beside it.
func evalModelDir(t *testing.T) string {
	t.Helper()
	src := sharedtest.Path(t, "fixtures/tokenizers/llama2_hf")
	dir := t.TempDir()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 32000, HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 8, MaxPositionEmbeddings: 512,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2}}
	m, err := model.NewRandom(&c, 5, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// smaug eval writes the results JSON, the samples and the table; a second
// run resuming from --cache gives the same JSON; compare reads both and
// draws the chart.
func TestEvalCommand(t *testing.T) {
	mdir := evalModelDir(t)
	out := t.TempDir()
	args := []string{"--model", mdir, "--tasks", "arc_challenge,truthfulqa_mc2", "--limit", "3", "--no-progress",
		"--data", "arc_challenge=" + sharedtest.Path(t, "data/arc_challenge_partial"),
		"--data", "truthfulqa_mc2=" + sharedtest.Path(t, "data/truthfulqa/data"),
		"--cache", filepath.Join(out, "cache.jsonl")}
	first := filepath.Join(out, "a.json")
	stdout, err := runEvalCmd(append(args, "--output", first, "--log-samples", filepath.Join(out, "s.jsonl"))...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "| Model | Average | ARC | HellaSwag | MMLU | TruthfulQA | Winogrande | GSM8K |") {
		t.Errorf("table missing:\n%s", stdout)
	}
	var res struct {
		Results map[string]map[string]any `json:"results"`
		NShot   map[string]int            `json:"n-shot"`
	}
	b, _ := os.ReadFile(first)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Results["arc_challenge"]["acc_norm,none"].(float64); !ok || res.NShot["arc_challenge"] != 25 {
		t.Errorf("results %v n-shot %v", res.Results["arc_challenge"], res.NShot)
	}
	if _, ok := res.Results["truthfulqa_mc2"]["mc2_stderr,none"].(float64); !ok {
		t.Errorf("truthfulqa row %v", res.Results["truthfulqa_mc2"])
	}
	s, _ := os.ReadFile(filepath.Join(out, "s.jsonl"))
	if n := strings.Count(string(s), "\n"); n != 6 || !strings.Contains(string(s), `"loglikelihood"`) {
		t.Errorf("%d sample rows", n)
	}
	cache, _ := os.ReadFile(filepath.Join(out, "cache.jsonl"))
	// 3 ARC documents (4 or 5 choices) and 3 TruthfulQA documents.
	if n := strings.Count(string(cache), "\n"); n < 20 {
		t.Errorf("cache holds %d requests", n)
	}
	second := filepath.Join(out, "b.json")
	if _, err := runEvalCmd(append(args, "--output", second)...); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(second)
	if !bytes.Equal(b, b2) {
		t.Error("the run resumed from the cache gives different results")
	}
	cache2, _ := os.ReadFile(filepath.Join(out, "cache.jsonl"))
	if len(cache2) != len(cache) {
		t.Error("the resumed run recomputed cached requests")
	}

	cmd := newEvalCompareCmd()
	var buf bytes.Buffer
	cmd.SetOut(&buf)
	png := filepath.Join(out, "chart.png")
	cmd.SetArgs([]string{first, second, "--names", "base,dpop", "--plot", png})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[3], "| dpop | ") || !strings.Contains(lines[3], "*") {
		t.Errorf("compare table:\n%s", buf.String())
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Errorf("chart: %v", err)
	}
}

func TestEvalCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "x", "--protocol", "v9", "--data-dir", "."}, "--protocol"},
		{[]string{"--model", "x", "--tasks", "arc_challenge", "--data", "arc_challenge"}, "task=PATH"},
		{[]string{"--model", "x", "--tasks", "gsm8k"}, "no data"},
		{[]string{"--model", "x", "--tasks", "piqa", "--data", "piqa=."}, "unknown task"},
	} {
		if _, err := runEvalCmd(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// smaug eval --tasks leaderboard gives the same results JSON (but for the
// recorded batch size) with --batch-size 1 and 16.
func TestEvalCommandBatchSize(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the six tasks twice")
	}
	mdir := evalModelDir(t)
	out := t.TempDir()
	var docs []map[string]any
	for _, bs := range []string{"1", "16"} {
		p := filepath.Join(out, bs+".json")
		_, err := runEvalCmd("--model", mdir, "--tasks", "leaderboard", "--limit", "2", "--batch-size", bs, "--no-progress",
			"--data", "arc_challenge="+sharedtest.Path(t, "data/arc_challenge_partial"),
			"--data", "hellaswag="+sharedtest.Path(t, "data/hellaswag_llamacpp_txt"),
			"--data", "mmlu="+sharedtest.Path(t, "data/mmlu_derived"),
			"--data", "truthfulqa_mc2="+sharedtest.Path(t, "data/truthfulqa/data"),
			"--data", "winogrande="+sharedtest.Path(t, "data/llmfoundry_icl/winogrande.jsonl"),
			"--data", "gsm8k="+sharedtest.Path(t, "data/gsm8k"), "--output", p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		delete(d["config"].(map[string]any), "batch_size")
		docs = append(docs, d)
	}
	a, _ := json.Marshal(docs[0])
	b, _ := json.Marshal(docs[1])
	if !bytes.Equal(a, b) {
		t.Error("results differ between --batch-size 1 and 16")
	}
	if len(docs[0]["results"].(map[string]any)) != 6+57 {
		t.Errorf("%d result rows, want 6 tasks + 57 subjects", len(docs[0]["results"].(map[string]any)))
	}
}
