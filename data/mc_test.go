package data

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// mcPairsOf decodes every row of path as task and builds its pairs with k
// shots from pool.
func mcPairsOf(t *testing.T, task Task, path string) (items []MCItem, pairs [][]Pair) {
	t.Helper()
	rows, _, err := ReadAllRows(path, ReadOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		it, err := DecodeMC(task, row, MCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
		pairs = append(pairs, MCPairs(it, "", string(task)))
	}
	return items, pairs
}

func TestARCPartialPairs(t *testing.T) {
	path := sharedtest.Path(t, "data/arc_challenge_partial/ARC-Challenge-Test.jsonl")
	rows, _, err := ReadAllRows(path, ReadOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	items, pairs := mcPairsOf(t, TaskARC, path)
	total := 0
	for i, it := range items {
		q := rows[i].Fields["question"].(map[string]any)
		nChoices := len(q["choices"].([]any))
		if len(pairs[i]) != nChoices-1 {
			t.Fatalf("%s: %d pairs for %d choices", it.ID, len(pairs[i]), nChoices)
		}
		for _, p := range pairs[i] {
			if p.Prompt != "Question: "+q["stem"].(string)+"\nAnswer:" {
				t.Fatalf("%s: prompt %q", it.ID, p.Prompt)
			}
		}
		total += len(pairs[i])
	}
	t.Logf("%d questions, %d pairs", len(items), total)
	if len(items) != 1150 || total != 3*1150 {
		// 1,144 four-choice, 3 three-choice and 3 five-choice questions.
		t.Errorf("%d questions and %d pairs, want 1150 and 1144*3 + 3*2 + 3*4 = 3450", len(items), total)
	}

	dev := sharedtest.Path(t, "data/arc_challenge_partial/ARC-Challenge-Dev.jsonl")
	_, devPairs := mcPairsOf(t, TaskARC, dev)
	// The first dev question, by hand: answer D, three wrong choices.
	want := []Pair{
		{Chosen: " Record the details of the investigation.", Rejected: " Put the objects in groups.", ID: "Mercury_SC_407695/0"},
		{Chosen: " Record the details of the investigation.", Rejected: " Change the height of the ramp.", ID: "Mercury_SC_407695/1"},
		{Chosen: " Record the details of the investigation.", Rejected: " Choose different objects to roll.", ID: "Mercury_SC_407695/2"},
	}
	prompt := "Question: Juan and LaKeisha roll a few objects down a ramp. They want to see which object rolls the farthest. What should they do so they can repeat their investigation?\nAnswer:"
	for i, w := range want {
		g := devPairs[0][i]
		if g.Prompt != prompt || g.Chosen != w.Chosen || g.Rejected != w.Rejected || g.ID != w.ID {
			t.Errorf("dev pair %d = %+v, want prompt %q and %+v", i, g, prompt, w)
		}
	}
}

func TestHellaSwagTextPairs(t *testing.T) {
	path := sharedtest.Path(t, "data/hellaswag_llamacpp_txt/hellaswag_val_full.txt.bz2")
	items, pairs := mcPairsOf(t, TaskHellaSwag, path)
	total := 0
	for i := range items {
		if len(pairs[i]) != 3 {
			t.Fatalf("%s: %d pairs, want 3", items[i].ID, len(pairs[i]))
		}
		total += len(pairs[i])
	}
	if len(items) != 10042 || total != 30126 {
		t.Errorf("%d items and %d pairs, want 10042 and 30126", len(items), total)
	}
	// The first two items by hand: ctx_b ("he", "the lady") capitalised,
	// gold ending 3.
	tests := []struct {
		item             int
		prompt, chosen   string
		firstRejected    string
		firstRejectedIdx string
	}{
		{0, "Roof shingle removal: A man is sitting on a roof. He", " starts pulling up roofing on a roof.", " is using wrap to wrap a pair of skis.", "/0"},
		{1, "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. The lady", " stands and lifts the weight over her head.", " swings and lands in her arms.", "/0"},
	}
	for _, tt := range tests {
		p := pairs[tt.item][0]
		if p.Prompt != tt.prompt || p.Chosen != tt.chosen || p.Rejected != tt.firstRejected || !strings.HasSuffix(p.ID, tt.firstRejectedIdx) {
			t.Errorf("item %d: got %+v", tt.item, p)
		}
	}
	// A WikiHow item keeps harness preprocessing: the "[www.kiddio.org]"
	// that llama.cpp left in is deleted.
	for i, it := range items {
		if strings.Contains(it.Contexts[0], "How to entertain a toddler") {
			want := "Family Life: How to entertain a toddler. Ask the toddler what he or she would like to do instead of doing what you would like to do.. Visit a site like to find loads of creative activities for toddlers and preschoolers.. Choose small, simple games like candy land or chutes and ladders."
			if pairs[i][0].Prompt != want {
				t.Errorf("wikihow prompt %q, want %q", pairs[i][0].Prompt, want)
			}
			break
		}
	}
}

func TestSplitHellaSwagContext(t *testing.T) {
	tests := []struct{ ctx, a, b string }{
		{"A man is sitting on a roof. he", "A man is sitting on a roof.", "he"},
		{"She bends down. the child and a man", "She bends down.", "the child and a man"},
		{"How to do it. Ask first.", "How to do it. Ask first.", ""},
		{"A man waves. He smiles", "A man waves. He smiles", ""},
		{"no sentence end here", "no sentence end here", ""},
	}
	for _, tt := range tests {
		a, b := SplitHellaSwagContext(tt.ctx)
		if a != tt.a || b != tt.b {
			t.Errorf("SplitHellaSwagContext(%q) = %q, %q; want %q, %q", tt.ctx, a, b, tt.a, tt.b)
		}
	}
}

func TestMMLUCSVPairs(t *testing.T) {
	path := sharedtest.Path(t, "data/mmlu_derived/dev/abstract_algebra_dev.csv")
	items, pairs := mcPairsOf(t, TaskMMLU, path)
	if len(items) != 5 {
		t.Fatalf("%d items, want 5", len(items))
	}
	// Row 2 of the CSV by hand: answer 1 (B).
	p := pairs[0]
	wantPrompt := "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:"
	if len(p) != 3 || p[0].Prompt != wantPrompt || p[0].Chosen != " B" || p[0].Rejected != " A" || p[2].Rejected != " D" {
		t.Errorf("pairs %+v", p)
	}
	if items[0].Description != "The following are multiple choice questions (with answers) about abstract algebra." {
		t.Errorf("description %q", items[0].Description)
	}
	// Few-shot: the first dev questions in order, after the description.
	pool := NewFewShotPool(TaskMMLU, items)
	prefix := pool.Prefix(items[4], 2, 0)
	want := items[0].Description + "\n\n" + items[0].Contexts[0] + " B\n\n" + items[1].Contexts[0] + items[1].Targets[items[1].Gold] + "\n\n"
	if prefix != want {
		t.Errorf("prefix %q, want %q", prefix, want)
	}
	if !strings.HasSuffix(items[1].FewShotText(), "Answer: B") {
		t.Errorf("second few-shot text %q does not end in its gold letter B", items[1].FewShotText())
	}
}

func TestWinograndeFoundryPairs(t *testing.T) {
	path := sharedtest.Path(t, "data/llmfoundry_icl/winogrande.jsonl")
	items, pairs := mcPairsOf(t, TaskWinogrande, path)
	if len(items) != 1267 {
		t.Errorf("%d items, want 1267", len(items))
	}
	want := Pair{Prompt: "Sarah was a much better surgeon than Maria so", Chosen: " Maria always got the easier cases.", Rejected: " Sarah always got the easier cases."}
	if g := pairs[0][0]; g.Prompt != want.Prompt || g.Chosen != want.Chosen || g.Rejected != want.Rejected {
		t.Errorf("first pair %+v, want %+v", g, want)
	}
}

func TestMCDecodeLayouts(t *testing.T) {
	hf := func(f map[string]any) Row { return Row{Fields: f, Source: "x.jsonl", Line: 4} }
	tests := []struct {
		name     string
		task     Task
		row      Row
		contexts []string
		targets  []string
		gold     int
	}{
		{"arc hugging face", TaskARC, hf(map[string]any{"id": "q1", "question": "Why?", "answerKey": "2",
			"choices": map[string]any{"text": []any{"a", "b"}, "label": []any{"1", "2"}}}),
			[]string{"Question: Why?\nAnswer:", "Question: Why?\nAnswer:"}, []string{" a", " b"}, 1},
		{"arc llm-foundry", TaskARC, hf(map[string]any{"query": "Question: Why?", "choices": []any{"a", "b"}, "gold": 0.0}),
			[]string{"Question: Why?\nAnswer:", "Question: Why?\nAnswer:"}, []string{" a", " b"}, 0},
		{"hellaswag hugging face", TaskHellaSwag, hf(map[string]any{"activity_label": "Cooking", "ctx_a": "A chef cuts [title] an onion.",
			"ctx_b": "then HE", "endings": []any{"fries it.", "eats [step] it."}, "label": "1"}),
			[]string{"Cooking: A chef cuts. an onion. Then he", "Cooking: A chef cuts. an onion. Then he"}, []string{" fries it.", " eats it."}, 1},
		{"mmlu hugging face", TaskMMLU, hf(map[string]any{"question": "Q?", "subject": "anatomy", "choices": []any{"w", "x", "y", "z"}, "answer": 3.0}),
			[]string{"Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:", "Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:", "Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:", "Q?\nA. w\nB. x\nC. y\nD. z\nAnswer:"},
			[]string{" A", " B", " C", " D"}, 3},
		{"winogrande hugging face", TaskWinogrande, hf(map[string]any{"sentence": "Ann lent Bo a pen because _ had two.", "option1": "Ann", "option2": "Bo", "answer": "1"}),
			[]string{"Ann lent Bo a pen because Ann", "Ann lent Bo a pen because Bo"}, []string{" had two.", " had two."}, 0},
		{"generic mc with letter gold", TaskMC, hf(map[string]any{"query": "Sky is", "choices": []any{"blue", "green"}, "gold": "A"}),
			[]string{"Sky is", "Sky is"}, []string{" blue", " green"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := DecodeMC(tt.task, tt.row, MCOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(it.Contexts, "|") != strings.Join(tt.contexts, "|") || strings.Join(it.Targets, "|") != strings.Join(tt.targets, "|") || it.Gold != tt.gold {
				t.Errorf("got contexts %q targets %q gold %d", it.Contexts, it.Targets, it.Gold)
			}
		})
	}
}

func TestMCBadRows(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arc.jsonl")
	content := `{"id":"ok","question":"Q?","choices":{"text":["a","b"],"label":["A","B"]},"answerKey":"B"}
{"id":"nokey","question":"Q?","choices":{"text":["a","b"],"label":["A","B"]}}
{"id":"badkey","question":"Q?","choices":{"text":["a","b"],"label":["A","B"]},"answerKey":"E"}
{not json
{"id":"badchoices","question":"Q?","choices":["a","b"],"answerKey":"A"}
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rr, err := OpenRows(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	want := []string{
		"",
		path + `:2: field "answerKey": missing`,
		path + `:3: field "answerKey": answer key "E" is not one of the labels ["A" "B"]`,
		path + `:4: not a JSON object: invalid character 'n' looking for beginning of object key string`,
		path + `:5: field "choices": want {text, label}, got a list`,
	}
	for i, w := range want {
		row, err := rr.Next()
		if err == nil {
			_, err = DecodeMC(TaskARC, row, MCOptions{})
		}
		var re *RowError
		if w == "" {
			if err != nil {
				t.Errorf("row %d: %v", i+1, err)
			}
			continue
		}
		if !errors.As(err, &re) || err.Error() != w {
			t.Errorf("row %d: error %v, want %s", i+1, err, w)
		}
	}
	if _, err := rr.Next(); err != io.EOF {
		t.Errorf("after the last row: %v, want EOF", err)
	}
}
