package serve

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"

	"github.com/smaug-dev/smaug/engine"
	"github.com/smaug-dev/smaug/model"
)

// genParams are the validated generation settings of one request.
type genParams struct {
	maxTokens int
	sampling  model.Sampling
	seedSet   bool
	stops     []string
	// logprobs asks for each token's log-probability, with topLogprobs
	// alternatives.
	logprobs    bool
	topLogprobs int
}

// parseSampling validates the fields both endpoints share.
func (s *Server) parseSampling(q *sampling) (genParams, *apiError) {
	p := genParams{maxTokens: s.cfg.MaxCompletionTokens, sampling: model.Sampling{Temperature: 1, TopP: 1}}
	if q.Model != "" && q.Model != s.cfg.ModelID {
		return p, withCode(&apiError{status: 404, Message: "the model `" + q.Model + "` does not exist; this server serves `" + s.cfg.ModelID + "`", Type: "invalid_request_error"}, "model_not_found")
	}
	for _, mt := range []*int{q.MaxTokens, q.MaxCompletionTokens} {
		if mt == nil {
			continue
		}
		if *mt < 1 || *mt > s.cfg.MaxCompletionTokens {
			return p, errInvalid("max_tokens", "max_tokens %d must be between 1 and %d", *mt, s.cfg.MaxCompletionTokens)
		}
		p.maxTokens = *mt
	}
	if t := q.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return p, errInvalid("temperature", "temperature %v must be between 0 and 2", *t)
		}
		p.sampling.Temperature = *t
	}
	if t := q.TopP; t != nil {
		if *t <= 0 || *t > 1 {
			return p, errInvalid("top_p", "top_p %v must be in (0, 1]", *t)
		}
		p.sampling.TopP = *t
	}
	if k := q.TopK; k != nil {
		if *k < -1 {
			return p, errInvalid("top_k", "top_k %d must be ≥ 0 (or -1 for all)", *k)
		}
		p.sampling.TopK = max(*k, 0)
	}
	if q.Seed != nil {
		p.sampling.Seed, p.seedSet = uint64(*q.Seed), true
	}
	stops, err := decodeStop(q.Stop)
	if err != nil {
		return p, errInvalid("stop", "stop: %v", err)
	}
	if len(stops) > 4 {
		return p, errInvalid("stop", "at most 4 stop sequences, got %d", len(stops))
	}
	p.stops = stops
	return p, nil
}

// n returns the request's choice count, checked.
func (s *Server) n(q *sampling) (int, *apiError) {
	if q.N == nil {
		return 1, nil
	}
	if *q.N < 1 || *q.N > s.cfg.MaxN {
		return 0, errInvalid("n", "n %d must be between 1 and %d", *q.N, s.cfg.MaxN)
	}
	return *q.N, nil
}

// checkPrompt applies the prompt-length limit.
func (s *Server) checkPrompt(ids []int) *apiError {
	if len(ids) == 0 {
		return errInvalid("prompt", "the prompt is empty")
	}
	if s.cfg.MaxPromptTokens > 0 && len(ids) > s.cfg.MaxPromptTokens {
		return withCode(errInvalid("messages", "the prompt has %d tokens; this server takes at most %d", len(ids), s.cfg.MaxPromptTokens), "context_length_exceeded")
	}
	return nil
}

// tokenInfo is one generated token as the API reports it.
type tokenInfo struct {
	text    string
	logprob float32
	top     []engine.TokenLogprob
}

// event is what a choice reports: text that became final (with the
// tokens that produced it, when logprobs were asked for), and on its last
// event the finish reason (or an error) and its token count.
type event struct {
	choice int
	text   string
	tokens []tokenInfo
	final  bool
	finish string
	err    error
	used   int
}

