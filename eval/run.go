package eval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// DefaultMaxLength is the context length used when the model's
// configuration sets none (the harness's default).
const DefaultMaxLength = 2048

// chunkRequests is the number of log-likelihood requests that share one KV
// cache, in token order. It is a constant so that which requests reuse
// which prefix — and so every number — never depends on BatchSize or the
// number of cores.
const chunkRequests = 128

// Config configures an evaluation.
type Config struct {
	// Model and Tokenizer are the model evaluated.
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	// Tasks are the tasks to run (see Load).
	Tasks []*Task
	// Limit keeps the first Limit shuffled documents of each task (0: all).
	Limit int
	// BatchSize is how many groups of requests are scored at once, each
	// with its own KV cache (≤ 0: one per core). Results do not depend on it.
	BatchSize int
	// AddBOS puts the BOS token before every context (the leaderboard adds
	// none).
	AddBOS bool
	// MaxLength is the context length: longer inputs keep their last tokens
	// (0: the model's max_position_embeddings, else DefaultMaxLength).
	MaxLength int
	// Template, when set, rewrites every context before tokenization (for
	// example, a chat template around it).
	Template func(context string) (string, error)
	// Progress, when set, is called as requests finish, with the task (or
	// group) they belong to.
	Progress func(stage string, done, total int)
	// Cache, when set, holds finished requests: they are looked up before
	// the model runs and stored as they finish, so an interrupted
	// evaluation resumes where it stopped.
	Cache Cache
}

// Cache stores finished requests by a key naming the model input.
type Cache interface {
	Get(key string) (Result, bool)
	Put(key string, r Result) error
}

// Sample is one scored document: what --log-samples writes.
type Sample struct {
	Task     string             `json:"task"`
	DocID    int                `json:"doc_id"`
	Index    int                `json:"doc_index"`
	Context  string             `json:"context"`
	Requests []SampleRequest    `json:"requests"`
	Target   string             `json:"target"`
	Metrics  map[string]float64 `json:"metrics"`
}

// SampleRequest is one request of a Sample and its result.
type SampleRequest struct {
	// Context is set only when it differs from the document's (Winogrande).
	Context       string   `json:"context,omitempty"`
	Continuation  string   `json:"continuation,omitempty"`
	LogLikelihood *float64 `json:"loglikelihood,omitempty"`
	Greedy        *bool    `json:"is_greedy,omitempty"`
	Generation    *string  `json:"generation,omitempty"`
}

// TaskResult holds one task's documents and their scores.
type TaskResult struct {
	Task    *Task
	Samples []Sample
}

// Run evaluates every task and returns the per-document results in task
// order. Log-likelihood requests are tokenized as the harness does (the
// context's trailing whitespace moves to the continuation, the
// continuation's tokens are enc(ctx+cont)[len(enc(ctx)):]), sorted by
// their tokens and scored in fixed groups that compute each shared prefix
// once and reuse its KV cache.
func Run(ctx context.Context, c Config) ([]TaskResult, error) {
	if c.Model == nil || c.Tokenizer == nil {
		return nil, fmt.Errorf("eval needs a model and its tokenizer")
	}
	r := &runner{Config: c, maxLen: c.MaxLength}
	if r.maxLen <= 0 {
		r.maxLen = c.Model.Config.MaxPositionEmbeddings
	}
	if r.maxLen <= 0 {
		r.maxLen = DefaultMaxLength
	}
	if r.BatchSize <= 0 {
		r.BatchSize = runtime.GOMAXPROCS(0)
	}
	r.eos = append([]int(nil), c.Model.Config.EOSTokenIDs...)
	if e := c.Tokenizer.EOS(); e >= 0 && !slices.Contains(r.eos, e) {
		r.eos = append(r.eos, e)
	}
	var out []TaskResult
	type docWork struct {
		task *Task
		inst Instance
		res  []Result
	}
	// Tasks run one unit at a time (a group such as mmlu is one unit), so
	// progress and its ETA are per task.
	var units [][]int
	unitOf := map[string]int{}
	for ti, t := range c.Tasks {
		key := t.Name
		if t.Group != "" {
			key = t.Group
		}
		u, ok := unitOf[key]
		if !ok {
			u = len(units)
			unitOf[key] = u
			units = append(units, nil)
		}
		units[u] = append(units[u], ti)
	}
	works := make([][]*docWork, len(c.Tasks))
	for _, unit := range units {
		var ll, gen []*pending
		for _, ti := range unit {
			t := c.Tasks[ti]
			for _, in := range t.Instances(c.Limit) {
				w := &docWork{task: t, inst: in, res: make([]Result, len(in.Requests))}
				for i, rq := range in.Requests {
					p := &pending{task: t, req: rq, out: &w.res[i]}
					if t.Kind == Generate {
						gen = append(gen, p)
					} else {
						ll = append(ll, p)
					}
				}
				works[ti] = append(works[ti], w)
			}
		}
		label := c.Tasks[unit[0]].Name
		if g := c.Tasks[unit[0]].Group; g != "" {
			label = g
		}
		if err := r.loglikelihoods(ctx, ll, label); err != nil {
			return nil, err
		}
		if err := r.generations(ctx, gen, label); err != nil {
			return nil, err
		}
	}
	for ti, t := range c.Tasks {
		tr := TaskResult{Task: t}
		for _, w := range works[ti] {
			s := Sample{Task: t.Name, DocID: w.inst.DocID, Index: w.inst.Doc.Index, Context: w.inst.Context,
				Target: w.inst.Doc.Target, Metrics: t.Score(&w.inst, w.res)}
			if t.Kind == Generate {
				s.Target = w.inst.Doc.Answer
			}
			for i, rq := range w.inst.Requests {
				sr := SampleRequest{Continuation: rq.Continuation}
				if rq.Context != w.inst.Context {
					sr.Context = rq.Context
				}
				res := w.res[i]
				if t.Kind == Generate {
					sr.Generation = &res.Generation
				} else {
					sr.LogLikelihood, sr.Greedy = &res.LogLikelihood, &res.Greedy
				}
				s.Requests = append(s.Requests, sr)
			}
			tr.Samples = append(tr.Samples, s)
		}
		out = append(out, tr)
	}
	return out, nil
}

