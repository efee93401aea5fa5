// Package engine owns continuous batching: it decodes many generation
// requests on one model at once, each with its own KV cache, sampler and
// stop conditions. Every step feeds the model one batch made of the new
// token of each running sequence plus the prompts of requests that arrived
// since (model.ForwardBatch), so a request joins the running batch at the
// next step instead of waiting for the others to end, and a request whose
// context is cancelled leaves it (freeing its slot and cache) at the next
// step. Long prompts are fed in chunks (chunked prefill, at most
// MaxStepTokens tokens a step), so the running streams keep producing
// tokens while a new prompt is read.
//
// The engine knows token ids only; text, chat templates, stop strings and
// the HTTP API belong to package serve.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smaug-dev/smaug/model"
)

// Defaults of Config.
const (
	DefaultMaxConcurrency = 16
	DefaultMaxQueue       = 256
	DefaultMaxStepTokens  = 512
)

// ErrBusy is returned by Submit when MaxQueue requests already wait.
var ErrBusy = errors.New("engine: too many requests waiting")

// ErrStopped is returned by Submit after Run has returned.
var ErrStopped = errors.New("engine: stopped")

// Config configures an Engine.
type Config struct {
	Model *model.Model
	// MaxConcurrency is the number of sequences decoded together; requests
	// beyond it wait for a slot. 0 means DefaultMaxConcurrency.
	MaxConcurrency int
	// MaxQueue is the number of requests that may wait for a slot; Submit
	// fails with ErrBusy beyond it. 0 means DefaultMaxQueue.
	MaxQueue int
	// MaxStepTokens caps the tokens fed in one step: every running
	// sequence's next token, then chunks of the prompts being read (at
	// least one token of the oldest, so prompts always advance). 0 means
	// DefaultMaxStepTokens.
	MaxStepTokens int
}

// Request is one sequence to generate.
type Request struct {
	Prompt []int
	// MaxNewTokens caps the generated tokens; generation also ends at the
	// model's context length (MaxPositionEmbeddings).
	MaxNewTokens int
	model.Sampling
	// StopIDs end generation when produced (the stop token is reported,
	// with Finish "stop").
	StopIDs []int
	// TopLogprobs is the number of most likely alternatives reported with
	// each token (0: none). The chosen token's log-probability is always
	// reported.
	TopLogprobs int
}

// TokenLogprob is a token with its log-probability under the model (the
// raw distribution, before temperature and top-k/top-p).
type TokenLogprob struct {
	ID      int
	Logprob float32
}

// Token is one generated token. Finish is "" while generation goes on, and
// "stop" (a stop id) or "length" (MaxNewTokens or the context length) on the
// last token.
type Token struct {
	TokenLogprob
	Top    []TokenLogprob
	Finish string
}

// Stream delivers the tokens of one request. Tokens is closed after the
// last token, or early when the request's context is cancelled or the
// engine stops (Err then says why).
type Stream struct {
	Tokens <-chan Token
	tokens chan Token
	err    error
}

// Err is the reason a stream closed before its last token (nil after a
// normal finish). Read it only after Tokens is closed.
func (s *Stream) Err() error { return s.err }

// Stats is a snapshot of the engine's counters.
type Stats struct {
	// Running is the number of sequences in the batch; Waiting the number
	// of requests waiting for a slot.
	Running, Waiting int
	// Steps is the number of batched forwards; PromptTokens and
	// GeneratedTokens count the tokens fed as prompts and generated.
	Steps, PromptTokens, GeneratedTokens int64
}

// Engine batches requests on one model. Create it with New, start Run in a
// goroutine, and Submit requests from any goroutine.
type Engine struct {
	m        *model.Model
	maxConc  int
	maxQueue int
	maxStep  int
	ctxLen   int

	mu      sync.Mutex
	queue   []*seq
	stopped bool
	wake    chan struct{}

	running                     atomic.Int64
	steps, promptTok, generated atomic.Int64
}

type seq struct {
	ctx   context.Context
	req   Request
	out   *Stream
	cache *model.KVCache
	rng   *rand.Rand
	// feed is what the next step feeds: the rest of the prompt while it is
	// being read, then the last sampled token.
	feed []int
	// chunk is the part of feed given to the current step.
	chunk  []int
	gen    int
	stopID map[int]bool
}