// start submits one engine request per choice (prompt i gets choices
// i·n … i·n+n−1) and follows each in a goroutine that reports on the
// returned channel; exactly one final event comes per choice. When a
// submission fails, the ones made are cancelled and the error returned.
func (s *Server) start(ctx context.Context, prompts [][]int, n int, p genParams) (<-chan event, int, *apiError) {
	total := len(prompts) * n
	events := make(chan event, total)
	type sub struct {
		stream *engine.Stream
		cancel context.CancelFunc
	}
	subs := make([]sub, 0, total)
	for _, prompt := range prompts {
		for i := 0; i < n; i++ {
			smp := p.sampling
			switch {
			case !p.seedSet:
				smp.Seed = rand.Uint64()
			default:
				smp.Seed += uint64(i)
			}
			req := engine.Request{Prompt: prompt, MaxNewTokens: p.maxTokens, Sampling: smp, StopIDs: s.cfg.StopIDs}
			if p.logprobs {
				req.TopLogprobs = p.topLogprobs
			}
			cctx, cancel := context.WithCancel(ctx)
			st, err := s.eng.Submit(cctx, req)
			if err != nil {
				cancel()
				for _, x := range subs {
					x.cancel()
				}
				if errors.Is(err, engine.ErrBusy) {
					return nil, 0, withCode(&apiError{status: 429, Message: "too many requests are waiting; retry later", Type: "rate_limit_error"}, "server_busy")
				}
				if errors.Is(err, engine.ErrStopped) {
					return nil, 0, &apiError{status: 503, Message: "the server is shutting down", Type: "server_error"}
				}
				return nil, 0, errInvalid("", "%v", err)
			}
			subs = append(subs, sub{st, cancel})
		}
	}
	for i, x := range subs {
		go s.follow(i, x.stream, x.cancel, p, events)
	}
	return events, total, nil
}

// follow turns one engine stream into events: tokens are decoded to text,
// stop strings end the choice (their text is not returned; text that may
// be the start of a stop string is held back until it is known not to be).
func (s *Server) follow(idx int, st *engine.Stream, cancel context.CancelFunc, p genParams, events chan<- event) {
	defer cancel()
	dec := s.cfg.Tokenizer.NewStreamDecoder(true)
	var text strings.Builder // everything decoded so far
	emitted := 0             // bytes of text already reported
	var pending []tokenInfo
	used := 0
	finish := ""
	// emit reports text up to end (and the pending tokens with it).
	emit := func(end int) {
		if end > emitted {
			events <- event{choice: idx, text: text.String()[emitted:end], tokens: pending}
			emitted, pending = end, nil
		}
	}
	// check looks for a stop string; it reports whether one ended the
	// choice, else emits what cannot be part of one.
	check := func(final bool) bool {
		all := text.String()
		cut, hold := -1, 0
		for _, stop := range p.stops {
			if i := strings.Index(all[max(0, emitted-len(stop)):], stop); i >= 0 {
				i += max(0, emitted-len(stop))
				if cut < 0 || i < cut {
					cut = i
				}
			}
			for k := min(len(stop)-1, len(all)); k > hold; k-- {
				if strings.HasSuffix(all, stop[:k]) {
					hold = k
					break
				}
			}
		}
		if cut >= 0 {
			pending = nil
			emit(max(cut, emitted))
			return true
		}
		if final {
			hold = 0
		}
		emit(len(all) - hold)
		return false
	}
	for tok := range st.Tokens {
		used++
		piece := dec.Push(tok.ID)
		if p.logprobs {
			pending = append(pending, tokenInfo{text: s.cfg.Tokenizer.Decode([]int{tok.ID}, false), logprob: tok.Logprob, top: tok.Top})
		}
		text.WriteString(piece)
		if tok.Finish != "" {
			text.WriteString(dec.Flush())
			finish = tok.Finish
			if check(true) {
				finish = "stop"
			}
			emitFinal(events, idx, pending, finish, nil, used)
			return
		}
		if piece != "" && len(p.stops) > 0 && check(false) {
			// Drain what the engine already sent; cancel frees the slot.
			cancel()
			for range st.Tokens {
			}
			emitFinal(events, idx, nil, "stop", nil, used)
			return
		}
		if piece != "" && len(p.stops) == 0 {
			emit(text.Len())
		}
	}
	// Closed early: the request was cancelled or the engine stopped.
	err := st.Err()
	if err == nil {
		err = context.Canceled
	}
	emitFinal(events, idx, nil, "", err, used)
}

func emitFinal(events chan<- event, idx int, pending []tokenInfo, finish string, err error, used int) {
	events <- event{choice: idx, tokens: pending, final: true, finish: finish, err: err, used: used}
}
