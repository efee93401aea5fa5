package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/internal/testmodel"
	"github.com/smaug-dev/smaug/model"
)

var shared struct {
	once sync.Once
	dir  string
}

// testDir writes the test model once per test binary.
func testDir(t testing.TB) string {
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "smaug-serve-test-")
		if err != nil {
			t.Fatal(err)
		}
		if err := testmodel.Write(dir, 64, 2); err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
	})
	return shared.dir
}

func post(t testing.TB, url, key string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// reference renders and greedily generates with model.Generate, the
// independent path: the text the server must return.
func reference(t testing.TB, cfg Config, msgs []chat.Message, prompt string, opt model.GenerateOptions) (ids []int, text string, promptLen int) {
	t.Helper()
	var p []int
	if msgs != nil {
		o := cfg.ChatOptions
		o.AddGenerationPrompt = true
		s, err := cfg.ChatTemplate.Render(msgs, o)
		if err != nil {
			t.Fatal(err)
		}
		p = cfg.Tokenizer.Encode(s, false)
	} else {
		p = cfg.Tokenizer.Encode(prompt, true)
	}
	opt.StopIDs = cfg.StopIDs
	out, err := cfg.Model.Generate(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out, cfg.Tokenizer.Decode(out, true), len(p)
}

type chatResp struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role, Content string
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token       string  `json:"token"`
				Logprob     float32 `json:"logprob"`
				Bytes       []int   `json:"bytes"`
				TopLogprobs []struct {
					Token   string  `json:"token"`
					Logprob float32 `json:"logprob"`
				} `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage usage `json:"usage"`
}

func TestChatMatchesGenerate(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	msgs := []chat.Message{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, dragon!"}}
	ids, want, plen := reference(t, cfg, msgs, "", model.GenerateOptions{MaxNewTokens: 20})
	code, body := post(t, url+"/v1/chat/completions", "", map[string]any{"model": "tiny", "messages": msgs, "max_tokens": 20, "temperature": 0})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var r chatResp
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Object != "chat.completion" || r.Model != "tiny" || len(r.Choices) != 1 || r.Choices[0].Message.Role != "assistant" {
		t.Fatalf("response shape: %s", body)
	}
	if got := r.Choices[0].Message.Content; got != want {
		t.Errorf("content %q, want %q (model.Generate)", got, want)
	}
	wantFinish := "length"
	if len(ids) < 20 {
		wantFinish = "stop"
	}
	if r.Choices[0].FinishReason != wantFinish {
		t.Errorf("finish_reason %q, want %q", r.Choices[0].FinishReason, wantFinish)
	}
	if r.Usage != (usage{plen, len(ids), plen + len(ids)}) {
		t.Errorf("usage %+v, want prompt %d completion %d", r.Usage, plen, len(ids))
	}
}

// sseEvents reads a server-sent event stream into its data payloads.
func sseEvents(t testing.TB, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func streamPost(t testing.TB, url string, body any) []string {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return sseEvents(t, resp.Body)
}

type chunk struct {
	Object  string `json:"object"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

// joinStream concatenates each choice's streamed text and checks the
// stream ends with [DONE].
func joinStream(t testing.TB, events []string) (texts map[int]string, finish map[int]string, u *usage) {
	t.Helper()
	if len(events) == 0 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", events)
	}
	texts, finish = map[int]string{}, map[int]string{}
	for _, e := range events[:len(events)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("chunk %q: %v", e, err)
		}
		if c.Usage != nil {
			u = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				texts[ch.Index] += *ch.Delta.Content
			}
			texts[ch.Index] += ch.Text
			if ch.FinishReason != nil {
				finish[ch.Index] = *ch.FinishReason
			}
		}
	}
	return texts, finish, u
}

