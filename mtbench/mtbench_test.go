package mtbench

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

func TestParseScore(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"Rating: [[7]]", 7},
		{"Rating: [[8.5]]", 8.5},
		{"first [[3]] then [[9]]", 3},
		{"Rating: [6]", 6},
		{"[5] but later [[2]]", 2}, // [[N]] wins over an earlier [N]
		{"Rating: [[10.]]", 10},
		{"no rating", -1},
		{"Rating: [[seven]]", -1},
		{"", -1},
	} {
		if got := ParseScore(tc.in); got != tc.want {
			t.Errorf("ParseScore(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestTemperature(t *testing.T) {
	for cat, want := range map[string]float64{"writing": 0.7, "roleplay": 0.7, "extraction": 0, "math": 0, "coding": 0,
		"reasoning": 0, "stem": 0.1, "humanities": 0.1} {
		if got := Temperature(cat); got != want {
			t.Errorf("%s: %v, want %v", cat, got, want)
		}
	}
}

type benchData struct {
	questions []Question
	refs      map[int]Answer
	prompts   map[string]JudgePrompt
	dir       string
}

func loadBench(t *testing.T) benchData {
	dir := sharedtest.Path(t, "data/mt_bench")
	qs, err := ReadQuestions(filepath.Join(dir, "question.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	refs, err := ReadAnswers(filepath.Join(dir, "reference_answer", "gpt-4.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	prompts, err := ReadJudgePrompts(filepath.Join(dir, "judge_prompts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 80 || len(refs) != 30 || len(prompts) != 8 {
		t.Fatalf("%d questions, %d references, %d prompts; want 80, 30, 8", len(qs), len(refs), len(prompts))
	}
	return benchData{qs, refs, prompts, dir}
}

// TestUserPromptMatchesPython fills the judge templates for a general and a
// math question, both turns, and compares with Python's str.format of the
// same rows (the way FastChat fills them).
func TestUserPromptMatchesPython(t *testing.T) {
	b := loadBench(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	ans, err := ReadAnswers(filepath.Join(b.dir, "model_answer", "vicuna-13b-v1.3.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
d = sys.argv[1]
qs = {q["question_id"]: q for q in map(json.loads, open(d + "/question.jsonl"))}
refs = {a["question_id"]: a for a in map(json.loads, open(d + "/reference_answer/gpt-4.jsonl"))}
ans = {a["question_id"]: a for a in map(json.loads, open(d + "/model_answer/vicuna-13b-v1.3.jsonl"))}
ps = {p["name"]: p for p in map(json.loads, open(d + "/judge_prompts.jsonl"))}
out = {}
for qid, name, turn in [(81, "single-v1", 1), (81, "single-v1-multi-turn", 2), (111, "single-math-v1", 1), (111, "single-math-v1-multi-turn", 2)]:
    q, a, p = qs[qid], ans[qid]["choices"][0]["turns"], ps[name]
    kw = {}
    if "math" in name:
        kw["ref_answer_1"] = refs[qid]["choices"][0]["turns"][0]
        if turn == 2:
            kw["ref_answer_2"] = refs[qid]["choices"][0]["turns"][1]
    if turn == 1:
        s = p["prompt_template"].format(question=q["turns"][0], answer=a[0], **kw)
    else:
        s = p["prompt_template"].format(question_1=q["turns"][0], question_2=q["turns"][1], answer_1=a[0], answer_2=a[1], **kw)
    out["%d/%d" % (qid, turn)] = s
print(json.dumps(out))
`
	out, err := exec.Command("python3", "-c", script, b.dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	qs := map[int]Question{}
	for _, q := range b.questions {
		qs[q.QuestionID] = q
	}
	for _, tc := range []struct {
		qid, turn int
		name      string
	}{{81, 1, "single-v1"}, {81, 2, "single-v1-multi-turn"}, {111, 1, "single-math-v1"}, {111, 2, "single-math-v1-multi-turn"}} {
		var ref *Answer
		if r, ok := b.refs[tc.qid]; ok && strings.Contains(tc.name, "math") {
			ref = &r
		}
		got := UserPrompt(b.prompts[tc.name], qs[tc.qid], ans[tc.qid], ref, tc.turn)
		if w := want[itoa(tc.qid)+"/"+itoa(tc.turn)]; got != w {
			t.Errorf("question %d turn %d: user prompt differs from Python's str.format\n got: %q\nwant: %q", tc.qid, tc.turn, got, w)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// fakeJudge answers judge requests with canned judgments chosen by a hash
// of the user prompt: some malformed (score −1), some with only the
// backup [N] pattern, the rest [[N]]; every fifth prompt first gets 429
// (then 503) before its answer.
type fakeJudge struct {
	mu       sync.Mutex
	attempts map[string]int
	retried  int
	bad      []string
}

func cannedJudgment(user string) (string, float64) {
	h := fnv.New32a()
	h.Write([]byte(user))
	v := h.Sum32()
	switch v % 10 {
	case 0:
		return "The answer is fine but I will not rate it.", -1
	case 1:
		return "Decent. Rating: [6]", 6
	case 2:
		return "Mostly right. Rating: [[7.5]]", 7.5
	}
	n := float64(2 + v%9)
	return "Rating: [[" + itoa(int(n)) + "]]", n
}

func (f *fakeJudge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req ChatRequest
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || r.URL.Path != "/v1/chat/completions" || len(req.Messages) != 2 ||
		req.Messages[0].Role != "system" || req.Messages[1].Role != "user" || req.Temperature != 0 || req.MaxTokens != 2048 ||
		req.Model != "fake-judge" || r.Header.Get("Authorization") != "Bearer judge-key" {
		f.mu.Lock()
		f.bad = append(f.bad, string(body))
		f.mu.Unlock()
		http.Error(w, "bad request", 400)
		return
	}
	user := req.Messages[1].Content
	h := fnv.New32a()
	h.Write([]byte(user))
	f.mu.Lock()
	f.attempts[user]++
	a := f.attempts[user]
	f.mu.Unlock()
	if h.Sum32()%5 == 0 && a <= 2 {
		f.mu.Lock()
		f.retried++
		f.mu.Unlock()
		if a == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error": {"message": "rate limited"}}`, 429)
		} else {
			http.Error(w, `{"error": {"message": "overloaded"}}`, 503)
		}
		return
	}
	text, _ := cannedJudgment(user)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}}}})
}

