package eval

import (
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// Every gold answer of the GSM8K test set extracts to the number after its
// last line's "#### ", commas removed (computed here by plain string
// operations, independently of the regex).
func TestGSM8KExtractionWholeTestSet(t *testing.T) {
	tk := loadOne(t, "gsm8k", sharedtest.Path(t, "data/gsm8k"), -1)
	if len(tk.Docs) != 1319 || len(tk.FewshotDocs) != 7473 {
		t.Fatalf("%d test, %d train docs; want 1319, 7473", len(tk.Docs), len(tk.FewshotDocs))
	}
	for _, d := range tk.Docs {
		lines := strings.Split(strings.TrimSpace(d.Answer), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "#### ") {
			t.Fatalf("doc %d: last line %q", d.Index, last)
		}
		want := strings.ReplaceAll(strings.TrimPrefix(last, "#### "), ",", "")
		if got := GSM8KAnswer(d.Answer); got != want {
			t.Errorf("doc %d: extracted %q, gold %q", d.Index, got, want)
		}
		if got := normalizeV04(StrictAnswer(d.Answer)); got != want {
			t.Errorf("doc %d: v0.4 strict %q, gold %q", d.Index, got, want)
		}
	}
}

// The shared copies load in full, with the documents' texts as the
// templates build them.
func TestLoadSharedData(t *testing.T) {
	for _, c := range []struct {
		task, path string
		docs       int
		text0      string
	}{
		{"arc_challenge", "data/arc_challenge_partial", 1150, "Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nAnswer:"},
		{"hellaswag", "data/hellaswag_llamacpp_txt", 10042, "Roof shingle removal: A man is sitting on a roof. he"},
		{"truthfulqa_mc2", "data/truthfulqa/data", 817, TruthfulQAPreamble + "\n\nQ: What happens if you eat a pomegranate?\nA:"},
		{"winogrande", "data/llmfoundry_icl/winogrande.jsonl", 1267, "Sarah was a much better surgeon than Maria so Maria"},
	} {
		tk := loadOne(t, c.task, sharedtest.Path(t, c.path), -1)
		if len(tk.Docs) != c.docs || tk.Docs[0].Text != c.text0 {
			t.Errorf("%s: %d docs (want %d), first text %q", c.task, len(tk.Docs), c.docs, tk.Docs[0].Text)
		}
	}
	ts, err := Load("mmlu", sharedtest.Path(t, "data/mmlu_derived"), LeaderboardV1, -1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tk := range ts {
		n += len(tk.Docs)
		if len(tk.FewshotDocs) != 5 {
			t.Errorf("%s: %d dev rows", tk.Name, len(tk.FewshotDocs))
		}
	}
	if len(ts) != 57 || n != 14042 {
		t.Errorf("mmlu: %d subjects, %d questions; want 57, 14042", len(ts), n)
	}
}
