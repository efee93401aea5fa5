package reproduce

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

// checkReport checks a finished run's folder: the report files, the plots,
// and finite numbers for the three models (their values are not checked:
// the quick settings are too small for the effect).
func checkReport(t *testing.T, out string, res *Results) {
	t.Helper()
	for _, f := range []string{"report.md", "report.html", "results.json", "chosen_logps.png", "accuracy.png", "heldout_logps.png",
		"dpo/metrics.jsonl", "dpop/metrics.jsonl", "pairs/train.jsonl", "data/test.jsonl", "eval/results.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"| base |", "| DPO |", "| DPOP |", "## Reproduce"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	html, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !strings.Contains(string(html), "data:image/png;base64,") {
		t.Error("report.html has no embedded plot")
	}
	var saved Results
	b, _ := os.ReadFile(filepath.Join(out, "results.json"))
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if len(res.Models) != 3 || len(saved.Models) != 3 {
		t.Fatalf("want results for base, DPO and DPOP, got %d (saved %d)", len(res.Models), len(saved.Models))
	}
	for _, m := range res.Models {
		for name, v := range map[string]float64{"accuracy": m.Accuracy, "chosen": m.ChosenLogp, "rejected": m.RejectedLogp, "after": m.ChosenAfterDiff} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s %s = %v", m.Name, name, v)
			}
		}
		if m.Problems == 0 || m.Pairs == 0 {
			t.Errorf("%s: %d problems, %d pairs evaluated", m.Name, m.Problems, m.Pairs)
		}
		if m.ChosenLogp >= 0 || m.RejectedLogp >= 0 {
			t.Errorf("%s: log-probs must be negative: %v %v", m.Name, m.ChosenLogp, m.RejectedLogp)
		}
	}
}

// TestQuickRun runs `smaug reproduce --quick`'s pipeline, then runs it
// again: every stage is reused and the results are the same.
func TestQuickRun(t *testing.T) {
	out := t.TempDir()
	res, err := Run(context.Background(), Options{Out: out, Quick: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, out, res)
	// --eval-on-start: the curves start at step 0 with the base's values.
	first, _ := os.ReadFile(filepath.Join(out, "dpo", "metrics.jsonl"))
	var row map[string]any
	json.Unmarshal([]byte(strings.SplitN(string(first), "\n", 2)[0]), &row)
	if row["step"] != 0.0 || row["eval_logps/chosen"] == nil {
		t.Errorf("first metrics row is not the step-0 evaluation: %v", row)
	}
	stamp, _ := os.ReadFile(filepath.Join(out, "base", ".stage"))
	var log strings.Builder
	again, err := Run(context.Background(), Options{Out: out, Quick: true, Seed: 1, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "reused"); n != 6 {
		t.Errorf("second run reused %d stages, want all 6:\n%s", n, log.String())
	}
	if stamp2, _ := os.ReadFile(filepath.Join(out, "base", ".stage")); string(stamp) != string(stamp2) {
		t.Error("the base stage was redone")
	}
	for _, name := range []string{"data", "base", "pairs", "dpo", "dpop", "eval"} {
		if again.StageSeconds[name] != res.StageSeconds[name] {
			t.Errorf("stage %s: reused run reports %v s, the run that made it %v s", name, again.StageSeconds[name], res.StageSeconds[name])
		}
	}
	checkQuickWording(t, out, again)
	for i := range res.Models {
		a, b := res.Models[i], again.Models[i]
		if a.Accuracy != b.Accuracy || a.ChosenLogp != b.ChosenLogp || a.RejectedLogp != b.RejectedLogp {
			t.Errorf("%s: results differ on reuse", res.Models[i].Name)
		}
	}
}

// checkQuickWording checks what a --quick report says: never a
// reproduction, every plot under a heading, the table's columns defined,
// axes and results in one key style.
func checkQuickWording(t *testing.T, out string, res *Results) {
	t.Helper()
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	text := string(md)
	if res.Reproduced() || strings.Contains(text, "reproduced in this run") || !strings.Contains(text, "not expected at this size") {
		t.Errorf("a --quick report must say the effect is not expected and claim nothing:\n%s", text[:min(len(text), 600)])
	}
	for _, f := range append(append([]figure{}, lineFigures...), figure{file: "accuracy.png"}, figure{file: "heldout_logps.png"}) {
		i := strings.Index(text, "]("+f.file+")")
		if i < 0 {
			t.Errorf("report.md does not embed %s", f.file)
			continue
		}
		if h := strings.LastIndex(text[:i], "\n### "); h < 0 || strings.Count(text[h:i], "\n\n") < 2 {
			t.Errorf("%s is not under a heading with a sentence", f.file)
		}
	}
	for _, col := range []string{"**accuracy**", "**chosen log-prob**", "**log-prob gap**", "**chosen tokens after the first difference**"} {
		if !strings.Contains(text, col) {
			t.Errorf("report.md does not define the column %s", col)
		}
	}
	for _, path := range []string{"results.json", "eval/results.json"} {
		b, _ := os.ReadFile(filepath.Join(out, path))
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		checkSnake(t, path, raw)
		if raw["vocab_size"] != float64(res.VocabSize) || res.VocabSize == 0 || raw["quick"] != true {
			t.Errorf("%s: vocab_size %v quick %v, want %d true", path, raw["vocab_size"], raw["quick"], res.VocabSize)
		}
		if st := raw["settings"].(map[string]any); st["pref_steps"] != float64(res.Settings.PrefSteps) {
			t.Errorf("%s: settings %v do not hold the run's settings", path, st)
		}
	}
}

// checkSnake fails for any JSON object key that is not snake_case.
func checkSnake(t *testing.T, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.ToLower(k) != k || strings.ContainsAny(k, " -") {
				t.Errorf("%s: key %q is not snake_case", path, k)
			}
			if k != "stage_seconds" {
				checkSnake(t, path, e)
			}
		}
	case []any:
		for _, e := range x {
			checkSnake(t, path, e)
		}
	}
}

// TestUserModelOnGSM8K runs the pipeline on ../shared/data/gsm8k with a
// user-provided model folder: a tiny random Llama with a BPE vocabulary
// trained on GSM8K text (accuracy near zero is expected).
func TestUserModelOnGSM8K(t *testing.T) {
	gsm := sharedtest.Path(t, "data/gsm8k")
	probs, _, err := userProblems(gsm, Settings{TrainProblems: 200, TestProblems: 10}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, q := range probs {
		texts = append(texts, promptText(q.Question)+completionText(q.Answer))
	}
	tj, err := TrainBPE(texts, 700)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "user-model")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), byteTokenizerConfig(), 0o644)
	var v map[string]any
	json.Unmarshal(tj, &v)
	vocab := len(v["model"].(map[string]any)["vocab"].(map[string]any))
	s := Quick()
	s.Hidden, s.Layers, s.Heads, s.Inter = 32, 1, 2, 48
	s.TrainProblems, s.TestProblems, s.EvalProblems, s.EvalPairs, s.MaxNewTokens = 30, 6, 4, 6, 20
	s.PrefSteps, s.PrefBatch, s.EvalEvery = 2, 2, 1
	cfg := s.baseConfig(vocab)
	m, err := model.NewRandom(cfg, 7, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := hf.LoadConfig(dir); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	res, err := Run(context.Background(), Options{Out: out, Model: dir, Data: gsm, Settings: &s})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, out, res)
	if _, err := os.Stat(filepath.Join(out, "base")); err == nil {
		t.Error("a base stage ran although a model was given")
	}
}