// TestJudgeEndToEnd judges two published answer files on the real
// questions with a fake judge: the right prompt per category and turn,
// scores parsed (malformed → −1), 429/503 retried, resumable, and the
// summary equal to means computed here from the canned scores.
func TestJudgeEndToEnd(t *testing.T) {
	b := loadBench(t)
	fj := &fakeJudge{attempts: map[string]int{}}
	srv := httptest.NewServer(fj)
	defer srv.Close()
	var sets []ModelAnswers
	for _, m := range []string{"gpt-4", "llama-13b"} {
		a, err := ReadAnswers(filepath.Join(b.dir, "model_answer", m+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, ModelAnswers{Model: m, Answers: a})
	}
	out := filepath.Join(t.TempDir(), "model_judgment", "fake-judge_single.jsonl")
	cfg := JudgeConfig{Client: &Client{BaseURL: srv.URL + "/v1", APIKey: "judge-key", Backoff: time.Millisecond},
		JudgeModel: "fake-judge", Questions: b.questions, References: b.refs, Prompts: b.prompts, Answers: sets, Output: out, Parallel: 4}
	n, err := RunJudge(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 320 || len(fj.bad) > 0 {
		t.Fatalf("%d judgments (want 2 models × 80 × 2 turns = 320); %d malformed requests: %.300q", n, len(fj.bad), fj.bad)
	}
	if fj.retried == 0 {
		t.Errorf("no request was retried")
	}
	rows, err := ReadJudgments(out)
	if err != nil {
		t.Fatal(err)
	}
	cat := map[int]string{}
	for _, q := range b.questions {
		cat[q.QuestionID] = q.Category
	}
	type key struct {
		model string
		turn  int
	}
	sum, cnt := map[key]float64{}, map[key]int{}
	dropped := 0
	for _, j := range rows {
		wantName := "single-v1"
		if NeedsReference(cat[j.QuestionID]) {
			wantName = "single-math-v1"
			if !strings.Contains(j.UserPrompt, "[The Start of Reference Answer]") && !strings.Contains(j.UserPrompt, "<|The Start of Reference Answer|>") {
				t.Errorf("question %d: no reference answer in the judge prompt", j.QuestionID)
			}
		}
		if j.Turn == 2 {
			wantName += "-multi-turn"
		}
		if j.Judge != [2]string{"fake-judge", wantName} {
			t.Errorf("question %d turn %d (%s): judge %v, want %s", j.QuestionID, j.Turn, cat[j.QuestionID], j.Judge, wantName)
		}
		text, score := cannedJudgment(j.UserPrompt)
		if j.Judgment != text || j.Score != score {
			t.Errorf("question %d turn %d: judgment %q score %v, want %q %v", j.QuestionID, j.Turn, j.Judgment, j.Score, text, score)
		}
		if score == -1 {
			dropped++
			continue
		}
		for _, k := range []key{{j.Model, j.Turn}, {j.Model, 0}} {
			sum[k] += score
			cnt[k]++
		}
	}
	if dropped == 0 {
		t.Errorf("no malformed judgment among %d", len(rows))
	}
	s := Summarize(rows, b.questions)
	if len(s.Models) != 2 || s.Repeats != 1 {
		t.Fatalf("summary: %+v", s)
	}
	for _, m := range s.Models {
		for turn, st := range map[int]Stat{1: m.First, 2: m.Second, 0: m.Average} {
			k := key{m.Model, turn}
			if want := sum[k] / float64(cnt[k]); math.Abs(st.Median-want) > 1e-12 || st.N != cnt[k] {
				t.Errorf("%s turn %d: %v over %d, want %v over %d", m.Model, turn, st.Median, st.N, want, cnt[k])
			}
		}
	}

	// Resume: nothing left to judge; then two lost rows are judged again.
	if n, err := RunJudge(context.Background(), cfg); err != nil || n != 0 {
		t.Errorf("rerun: %d judgments, %v; want 0", n, err)
	}
	data, _ := os.ReadFile(out)
	lines := bytes.SplitAfter(bytes.TrimSpace(data), []byte("\n"))
	os.WriteFile(out, bytes.Join(lines[:len(lines)-2], nil), 0o644)
	if n, err := RunJudge(context.Background(), cfg); err != nil || n != 2 {
		t.Errorf("after losing 2 rows: %d judgments, %v; want 2", n, err)
	}

	// Repeats: two more judging passes of every item.
	cfg.Repeats = 3
	if n, err := RunJudge(context.Background(), cfg); err != nil || n != 640 {
		t.Errorf("--repeats 3: %d new judgments, %v; want 640", n, err)
	}
	rows, _ = ReadJudgments(out)
	if s := Summarize(rows, b.questions); s.Repeats != 3 {
		t.Errorf("summary of repeated judging: %d repeats", s.Repeats)
	}
}

// TestJudgeGivesUp: a judge that always answers 500 fails the run after
// the retries, naming the item, and a 400 is not retried.
func TestJudgeGivesUp(t *testing.T) {
	calls := 0
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		http.Error(w, "boom", 500)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, MaxRetries: 3, Backoff: time.Millisecond}
	_, err := c.Chat(context.Background(), ChatRequest{Model: "j"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || calls != 4 {
		t.Errorf("error %v after %d calls; want HTTP 500 after 4", err, calls)
	}
	srv400 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		http.Error(w, "bad", 400)
	}))
	defer srv400.Close()
	calls = 0
	c.BaseURL = srv400.URL
	if _, err := c.Chat(context.Background(), ChatRequest{Model: "j"}); err == nil || calls != 1 {
		t.Errorf("400: error %v after %d calls; want one call", err, calls)
	}
}

