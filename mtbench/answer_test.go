package mtbench

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/internal/testmodel"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/serve"
)

// TestAnswerThroughServe answers real questions through smaug serve on a
// tiny model: both turns, turn 2 in the same chat after the model's turn-1
// answer (checked against model.Generate on the chat template's rendering
// for greedy categories), FastChat's row format, sorted, and resumable.
func TestAnswerThroughServe(t *testing.T) {
	b := loadBench(t)
	dir := t.TempDir()
	if err := testmodel.Write(dir, 32, 1); err != nil {
		t.Fatal(err)
	}
	m, err := model.LoadFrozen(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := serve.ForModel(m, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ModelID = "tiny"
	s, err := serve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()

	// One short question of each category (the byte-level test tokenizer
	// spends a token per byte), in file order.
	var qs []Question
	seen := map[string]bool{}
	for _, q := range b.questions {
		if !seen[q.Category] && len(q.Turns[0])+len(q.Turns[1]) < 600 {
			seen[q.Category] = true
			qs = append(qs, q)
		}
	}
	if len(qs) < 6 {
		t.Fatalf("only %d short questions", len(qs))
	}
	out := filepath.Join(t.TempDir(), "model_answer", "tiny.jsonl")
	acfg := AnswerConfig{Client: &Client{BaseURL: "http://" + ln.Addr().String() + "/v1"}, Model: "tiny", Questions: qs,
		Output: out, MaxTokens: 12, Parallel: 3}
	n, err := RunAnswers(context.Background(), acfg)
	if err != nil || n != len(qs) {
		t.Fatalf("%d answered, %v; want %d", n, err, len(qs))
	}
	rows, err := readJSONL[Answer](out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(qs) {
		t.Fatalf("%d rows for %d questions", len(rows), len(qs))
	}
	tmpl, opt := cfg.ChatTemplate, cfg.ChatOptions
	opt.AddGenerationPrompt = true
	greedy := func(msgs []chat.Message) string {
		p, err := tmpl.Render(msgs, opt)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := m.Generate(cfg.Tokenizer.Encode(p, false), model.GenerateOptions{MaxNewTokens: 12, StopIDs: cfg.StopIDs})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(cfg.Tokenizer.Decode(ids, true))
	}
	checked := 0
	for i, r := range rows {
		if r.QuestionID != qs[i].QuestionID || r.ModelID != "tiny" || len(r.AnswerID) != 22 || r.Tstamp == 0 ||
			len(r.Choices) != 1 || r.Choices[0].Index != 0 || len(r.Choices[0].Turns) != 2 {
			t.Errorf("row %d: %+v", i, r)
			continue
		}
		if Temperature(qs[i].Category) != 0 {
			continue
		}
		a1, a2 := r.Choices[0].Turns[0], r.Choices[0].Turns[1]
		if want := greedy([]chat.Message{{"role": "user", "content": qs[i].Turns[0]}}); a1 != want {
			t.Errorf("question %d turn 1: %q, want %q", r.QuestionID, a1, want)
		}
		conv := []chat.Message{{"role": "user", "content": qs[i].Turns[0]}, {"role": "assistant", "content": a1}, {"role": "user", "content": qs[i].Turns[1]}}
		if want := greedy(conv); a2 != want {
			t.Errorf("question %d turn 2: %q, want %q", r.QuestionID, a2, want)
		}
		checked++
	}
	if checked < 3 {
		t.Errorf("only %d greedy questions checked", checked)
	}

	// Resume: nothing to do; after losing the file's last row, one question.
	if n, err := RunAnswers(context.Background(), acfg); err != nil || n != 0 {
		t.Errorf("rerun: %d, %v; want 0", n, err)
	}
	data, _ := os.ReadFile(out)
	lines := splitLines(data)
	os.WriteFile(out, []byte(joinLines(lines[:len(lines)-1])), 0o644)
	if n, err := RunAnswers(context.Background(), acfg); err != nil || n != 1 {
		t.Errorf("after losing a row: %d, %v; want 1", n, err)
	}
	if rows, _ := readJSONL[Answer](out); len(rows) != len(qs) || rows[len(rows)-1].QuestionID != qs[len(qs)-1].QuestionID {
		t.Errorf("after resuming: %d rows, not sorted by question", len(rows))
	}
}

func splitLines(b []byte) []string { return strings.Split(strings.TrimSpace(string(b)), "\n") }

func joinLines(l []string) string { return strings.Join(l, "\n") + "\n" }