type runner struct {
	Config
	maxLen int
	eos    []int
}

// pending is one request waiting for its result.
type pending struct {
	task  *Task
	req   Request
	out   *Result
	seq   []int // the scored tokens: input plus the last target
	nCont int   // how many of seq's last tokens are scored
	key   string
}

// context applies the template and returns the context text.
func (r *runner) context(s string) (string, error) {
	if r.Template == nil {
		return s, nil
	}
	return r.Template(s)
}

// EncodePair tokenizes a log-likelihood request as the harness does:
// trailing whitespace of the context moves to the continuation; the
// context's tokens are enc(ctx) (after BOS when addBOS) and the
// continuation's enc(ctx+cont)[len(enc(ctx)):]. An empty context is
// replaced by the EOS token.
func EncodePair(tok *tokenizer.Tokenizer, ctx, cont string, addBOS bool) (ctxIDs, contIDs []int) {
	if ctx == "" {
		return []int{tok.EOS()}, tok.Encode(cont, false)
	}
	trimmed := strings.TrimRightFunc(ctx, unicode.IsSpace)
	if n := len(ctx) - len(trimmed); n > 0 {
		cont, ctx = ctx[len(trimmed):]+cont, trimmed
	}
	whole := tok.Encode(ctx+cont, false)
	ctxIDs = tok.Encode(ctx, false)
	if len(ctxIDs) < len(whole) {
		contIDs = whole[len(ctxIDs):]
	}
	if addBOS && tok.BOS() >= 0 {
		ctxIDs = append([]int{tok.BOS()}, ctxIDs...)
	}
	return ctxIDs, contIDs
}

