package serve

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smaug-dev/smaug/chat"
)

// choiceState accumulates one choice of a response.
type choiceState struct {
	text   []byte
	tokens []tokenInfo
	finish string
	used   int
}

// collected is every choice of a finished request.
type collected struct {
	choices []choiceState
	err     error
}

// gather reads events until every choice has finished. onEvent, when set,
// sees each event first (streaming); the first event also records the
// time to first token.
func (s *Server) gather(events <-chan event, total int, t0 time.Time, onEvent func(event)) collected {
	c := collected{choices: make([]choiceState, total)}
	first := true
	for done := 0; done < total; {
		ev := <-events
		if first {
			s.metrics.firstToken(time.Since(t0))
			first = false
		}
		ch := &c.choices[ev.choice]
		ch.text = append(ch.text, ev.text...)
		ch.tokens = append(ch.tokens, ev.tokens...)
		if ev.final {
			done++
			ch.finish, ch.used = ev.finish, ev.used
			if ev.err != nil && c.err == nil {
				c.err = ev.err
			}
		}
		if onEvent != nil {
			onEvent(ev)
		}
	}
	return c
}

func (c collected) usage(prompt int) usage {
	u := usage{PromptTokens: prompt}
	for _, ch := range c.choices {
		u.CompletionTokens += ch.used
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// failure is the error answered when choices ended early without the
// client leaving (the engine stopped).
func failure(err error) *apiError {
	return &apiError{status: 503, Message: fmt.Sprintf("generation stopped: %v", err), Type: "server_error"}
}

func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// sse writes server-sent events.
type sse struct {
	w http.ResponseWriter
}

func startSSE(w http.ResponseWriter) sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)
	return sse{w}
}

func (e sse) send(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(e.w, "data: %s\n\n", b)
	if f, ok := e.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (e sse) done() {
	fmt.Fprint(e.w, "data: [DONE]\n\n")
	if f, ok := e.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) *apiError {
	t0 := time.Now()
	var q chatRequest
	if e := decodeBody(r, &q); e != nil {
		return e
	}
	p, e := s.parseSampling(&q.sampling)
	if e != nil {
		return e
	}
	n, e := s.n(&q.sampling)
	if e != nil {
		return e
	}
	if q.TopLogprobs != nil {
		if *q.TopLogprobs < 0 || *q.TopLogprobs > 20 {
			return errInvalid("top_logprobs", "top_logprobs %d must be between 0 and 20", *q.TopLogprobs)
		}
		if !q.Logprobs {
			return errInvalid("top_logprobs", "top_logprobs needs logprobs: true")
		}
		p.topLogprobs = *q.TopLogprobs
	}
	p.logprobs = q.Logprobs
	if s.cfg.ChatTemplate == nil {
		return errInvalid("messages", "model %s has no chat template; use /v1/completions", s.cfg.ModelID)
	}
	if len(q.Messages) == 0 {
		return errInvalid("messages", "messages is required")
	}
	msgs, err := chat.DecodeMessages(q.Messages)
	if err != nil {
		return errInvalid("messages", "messages: %v", err)
	}
	if len(msgs) == 0 {
		return errInvalid("messages", "messages is empty")
	}
	for _, m := range msgs {
		flattenText(m)
	}
	opt := s.cfg.ChatOptions
	opt.AddGenerationPrompt = true
	text, err := s.cfg.ChatTemplate.Render(msgs, opt)
	if err != nil {
		return errInvalid("messages", "chat template: %v", err)
	}
	ids := s.cfg.Tokenizer.Encode(text, false)
	if e := s.checkPrompt(ids); e != nil {
		return e
	}
	events, total, e := s.start(r.Context(), [][]int{ids}, n, p)
	if e != nil {
		return e
	}
	id, created := newID("chatcmpl-"), time.Now().Unix()
	if !q.Stream {
		c := s.gather(events, total, t0, nil)
		if c.err != nil {
			if r.Context().Err() != nil {
				return nil // the client left; nothing to answer
			}
			return failure(c.err)
		}
		resp := chatResponse{ID: id, Object: "chat.completion", Created: created, Model: s.cfg.ModelID,
			SystemFingerprint: fingerprint, Usage: c.usage(len(ids))}
		for i, ch := range c.choices {
			cc := chatChoice{Index: i, Message: chatMessage{Role: "assistant", Content: string(ch.text)}, FinishReason: ch.finish}
			if p.logprobs {
				cc.Logprobs = s.chatLogprobs(ch.tokens)
			}
			resp.Choices = append(resp.Choices, cc)
		}
		writeJSON(w, 200, resp)
		return nil
	}
	out := startSSE(w)
	chunk := func(choices []chatChunkChoice, u *usage) chatChunk {
		return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: s.cfg.ModelID,
			SystemFingerprint: fingerprint, Choices: choices, Usage: u}
	}
	empty := ""
	for i := 0; i < total; i++ {
		out.send(chunk([]chatChunkChoice{{Index: i, Delta: chatDelta{Role: "assistant", Content: &empty}}}, nil))
	}
	failed := false
	c := s.gather(events, total, t0, func(ev event) {
		if failed || r.Context().Err() != nil {
			return
		}
		if ev.err != nil {
			failed = true
			out.send(map[string]*apiError{"error": failure(ev.err)})
			return
		}
		cc := chatChunkChoice{Index: ev.choice}
		if ev.text != "" {
			t := ev.text
			cc.Delta.Content = &t
		}
		if p.logprobs && len(ev.tokens) > 0 {
			cc.Logprobs = s.chatLogprobs(ev.tokens)
		}
		if ev.final {
			f := ev.finish
			cc.FinishReason = &f
		}
		if cc.Delta.Content != nil || cc.Logprobs != nil || cc.FinishReason != nil {
			out.send(chunk([]chatChunkChoice{cc}, nil))
		}
	})
	if failed || r.Context().Err() != nil {
		return nil
	}
	if q.StreamOptions != nil && q.StreamOptions.IncludeUsage {
		u := c.usage(len(ids))
		out.send(chunk([]chatChunkChoice{}, &u))
	}
	out.done()
	return nil
}