// TestSummarizeByHand checks Summarize on a small set computed by hand.
func TestSummarizeByHand(t *testing.T) {
	qs := []Question{{81, "writing", []string{"a", "b"}}, {101, "reasoning", []string{"a", "b"}}, {131, "extraction", []string{"a", "b"}}}
	j := func(model string, qid, turn int, score float64, rep int) Judgment {
		return Judgment{QuestionID: qid, Model: model, Turn: turn, Score: score, Repeat: rep}
	}
	rows := []Judgment{
		j("A", 81, 1, 9, 0), j("A", 81, 2, 6, 0), j("A", 101, 1, 4, 0), j("A", 101, 2, -1, 0), j("A", 131, 1, 7, 0), j("A", 131, 2, 5, 0),
		j("B", 81, 1, 10, 0), j("B", 81, 2, 10, 0),
	}
	s := Summarize(rows, qs)
	// A: first (9+4+7)/3 = 6.667, second (6+5)/2 = 5.5 (the −1 dropped),
	// average (9+6+4+7+5)/5 = 6.2 — not (6.667+5.5)/2; writing 7.5,
	// reasoning 4, extraction 6. B: 10 everywhere, listed first.
	if len(s.Models) != 2 || s.Models[0].Model != "B" || s.Models[1].Model != "A" {
		t.Fatalf("models %+v", s.Models)
	}
	a := s.Models[1]
	for name, c := range map[string]struct{ got, want float64 }{
		"first": {a.First.Median, 20.0 / 3}, "second": {a.Second.Median, 5.5}, "average": {a.Average.Median, 6.2},
		"writing": {a.Categories["writing"].Median, 7.5}, "reasoning": {a.Categories["reasoning"].Median, 4},
		"extraction": {a.Categories["extraction"].Median, 6},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("A %s: %v, want %v", name, c.got, c.want)
		}
	}
	if a.Average.N != 5 || a.Second.N != 2 {
		t.Errorf("A counts: average %d, second %d; want 5, 2", a.Average.N, a.Second.N)
	}
	// Three repeats of one item with scores 5, 7, 6: median 6, range [5, 7].
	rep := Summarize([]Judgment{j("C", 81, 1, 5, 0), j("C", 81, 1, 7, 1), j("C", 81, 1, 6, 2)}, qs)
	if c := rep.Models[0].First; rep.Repeats != 3 || c.Median != 6 || c.Min != 5 || c.Max != 7 {
		t.Errorf("repeats: %+v (%d repeats), want median 6 in [5, 7]", c, rep.Repeats)
	}
	var buf bytes.Buffer
	s.WriteTable(&buf)
	for _, want := range []string{"A      6.67        5.50         6.20", "writing", "7.50"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}