// New checks cfg and returns an engine (not yet running).
func New(cfg Config) (*Engine, error) {
	if cfg.Model == nil {
		return nil, fmt.Errorf("engine: no model")
	}
	if cfg.MaxConcurrency < 0 || cfg.MaxQueue < 0 || cfg.MaxStepTokens < 0 {
		return nil, fmt.Errorf("engine: MaxConcurrency %d, MaxQueue %d and MaxStepTokens %d must be ≥ 0", cfg.MaxConcurrency, cfg.MaxQueue, cfg.MaxStepTokens)
	}
	e := &Engine{m: cfg.Model, maxConc: cfg.MaxConcurrency, maxQueue: cfg.MaxQueue, maxStep: cfg.MaxStepTokens,
		ctxLen: cfg.Model.Config.MaxPositionEmbeddings, wake: make(chan struct{}, 1)}
	if e.maxConc == 0 {
		e.maxConc = DefaultMaxConcurrency
	}
	if e.maxQueue == 0 {
		e.maxQueue = DefaultMaxQueue
	}
	if e.maxStep == 0 {
		e.maxStep = DefaultMaxStepTokens
	}
	return e, nil
}

// ContextLength is the longest sequence (prompt plus generated tokens) the
// model takes; 0 when its config does not say.
func (e *Engine) ContextLength() int { return e.ctxLen }

// MaxConcurrency is the number of sequences decoded together.
func (e *Engine) MaxConcurrency() int { return e.maxConc }

// Submit queues req; it joins the batch at the next step with a free slot.
// Cancelling ctx ends the stream and frees the slot at the next step.
func (e *Engine) Submit(ctx context.Context, req Request) (*Stream, error) {
	if len(req.Prompt) == 0 {
		return nil, fmt.Errorf("engine: empty prompt")
	}
	if req.MaxNewTokens < 1 {
		return nil, fmt.Errorf("engine: MaxNewTokens %d must be ≥ 1", req.MaxNewTokens)
	}
	if e.ctxLen > 0 && len(req.Prompt) > e.ctxLen {
		return nil, fmt.Errorf("engine: prompt of %d tokens is longer than the context of %d", len(req.Prompt), e.ctxLen)
	}
	if req.TopLogprobs < 0 {
		return nil, fmt.Errorf("engine: TopLogprobs %d must be ≥ 0", req.TopLogprobs)
	}
	for _, id := range req.Prompt {
		if id < 0 || id >= e.m.Config.VocabSize {
			return nil, fmt.Errorf("engine: prompt token %d is outside the vocabulary of %d", id, e.m.Config.VocabSize)
		}
	}
	ch := make(chan Token, req.MaxNewTokens)
	s := &seq{ctx: ctx, req: req, out: &Stream{Tokens: ch, tokens: ch}, feed: req.Prompt,
		rng: rand.New(rand.NewPCG(req.Seed, model.SeedStream)), stopID: map[int]bool{}}
	for _, id := range req.StopIDs {
		s.stopID[id] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil, ErrStopped
	}
	if len(e.queue) >= e.maxQueue {
		return nil, ErrBusy
	}
	e.queue = append(e.queue, s)
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return s.out, nil
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	waiting := len(e.queue)
	e.mu.Unlock()
	return Stats{Running: int(e.running.Load()), Waiting: waiting, Steps: e.steps.Load(),
		PromptTokens: e.promptTok.Load(), GeneratedTokens: e.generated.Load()}
}