// fingerprint is the system_fingerprint of every response.
const fingerprint = "smaug"

func (s *Server) topText(id int) string { return s.cfg.Tokenizer.Decode([]int{id}, false) }

func (s *Server) chatLogprobs(tokens []tokenInfo) *chatLogprobs {
	lp := &chatLogprobs{Content: []chatTokenLogprob{}}
	for _, t := range tokens {
		c := chatTokenLogprob{chatTopLogprob: chatTopLogprob{Token: t.text, Logprob: t.logprob, Bytes: byteList(t.text)}, TopLogprobs: []chatTopLogprob{}}
		for _, alt := range t.top {
			txt := s.topText(alt.ID)
			c.TopLogprobs = append(c.TopLogprobs, chatTopLogprob{Token: txt, Logprob: alt.Logprob, Bytes: byteList(txt)})
		}
		lp.Content = append(lp.Content, c)
	}
	return lp
}

func byteList(s string) []int {
	out := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int(s[i])
	}
	return out
}

func (s *Server) completionLogprobs(tokens []tokenInfo, offset int) *completionLogprobs {
	lp := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
	for _, t := range tokens {
		lp.Tokens = append(lp.Tokens, t.text)
		lp.TokenLogprobs = append(lp.TokenLogprobs, t.logprob)
		top := map[string]float32{}
		for _, alt := range t.top {
			if _, seen := top[s.topText(alt.ID)]; !seen {
				top[s.topText(alt.ID)] = alt.Logprob
			}
		}
		lp.TopLogprobs = append(lp.TopLogprobs, top)
		lp.TextOffset = append(lp.TextOffset, offset)
		offset += utf8.RuneCountInString(t.text)
	}
	return lp
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) *apiError {
	t0 := time.Now()
	var q completionRequest
	if e := decodeBody(r, &q); e != nil {
		return e
	}
	p, e := s.parseSampling(&q.sampling)
	if e != nil {
		return e
	}
	n, e := s.n(&q.sampling)
	if e != nil {
		return e
	}
	if q.Echo {
		return errInvalid("echo", "echo is not supported")
	}
	if q.Logprobs != nil {
		if *q.Logprobs < 0 || *q.Logprobs > 5 {
			return errInvalid("logprobs", "logprobs %d must be between 0 and 5", *q.Logprobs)
		}
		p.logprobs, p.topLogprobs = true, *q.Logprobs
	}
	if len(q.Prompt) == 0 {
		return errInvalid("prompt", "prompt is required")
	}
	texts, prompts, err := decodePrompt(q.Prompt)
	if err != nil {
		return errInvalid("prompt", "prompt: %v", err)
	}
	for _, t := range texts {
		prompts = append(prompts, s.cfg.Tokenizer.Encode(t, true))
	}
	promptTokens := 0
	for _, ids := range prompts {
		if e := s.checkPrompt(ids); e != nil {
			return e
		}
		promptTokens += len(ids)
	}
	if len(prompts)*n > s.cfg.MaxN {
		return errInvalid("n", "%d prompts × n %d is more than %d choices", len(prompts), n, s.cfg.MaxN)
	}
	events, total, e := s.start(r.Context(), prompts, n, p)
	if e != nil {
		return e
	}
	id, created := newID("cmpl-"), time.Now().Unix()
	if !q.Stream {
		c := s.gather(events, total, t0, nil)
		if c.err != nil {
			if r.Context().Err() != nil {
				return nil
			}
			return failure(c.err)
		}
		u := c.usage(promptTokens)
		resp := completionResponse{ID: id, Object: "text_completion", Created: created, Model: s.cfg.ModelID,
			SystemFingerprint: fingerprint, Usage: &u}
		for i, ch := range c.choices {
			f := ch.finish
			cc := completionChoice{Index: i, Text: string(ch.text), FinishReason: &f}
			if p.logprobs {
				cc.Logprobs = s.completionLogprobs(ch.tokens, 0)
			}
			resp.Choices = append(resp.Choices, cc)
		}
		writeJSON(w, 200, resp)
		return nil
	}
	out := startSSE(w)
	failed := false
	offsets := make([]int, total)
	c := s.gather(events, total, t0, func(ev event) {
		if failed || r.Context().Err() != nil {
			return
		}
		if ev.err != nil {
			failed = true
			out.send(map[string]*apiError{"error": failure(ev.err)})
			return
		}
		if ev.text == "" && len(ev.tokens) == 0 && !ev.final {
			return
		}
		cc := completionChoice{Index: ev.choice, Text: ev.text}
		if p.logprobs {
			cc.Logprobs = s.completionLogprobs(ev.tokens, offsets[ev.choice])
		}
		offsets[ev.choice] += utf8.RuneCountInString(ev.text)
		if ev.final {
			f := ev.finish
			cc.FinishReason = &f
		}
		out.send(completionResponse{ID: id, Object: "text_completion", Created: created, Model: s.cfg.ModelID,
			SystemFingerprint: fingerprint, Choices: []completionChoice{cc}})
	})
	if failed || r.Context().Err() != nil {
		return nil
	}
	if q.StreamOptions != nil && q.StreamOptions.IncludeUsage {
		u := c.usage(promptTokens)
		out.send(completionResponse{ID: id, Object: "text_completion", Created: created, Model: s.cfg.ModelID,
			SystemFingerprint: fingerprint, Choices: []completionChoice{}, Usage: &u})
	}
	out.done()
	return nil
}

// flattenText turns a content given as a list of text parts
// ([{"type": "text", "text": ...}], as OpenAI clients may send it) into one
// string joined by newlines, as vLLM does, since most chat templates expect
// a string. Lists with other parts are left to the template.
func flattenText(m chat.Message) {
	parts, ok := m["content"].([]any)
	if !ok {
		return
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		d, ok := p.(*chat.Dict)
		if !ok {
			return
		}
		typ, _ := d.Get("type")
		text, ok := d.Get("text")
		s, isStr := text.(string)
		if typ != "text" || !ok || !isStr {
			return
		}
		texts = append(texts, s)
	}
	m["content"] = strings.Join(texts, "\n")
}