// TestContentParts: a content given as text parts renders as their text
// joined by newlines.
func TestContentParts(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	_, want, _ := reference(t, cfg, []chat.Message{{"role": "user", "content": "one\ntwo"}}, "", model.GenerateOptions{MaxNewTokens: 6})
	parts := []any{map[string]any{"type": "text", "text": "one"}, map[string]any{"type": "text", "text": "two"}}
	code, b := post(t, url+"/v1/chat/completions", "", map[string]any{"messages": []any{map[string]any{"role": "user", "content": parts}},
		"max_tokens": 6, "temperature": 0})
	var r chatResp
	if code != 200 || json.Unmarshal(b, &r) != nil || r.Choices[0].Message.Content != want {
		t.Errorf("status %d: %s; want content %q", code, b, want)
	}
}

func TestChatStream(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	msgs := []chat.Message{{"role": "user", "content": "Tell me a story."}}
	ids, want, plen := reference(t, cfg, msgs, "", model.GenerateOptions{MaxNewTokens: 30})
	events := streamPost(t, url+"/v1/chat/completions", map[string]any{"model": "tiny", "messages": msgs, "max_tokens": 30,
		"temperature": 0, "stream": true, "stream_options": map[string]any{"include_usage": true}})
	texts, finish, u := joinStream(t, events)
	if texts[0] != want {
		t.Errorf("streamed %q, want %q", texts[0], want)
	}
	if finish[0] == "" {
		t.Errorf("no finish_reason in the stream")
	}
	if u == nil || *u != (usage{plen, len(ids), plen + len(ids)}) {
		t.Errorf("usage chunk %+v, want prompt %d completion %d", u, plen, len(ids))
	}
	var first chunk
	json.Unmarshal([]byte(events[0]), &first)
	if first.Object != "chat.completion.chunk" || first.Choices[0].Delta.Role != "assistant" {
		t.Errorf("first chunk %s: want the assistant role", events[0])
	}
}

// TestConcurrentStreams: 16 streamed completions at once (different
// prompts, greedy) each get the text model.Generate gives alone.
func TestConcurrentStreams(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := streamPost(t, url+"/v1/completions", map[string]any{"model": "tiny", "prompt": fmt.Sprintf("Prompt number %d:", i*i),
				"max_tokens": 24 + i, "temperature": 0, "stream": true})
			texts, _, _ := joinStream(t, ev)
			got[i] = texts[0]
		}()
	}
	wg.Wait()
	for i := range got {
		_, want, _ := reference(t, cfg, nil, fmt.Sprintf("Prompt number %d:", i*i), model.GenerateOptions{MaxNewTokens: 24 + i})
		if got[i] != want {
			t.Errorf("stream %d: %q, alone %q", i, got[i], want)
		}
	}
}