// parallel runs fn(i) for i in [0, n) on BatchSize goroutines, stopping at
// the first error or when ctx is cancelled, and reports progress under
// stage (none when stage is "").
func (r *runner) parallel(ctx context.Context, n int, stage string, fn func(i int) error) error {
	var next, done atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < min(r.BatchSize, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
				if d := done.Add(1); r.Progress != nil && stage != "" {
					r.Progress(stage, int(d), n)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// loglikelihoods scores every request, reusing shared prefixes.
func (r *runner) loglikelihoods(ctx context.Context, ps []*pending, stage string) error {
	if len(ps) == 0 {
		return nil
	}
	// Tokenize (in parallel; the tokenizer is safe for concurrent use).
	err := r.parallel(ctx, len(ps), "", func(i int) error {
		p := ps[i]
		text, err := r.context(p.req.Context)
		if err != nil {
			return fmt.Errorf("task %s: template: %w", p.task.Name, err)
		}
		c, k := EncodePair(r.Tokenizer, text, p.req.Continuation, r.AddBOS)
		if len(k) == 0 {
			return fmt.Errorf("task %s: continuation %q encodes to no tokens after its context", p.task.Name, p.req.Continuation)
		}
		seq := append(c, k...)
		if len(seq) > r.maxLen+1 {
			seq = seq[len(seq)-(r.maxLen+1):]
		}
		p.seq, p.nCont = seq, min(len(k), len(seq)-1)
		p.key = cacheKey("ll", seq, nil, p.nCont)
		return nil
	})
	if err != nil {
		return err
	}
	var todo []*pending
	for _, p := range ps {
		if r.Cache != nil {
			if res, ok := r.Cache.Get(p.key); ok {
				*p.out = res
				continue
			}
		}
		todo = append(todo, p)
	}
	slices.SortStableFunc(todo, func(a, b *pending) int { return slices.Compare(a.seq, b.seq) })
	nChunks := (len(todo) + chunkRequests - 1) / chunkRequests
	var finished atomic.Int64
	return r.parallel(ctx, nChunks, "", func(ci int) error {
		chunk := todo[ci*chunkRequests : min(len(todo), (ci+1)*chunkRequests)]
		cache := r.Model.NewKVCache()
		vocab := r.Model.Config.VocabSize
		var have []int           // the tokens whose keys and values the cache holds
		var lastLogits []float32 // the last forward's logits, from position lastFrom on
		lastFrom := 0
		for _, p := range chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			in := p.seq[:len(p.seq)-1]
			p0 := len(in) - p.nCont // first input position whose logits are scored
			var logits []float32
			if slices.Equal(in, have) && p0 >= lastFrom {
				// The same input as the previous request with other targets
				// (the one-token choices " A" … " D" of MMLU): its logits
				// are already there.
				logits = lastLogits[(p0-lastFrom)*vocab:]
			} else {
				// With a sliding window the cache may no longer hold the
				// prefix's keys: Truncate then empties it.
				keep := cache.Truncate(min(commonPrefix(have, in), p0))
				var err error
				if logits, err = r.Model.ForwardFrom(cache, in[keep:], p0-keep); err != nil {
					return fmt.Errorf("task %s: %w", p.task.Name, err)
				}
				have, lastLogits, lastFrom = in, logits, p0
			}
			*p.out = scoreTokens(logits, p.seq[p0+1:], vocab)
			if r.Cache != nil {
				if err := r.Cache.Put(p.key, *p.out); err != nil {
					return err
				}
			}
			if d := finished.Add(1); r.Progress != nil {
				r.Progress(stage, int(d), len(todo))
			}
		}
		return nil
	})
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// scoreTokens sums the log-softmax of each target under its row of logits
// (log-sum-exp in float64) and reports whether every target is its row's
// argmax (first index on ties).
func scoreTokens(logits []float32, targets []int, vocab int) Result {
	res := Result{Greedy: true}
	for j, tgt := range targets {
		row := logits[j*vocab : (j+1)*vocab]
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		mx := float64(row[best])
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		res.LogLikelihood += float64(row[tgt]) - mx - math.Log(sum)
		res.Greedy = res.Greedy && best == tgt
	}
	return res
}

// generations runs every greedy generation.
func (r *runner) generations(ctx context.Context, ps []*pending, stage string) error {
	if len(ps) == 0 {
		return nil
	}
	return r.parallel(ctx, len(ps), stage, func(i int) error {
		p := ps[i]
		t := p.task
		text, err := r.context(p.req.Context)
		if err != nil {
			return fmt.Errorf("task %s: template: %w", t.Name, err)
		}
		ids := r.Tokenizer.Encode(text, false)
		if r.AddBOS && r.Tokenizer.BOS() >= 0 {
			ids = append([]int{r.Tokenizer.BOS()}, ids...)
		}
		if keep := r.maxLen - t.MaxGenTokens; keep > 0 && len(ids) > keep {
			ids = ids[len(ids)-keep:]
		}
		key := cacheKey("gen", ids, t.Until, t.MaxGenTokens)
		if r.Cache != nil {
			if res, ok := r.Cache.Get(key); ok {
				*p.out = res
				return nil
			}
		}
		gen, err := r.greedyUntil(ctx, ids, t.Until, t.MaxGenTokens)
		if err != nil {
			return fmt.Errorf("task %s: %w", t.Name, err)
		}
		*p.out = Result{Generation: gen}
		if r.Cache != nil {
			return r.Cache.Put(key, *p.out)
		}
		return nil
	})
}

// greedyUntil decodes greedily from ids until EOS, maxTokens new tokens, the
// context length, or a stop string in the decoded text, and returns the
// text cut before the first occurrence of each stop string in turn.
func (r *runner) greedyUntil(ctx context.Context, ids []int, until []string, maxTokens int) (string, error) {
	cache := r.Model.NewKVCache()
	logits, err := r.Model.Forward(cache, ids)
	if err != nil {
		return "", err
	}
	var out []int
	var text string
	for len(out) < maxTokens {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		if slices.Contains(r.eos, next) {
			break
		}
		out = append(out, next)
		text = r.Tokenizer.Decode(out, false)
		if slices.ContainsFunc(until, func(s string) bool { return strings.Contains(text, s) }) || cache.Len() >= r.maxLen {
			break
		}
		if len(out) < maxTokens {
			if logits, err = r.Model.Forward(cache, []int{next}); err != nil {
				return "", err
			}
		}
	}
	for _, s := range until {
		text, _, _ = strings.Cut(text, s)
	}
	return text, nil
}

// cacheKey names a request by a hash of its model input.
func cacheKey(kind string, ids []int, until []string, n int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s|%d|%q|", kind, n, until)
	for _, id := range ids {
		fmt.Fprintf(&b, "%d,", id)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}