// Run decodes until ctx is cancelled, then ends every stream still open
// (their Err is the context's error) and refuses new requests. It returns
// ctx's error, or the model's error if a forward fails (every open stream
// gets that error too).
func (e *Engine) Run(ctx context.Context) error {
	var batch []*seq
	finish := func(err error) error {
		e.mu.Lock()
		e.stopped = true
		rest := append(batch, e.queue...)
		e.queue = nil
		e.mu.Unlock()
		for _, s := range rest {
			s.out.err = err
			close(s.out.tokens)
		}
		e.running.Store(0)
		return err
	}
	for {
		// Drop cancelled sequences, then fill free slots from the queue.
		batch = e.dropCancelled(batch)
		e.mu.Lock()
		e.queue = e.dropCancelled(e.queue)
		for len(batch) < e.maxConc && len(e.queue) > 0 {
			s := e.queue[0]
			e.queue[0] = nil // the backing array must not keep finished requests alive
			e.queue = e.queue[1:]
			s.cache = e.m.NewKVCache()
			batch = append(batch, s)
			e.promptTok.Add(int64(len(s.feed)))
		}
		e.mu.Unlock()
		e.running.Store(int64(len(batch)))
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return finish(ctx.Err())
			case <-e.wake:
				continue
			case <-time.After(100 * time.Millisecond):
				// Waiting requests whose context ended are dropped above.
				continue
			}
		}
		if ctx.Err() != nil {
			return finish(ctx.Err())
		}
		step := e.plan(batch)
		caches := make([]*model.KVCache, len(step))
		feeds := make([][]int, len(step))
		for i, s := range step {
			caches[i], feeds[i] = s.cache, s.chunk
		}
		logits, err := e.m.ForwardBatch(caches, feeds)
		if err != nil {
			return finish(fmt.Errorf("engine: forward: %w", err))
		}
		e.steps.Add(1)
		for i, s := range step {
			s.feed = s.feed[len(s.chunk):]
			if len(s.feed) == 0 && !e.advance(s, logits[i]) {
				s.feed = nil // finished: dropped below
			}
		}
		kept := batch[:0]
		for _, s := range batch {
			if s.feed != nil {
				kept = append(kept, s)
			}
		}
		clear(batch[len(kept):])
		batch = kept
	}
}

// plan chooses what each sequence feeds in the next step: every decoding
// sequence its one token, then prompt chunks in arrival order within
// MaxStepTokens (the oldest prompt gets at least one token).
func (e *Engine) plan(batch []*seq) []*seq {
	var step []*seq
	budget := e.maxStep
	for _, s := range batch {
		s.chunk = nil
		if s.gen > 0 {
			s.chunk = s.feed
			budget -= len(s.chunk)
			step = append(step, s)
		}
	}
	first := true
	for _, s := range batch {
		if s.gen > 0 {
			continue
		}
		n := min(len(s.feed), budget)
		if first {
			n = max(n, 1)
			first = false
		}
		if n <= 0 {
			break
		}
		s.chunk = s.feed[:n]
		budget -= n
		step = append(step, s)
	}
	return step
}

// dropCancelled closes the streams of sequences whose context has ended.
func (e *Engine) dropCancelled(seqs []*seq) []*seq {
	kept := seqs[:0]
	for _, s := range seqs {
		if err := s.ctx.Err(); err != nil {
			s.out.err = err
			close(s.out.tokens)
			continue
		}
		kept = append(kept, s)
	}
	clear(seqs[len(kept):])
	return kept
}

// advance samples s's next token from logits and delivers it; it reports
// whether s goes on.
func (e *Engine) advance(s *seq, logits []float32) bool {
	id := s.req.Sampling.Pick(logits, s.rng)
	lse := logSumExp(logits)
	t := Token{TokenLogprob: TokenLogprob{ID: id, Logprob: logits[id] - lse}}
	if k := s.req.TopLogprobs; k > 0 {
		t.Top = topK(logits, k, lse)
	}
	s.gen++
	e.generated.Add(1)
	switch {
	case s.stopID[id]:
		t.Finish = "stop"
	case s.gen >= s.req.MaxNewTokens || (e.ctxLen > 0 && s.cache.Len() >= e.ctxLen):
		t.Finish = "length"
	}
	s.out.tokens <- t // never blocks: the buffer holds MaxNewTokens
	if t.Finish != "" {
		close(s.out.tokens)
		return false
	}
	s.feed = []int{id}
	return true
}

func logSumExp(x []float32) float32 {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	var z float64
	for _, v := range x {
		z += math.Exp(float64(v - m))
	}
	return m + float32(math.Log(z))
}

// topK returns the k most likely tokens, most likely first (lower id first
// on ties).
func topK(logits []float32, k int, lse float32) []TokenLogprob {
	k = min(k, len(logits))
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := make([]TokenLogprob, k)
	for i := range out {
		out[i] = TokenLogprob{ID: idx[i], Logprob: logits[idx[i]] - lse}
	}
	return out
}