type complResp struct {
	Choices []struct {
		Text     string `json:"text"`
		Index    int    `json:"index"`
		Logprobs *struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []float32            `json:"token_logprobs"`
			TopLogprobs   []map[string]float32 `json:"top_logprobs"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage usage `json:"usage"`
}

// TestStop: a stop string taken from the greedy text ends the completion
// just before it, streamed or not; the stop string is not returned.
func TestStop(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	_, full, _ := reference(t, cfg, nil, "Once upon a time", model.GenerateOptions{MaxNewTokens: 40})
	r := []rune(full)
	if len(r) < 12 {
		t.Fatalf("greedy text too short to cut: %q", full)
	}
	stop := string(r[8:10])
	want := full[:strings.Index(full, stop)]
	body := map[string]any{"model": "tiny", "prompt": "Once upon a time", "max_tokens": 40, "temperature": 0, "stop": []string{"\x00never", stop}}
	code, b := post(t, url+"/v1/completions", "", body)
	var c complResp
	if code != 200 || json.Unmarshal(b, &c) != nil {
		t.Fatalf("status %d: %s", code, b)
	}
	if c.Choices[0].Text != want || c.Choices[0].FinishReason != "stop" {
		t.Errorf("text %q finish %q, want %q and stop (stop string %q)", c.Choices[0].Text, c.Choices[0].FinishReason, want, stop)
	}
	body["stream"] = true
	texts, finish, _ := joinStream(t, streamPost(t, url+"/v1/completions", body))
	if texts[0] != want || finish[0] != "stop" {
		t.Errorf("streamed %q finish %q, want %q and stop", texts[0], finish[0], want)
	}
}

// TestSeedAndN: n choices with a seed are reproducible; choice i uses
// seed+i, equal to model.Generate with that seed.
func TestSeedAndN(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	body := map[string]any{"model": "tiny", "prompt": "Sample:", "max_tokens": 16, "temperature": 0.8, "top_p": 0.9, "n": 3, "seed": 42}
	var a, b complResp
	for _, r := range []*complResp{&a, &b} {
		code, out := post(t, url+"/v1/completions", "", body)
		if code != 200 || json.Unmarshal(out, r) != nil {
			t.Fatalf("status %d: %s", code, out)
		}
	}
	if len(a.Choices) != 3 {
		t.Fatalf("%d choices, want 3", len(a.Choices))
	}
	for i := range a.Choices {
		_, want, _ := reference(t, cfg, nil, "Sample:", model.GenerateOptions{MaxNewTokens: 16,
			Sampling: model.Sampling{Temperature: 0.8, TopP: 0.9, Seed: uint64(42 + i)}})
		if a.Choices[i].Index != i || a.Choices[i].Text != want || b.Choices[i].Text != want {
			t.Errorf("choice %d: %q and %q, want %q", i, a.Choices[i].Text, b.Choices[i].Text, want)
		}
	}
	if a.Choices[0].Text == a.Choices[1].Text && a.Choices[1].Text == a.Choices[2].Text {
		t.Errorf("three equal samples: %q", a.Choices[0].Text)
	}
	if a.Usage.CompletionTokens != 48 {
		t.Errorf("usage %+v: want 48 completion tokens (3 × 16)", a.Usage)
	}
}

func TestLogprobs(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	msgs := []chat.Message{{"role": "user", "content": "Hi"}}
	code, b := post(t, url+"/v1/chat/completions", "", map[string]any{"messages": msgs, "max_tokens": 8, "temperature": 0, "logprobs": true, "top_logprobs": 3})
	var r chatResp
	if code != 200 || json.Unmarshal(b, &r) != nil || r.Choices[0].Logprobs == nil {
		t.Fatalf("status %d: %s", code, b)
	}
	lp := r.Choices[0].Logprobs.Content
	if len(lp) != r.Usage.CompletionTokens {
		t.Errorf("%d logprob entries for %d tokens", len(lp), r.Usage.CompletionTokens)
	}
	for i, e := range lp {
		if len(e.TopLogprobs) != 3 || e.TopLogprobs[0].Token != e.Token || e.TopLogprobs[0].Logprob != e.Logprob || e.Logprob > 0 {
			t.Errorf("entry %d: greedy token %q (%v) is not the first of its top list %+v", i, e.Token, e.Logprob, e.TopLogprobs)
		}
		if string(intsToBytes(e.Bytes)) != e.Token {
			t.Errorf("entry %d: bytes %v are not the token %q", i, e.Bytes, e.Token)
		}
	}
	code, b = post(t, url+"/v1/completions", "", map[string]any{"prompt": "Hi", "max_tokens": 5, "temperature": 0, "logprobs": 2})
	var c complResp
	if code != 200 || json.Unmarshal(b, &c) != nil || c.Choices[0].Logprobs == nil {
		t.Fatalf("status %d: %s", code, b)
	}
	if l := c.Choices[0].Logprobs; len(l.Tokens) != 5 || len(l.TokenLogprobs) != 5 || len(l.TopLogprobs) != 5 || strings.Join(l.Tokens, "") != c.Choices[0].Text {
		t.Errorf("completion logprobs %+v for text %q", l, c.Choices[0].Text)
	}
}

func intsToBytes(v []int) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func TestErrors(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	cfg.APIKey = "sekret"
	cfg.MaxBodyBytes = 2000
	cfg.MaxPromptTokens = 100
	cfg.MaxCompletionTokens = 64
	url, _ := startServer(t, cfg)
	msgs := []chat.Message{{"role": "user", "content": "Hi"}}
	for _, tc := range []struct {
		name, path, key string
		body            any
		code            int
		param           string
	}{
		{"no key", "/v1/chat/completions", "", map[string]any{"messages": msgs}, 401, ""},
		{"wrong key", "/v1/chat/completions", "nope", map[string]any{"messages": msgs}, 401, ""},
		{"bad json", "/v1/chat/completions", "sekret", "{", 400, ""},
		{"wrong type", "/v1/chat/completions", "sekret", map[string]any{"messages": msgs, "max_tokens": "many"}, 400, "max_tokens"},
		{"unknown model", "/v1/chat/completions", "sekret", map[string]any{"model": "gpt-4", "messages": msgs}, 404, ""},
		{"no messages", "/v1/chat/completions", "sekret", map[string]any{}, 400, "messages"},
		{"role missing", "/v1/chat/completions", "sekret", map[string]any{"messages": []any{map[string]any{"content": "x"}}}, 400, "messages"},
		{"temperature", "/v1/chat/completions", "sekret", map[string]any{"messages": msgs, "temperature": 3}, 400, "temperature"},
		{"top_p", "/v1/completions", "sekret", map[string]any{"prompt": "x", "top_p": 0}, 400, "top_p"},
		{"n", "/v1/completions", "sekret", map[string]any{"prompt": "x", "n": 9}, 400, "n"},
		{"max_tokens", "/v1/completions", "sekret", map[string]any{"prompt": "x", "max_tokens": 65}, 400, "max_tokens"},
		{"stop", "/v1/completions", "sekret", map[string]any{"prompt": "x", "stop": []string{"a", "b", "c", "d", "e"}}, 400, "stop"},
		{"logprobs", "/v1/completions", "sekret", map[string]any{"prompt": "x", "logprobs": 6}, 400, "logprobs"},
		{"top_logprobs", "/v1/chat/completions", "sekret", map[string]any{"messages": msgs, "top_logprobs": 2}, 400, "top_logprobs"},
		{"prompt too long", "/v1/completions", "sekret", map[string]any{"prompt": strings.Repeat("y", 101)}, 400, "messages"},
		{"token outside vocab", "/v1/completions", "sekret", map[string]any{"prompt": []int{1, 999}}, 400, ""},
		{"body too big", "/v1/completions", "sekret", map[string]any{"prompt": strings.Repeat("z", 3000)}, 413, ""},
	} {
		var b []byte
		if s, ok := tc.body.(string); ok {
			b = []byte(s)
		} else {
			b, _ = json.Marshal(tc.body)
		}
		req, _ := http.NewRequest("POST", url+tc.path, bytes.NewReader(b))
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct {
				Message, Type string
				Param         *string
			}
		}
		if resp.StatusCode != tc.code || json.Unmarshal(out, &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
			t.Errorf("%s: status %d, body %s; want %d with an OpenAI error", tc.name, resp.StatusCode, out, tc.code)
			continue
		}
		if tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param) {
			t.Errorf("%s: param %v, want %q", tc.name, e.Error.Param, tc.param)
		}
	}
	// /health and the page need no key; /v1/models does.
	for path, want := range map[string]int{"/health": 200, "/": 200, "/v1/models": 401, "/metrics": 401} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a key: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestModelsAndMetrics(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var ml modelList
	json.NewDecoder(resp.Body).Decode(&ml)
	resp.Body.Close()
	if ml.Object != "list" || len(ml.Data) != 1 || ml.Data[0].ID != "tiny" || ml.Data[0].Object != "model" {
		t.Errorf("/v1/models: %+v", ml)
	}
	for i := 0; i < 3; i++ {
		if code, b := post(t, url+"/v1/completions", "", map[string]any{"prompt": "abc", "max_tokens": 4}); code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
	}
	post(t, url+"/v1/completions", "", map[string]any{"prompt": "abc", "n": 0})
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`smaug_requests_total{endpoint="completions",code="200"} 3`,
		`smaug_requests_total{endpoint="completions",code="400"} 1`,
		`smaug_requests_total{endpoint="models",code="200"} 1`,
		"smaug_generation_tokens_total 12",
		"smaug_prompt_tokens_total 9",
		"smaug_requests_waiting 0",
		"smaug_time_to_first_token_seconds_count 3",
		`smaug_time_to_first_token_seconds_bucket{le="+Inf"} 3`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
}

// TestQueueFull: with the engine not yet running and room for one waiting
// request, a second request gets 429; once the first client leaves and the
// engine runs, nothing is left waiting.
func TestQueueFull(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	cfg.MaxConcurrency, cfg.MaxQueue = 1, 1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan int)
	go func() {
		req := httptest.NewRequestWithContext(ctx, "POST", "/v1/completions", strings.NewReader(`{"prompt": "abc", "max_tokens": 4}`))
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		first <- w.Code
	}()
	waitFor(t, func() bool { return s.eng.Stats().Waiting == 1 })
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("POST", "/v1/completions", strings.NewReader(`{"prompt": "abc", "max_tokens": 4}`)))
	if w.Code != 429 || !strings.Contains(w.Body.String(), "rate_limit_error") {
		t.Errorf("second request: %d %s, want 429", w.Code, w.Body)
	}
	cancel()
	startServerWith(t, s)
	<-first
	waitFor(t, func() bool { st := s.eng.Stats(); return st.Running == 0 && st.Waiting == 0 })
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdown: after the context ends, a request in flight still gets its
// whole answer, new requests get 503, and Run returns nil.
func TestShutdown(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	cfg.StopIDs = nil // the request runs its whole max_tokens
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, stop := startServerWith(t, s)
	b, _ := json.Marshal(map[string]any{"prompt": "abc", "max_tokens": 500, "temperature": 0, "stream": true,
		"stream_options": map[string]any{"include_usage": true}})
	resp, err := http.Post(url+"/v1/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if _, err := rd.ReadString('\n'); err != nil { // the stream has started
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	waitFor(t, s.isDraining)
	code, out := post(t, url+"/v1/completions", "", map[string]any{"prompt": "abc", "max_tokens": 4})
	if code != 503 {
		t.Errorf("request during shutdown: %d %s, want 503", code, out)
	}
	hr, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != 503 {
		t.Errorf("/health during shutdown: %d, want 503", hr.StatusCode)
	}
	_, finish, u := joinStream(t, sseEvents(t, rd))
	if finish[0] != "length" || u == nil || u.CompletionTokens != 500 {
		t.Errorf("the request in flight did not finish: finish_reason %q, usage %+v", finish[0], u)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestDisconnectsFreeSlots: 200 streamed requests whose clients leave after
// the first chunk leave no sequence, goroutine or heap growth behind. The
// heap is compared between two such rounds of 200, after a first round
// that warms up pools, arenas and connections: memory kept per request
// would grow it.
func TestDisconnectsFreeSlots(t *testing.T) {
	cfg := testConfig(t, testDir(t))
	cfg.MaxConcurrency = 8
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startServerWith(t, s)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	abort := func(i int) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b, _ := json.Marshal(map[string]any{"prompt": fmt.Sprint("x", i), "max_tokens": 500, "stream": true})
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/completions", bytes.NewReader(b))
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		bufio.NewReader(resp.Body).ReadString('\n')
		cancel()
		resp.Body.Close()
	}
	idle := func() bool { st := s.eng.Stats(); return st.Running == 0 && st.Waiting == 0 }
	burst := func(workers, each int) {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					abort(w*each + i)
				}
			}()
		}
		wg.Wait()
		waitFor(t, idle)
	}
	burst(10, 20) // warm up pools, arenas and connections
	var m0, m1 runtime.MemStats
	// Two collections empty the sync.Pools (scratch buffers kept between
	// uses), so what remains is memory something still references.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	burst(10, 20)
	waitFor(t, func() bool { return runtime.NumGoroutine() <= g0 })
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if grow := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grow > 4<<20 {
		t.Errorf("heap grew by %d bytes over 200 aborted requests", grow)
	}
	if st := s.eng.Stats(); st.GeneratedTokens > 200*100 {
		t.Errorf("%d tokens generated for 200 requests abandoned after their first chunk", st.GeneratedTokens)
	}
}
