package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
)

func testModel(t testing.TB, hidden, layers, vocab int) *model.Model {
	t.Helper()
	c := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: vocab, HiddenSize: hidden, IntermediateSize: hidden * 2, NumHiddenLayers: layers,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: hidden / 4, MaxPositionEmbeddings: 256,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	m, err := model.NewRandom(c, 3, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func start(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func collect(t testing.TB, s *Stream) ([]int, string) {
	var ids []int
	finish := ""
	for tok := range s.Tokens {
		ids = append(ids, tok.ID)
		finish = tok.Finish
	}
	return ids, finish
}

// prompt returns a prompt of 3 to 7 ids below 29 (every test vocabulary).
func prompt(i int) []int {
	p := make([]int, 3+i%5)
	for j := range p {
		p[j] = (7*i + 3*j + 1) % 29
	}
	return p
}

// TestConcurrentEqualsAlone: 16 requests submitted together (prompts of
// different lengths, greedy and seeded sampling, different lengths to
// generate, so sequences join and leave the batch at different steps) each
// get exactly the tokens model.Generate gives for them alone — with whole
// prompts in one step, and with prompts read in chunks of a 3-token step
// budget while the others decode.
func TestConcurrentEqualsAlone(t *testing.T) {
	for _, maxStep := range []int{0, 3} {
		t.Run(fmt.Sprintf("MaxStepTokens=%d", maxStep), func(t *testing.T) { concurrentEqualsAlone(t, maxStep) })
	}
}

func concurrentEqualsAlone(t *testing.T, maxStep int) {
	m := testModel(t, 64, 2, 61)
	e := start(t, Config{Model: m, MaxConcurrency: 16, MaxStepTokens: maxStep})
	reqs := make([]Request, 16)
	for i := range reqs {
		reqs[i] = Request{Prompt: prompt(i), MaxNewTokens: 10 + i, StopIDs: []int{60}}
		if i%2 == 1 {
			reqs[i].Sampling = model.Sampling{Temperature: 0.9, TopP: 0.95, TopK: 40, Seed: uint64(i)}
		}
	}
	got := make([][]int, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		s, err := e.Submit(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = collect(t, s) }()
	}
	wg.Wait()
	for i, r := range reqs {
		want, err := m.Generate(r.Prompt, model.GenerateOptions{MaxNewTokens: r.MaxNewTokens, Sampling: r.Sampling, StopIDs: r.StopIDs})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got[i], want) {
			t.Errorf("request %d: batched %v, alone %v", i, got[i], want)
		}
	}
	st := e.Stats()
	if st.Running != 0 || st.Waiting != 0 {
		t.Errorf("after all finished: %+v", st)
	}
	if maxStep == 0 && st.Steps >= st.GeneratedTokens/4 {
		t.Errorf("%d steps for %d tokens: the requests were not batched", st.Steps, st.GeneratedTokens)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLogprobs checks the reported log-probabilities against a log-softmax
// computed here in float64 from model.Forward's logits (tolerance 1e-4),
// and the top list's order.
func TestLogprobs(t *testing.T) {
	m := testModel(t, 32, 1, 29)
	e := start(t, Config{Model: m})
	p := []int{1, 2, 3}
	s, err := e.Submit(context.Background(), Request{Prompt: p, MaxNewTokens: 3, TopLogprobs: 5})
	if err != nil {
		t.Fatal(err)
	}
	cache := m.NewKVCache()
	feed := p
	n := 0
	for tok := range s.Tokens {
		logits, err := m.Forward(cache, feed)
		if err != nil {
			t.Fatal(err)
		}
		var z float64
		for _, v := range logits {
			z += math.Exp(float64(v))
		}
		want := float64(logits[tok.ID]) - math.Log(z)
		if math.Abs(float64(tok.Logprob)-want) > 1e-4 {
			t.Errorf("token %d: logprob %v, want %v", n, tok.Logprob, want)
		}
		if len(tok.Top) != 5 || tok.Top[0].ID != tok.ID || tok.Top[0].Logprob != tok.Logprob {
			t.Errorf("token %d: top %v does not start with the greedy choice %v", n, tok.Top, tok.TokenLogprob)
		}
		for i := 1; i < len(tok.Top); i++ {
			if tok.Top[i].Logprob > tok.Top[i-1].Logprob {
				t.Errorf("token %d: top list out of order: %v", n, tok.Top)
			}
		}
		feed = []int{tok.ID}
		n++
	}
	if n != 3 {
		t.Errorf("got %d tokens, want 3", n)
	}
}

// TestFinish: "length" at MaxNewTokens and at the context length, "stop"
// on a stop id.
func TestFinish(t *testing.T) {
	m := testModel(t, 32, 1, 29)
	e := start(t, Config{Model: m})
	greedy, err := m.Generate([]int{4, 5}, model.GenerateOptions{MaxNewTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	long := make([]int, 250)
	for _, tc := range []struct {
		name   string
		req    Request
		n      int
		finish string
	}{
		{"max tokens", Request{Prompt: []int{4, 5}, MaxNewTokens: 4}, 4, "length"},
		{"stop id", Request{Prompt: []int{4, 5}, MaxNewTokens: 9, StopIDs: []int{greedy[1]}}, 2, "stop"},
		{"context", Request{Prompt: long, MaxNewTokens: 100}, 7, "length"}, // 256 positions: 250 + 6 fed, the 7th not fed
	} {
		s, err := e.Submit(context.Background(), tc.req)
		if err != nil {
			t.Fatal(err)
		}
		ids, finish := collect(t, s)
		if len(ids) != tc.n || finish != tc.finish || s.Err() != nil {
			t.Errorf("%s: %d tokens, finish %q, err %v; want %d, %q", tc.name, len(ids), finish, s.Err(), tc.n, tc.finish)
		}
	}
}

func TestSubmitErrors(t *testing.T) {
	m := testModel(t, 32, 1, 29)
	e, err := New(Config{Model: m, MaxQueue: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Request{
		"empty":      {MaxNewTokens: 1},
		"no tokens":  {Prompt: []int{1}},
		"vocabulary": {Prompt: []int{29}, MaxNewTokens: 1},
		"context":    {Prompt: make([]int, 257), MaxNewTokens: 1},
		"top":        {Prompt: []int{1}, MaxNewTokens: 1, TopLogprobs: -1},
	} {
		if _, err := e.Submit(context.Background(), r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	ok := Request{Prompt: []int{1}, MaxNewTokens: 1}
	if _, err := e.Submit(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(context.Background(), ok); !errors.Is(err, ErrBusy) {
		t.Errorf("second request with MaxQueue 1: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	if _, err := e.Submit(context.Background(), ok); !errors.Is(err, ErrStopped) {
		t.Errorf("after Run returned: %v, want ErrStopped", err)
	}
}

// TestAbortFreesSlots: 200 requests cancelled after their first token (and
// some before they start) leave no running sequence, no waiting request
// and no goroutine behind, and the engine still serves afterwards.
func TestAbortFreesSlots(t *testing.T) {
	m := testModel(t, 32, 1, 29)
	e := start(t, Config{Model: m, MaxConcurrency: 4})
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := e.Submit(ctx, Request{Prompt: prompt(i), MaxNewTokens: 200})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 == 0 {
				cancel()
			}
			for range s.Tokens {
				cancel()
			}
			if !errors.Is(s.Err(), context.Canceled) {
				t.Errorf("request %d: Err %v, want context.Canceled", i, s.Err())
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.Stats()
		g := runtime.NumGoroutine()
		if st.Running == 0 && st.Waiting == 0 && g <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 200 aborts: %+v, %d goroutines (before: %d)", st, g, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, err := e.Submit(context.Background(), Request{Prompt: []int{1}, MaxNewTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := collect(t, s); len(ids) != 3 {
		t.Errorf("after the aborts: %d tokens, want 3", len(ids))
	}
}

// TestBatchingOverlaps: 16 streams at once take well under 16 times one
// stream (asserted loosely, < 8×, because timings on shared machines are
// noisy; the measured ratio is logged).
func TestBatchingOverlaps(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	m := testModel(t, 256, 2, 2048)
	e := start(t, Config{Model: m, MaxConcurrency: 16})
	run := func(n int) time.Duration {
		t0 := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			s, err := e.Submit(context.Background(), Request{Prompt: prompt(i), MaxNewTokens: 48})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); collect(t, s) }()
		}
		wg.Wait()
		return time.Since(t0)
	}
	run(1) // warm up
	one := min(run(1), run(1))
	sixteen := run(16)
	ratio := float64(sixteen) / float64(one)
	t.Logf("1 stream %v, 16 streams %v: %.1f× (16× without batching)", one, sixteen, ratio)
	if ratio > 8 {
		t.Errorf("16 streams took %.1f× one stream, want < 8×", ratio)
	}
}

// TestPlan checks the step budget by hand: decoding sequences first, then
// prompt chunks in arrival order; the oldest prompt always advances.
func TestPlan(t *testing.T) {
	dec := func() *seq { return &seq{gen: 1, feed: []int{9}} }
	pre := func(n int) *seq { return &seq{feed: make([]int, n)} }
	for _, tc := range []struct {
		name   string
		budget int
		batch  []*seq
		want   []int // tokens fed per sequence, in batch order (0: not in the step)
	}{
		{"all fit", 16, []*seq{dec(), pre(5), dec(), pre(4)}, []int{1, 5, 1, 4}},
		{"chunked", 6, []*seq{dec(), pre(5), dec(), pre(4)}, []int{1, 4, 1, 0}},
		{"second chunked", 9, []*seq{dec(), pre(5), dec(), pre(4)}, []int{1, 5, 1, 2}},
		{"oldest advances", 2, []*seq{dec(), dec(), dec(), pre(5), pre(3)}, []int{1, 1, 1, 1, 0}},
	} {
		e := &Engine{maxStep: tc.budget}
		step := e.plan(tc.batch)
		in := map[*seq]bool{}
		for _, s := range step {
			in[s] = true
		}
		for i, s := range tc.batch {
			got := 0
			if in[s] {
				got = len(s.chunk)
			}
			if got != tc.want[i] {
				t.Errorf("%s: sequence %d feeds %d tokens, want %d", tc.name, i, got, tc.want[i])
			}
		}
	}
}
