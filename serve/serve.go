// Package serve owns smaug's OpenAI-compatible HTTP API: GET /v1/models,
// POST /v1/chat/completions and /v1/completions (streamed as server-sent
// events or not; n, stop, seed, logprobs, usage), GET /health, Prometheus
// text metrics at /metrics and a small chat page at /. Generation runs on an
// engine.Engine, so requests that arrive together are decoded together
// (continuous batching).
//
// It adds what the engine does not know: text (tokenizer and chat
// template), stop strings, the limits on body size, prompt and completion
// tokens, choices per request and waiting requests (answered with 4xx in
// OpenAI's error shape), bearer-token auth, and graceful shutdown (requests
// in flight finish; new ones get 503).
package serve

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/engine"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes        = 4 << 20
	DefaultMaxCompletionTokens = 4096
	DefaultMaxN                = 8
	DefaultShutdownTimeout     = 5 * time.Minute
)

// Config configures a Server.
type Config struct {
	// Model is the model served, under the name ModelID.
	Model   *model.Model
	ModelID string
	// Tokenizer encodes prompts and decodes completions.
	Tokenizer *tokenizer.Tokenizer
	// ChatTemplate renders chat messages (with ChatOptions' special
	// tokens); nil makes /v1/chat/completions answer 400.
	ChatTemplate *chat.Template
	ChatOptions  chat.Options
	// StopIDs end every completion (the model's end-of-sequence ids).
	StopIDs []int
	// APIKey, when set, is required as "Authorization: Bearer KEY" on
	// /v1/* and /metrics.
	APIKey string
	// MaxConcurrency is the number of sequences decoded together,
	// MaxQueue the number of requests that may wait for a slot (429 beyond
	// it) and MaxStepTokens the tokens fed per step (chunked prefill); 0
	// takes the engine's defaults.
	MaxConcurrency, MaxQueue, MaxStepTokens int
	// MaxBodyBytes caps request bodies (413 beyond it).
	MaxBodyBytes int64
	// MaxPromptTokens caps prompts (400); 0 means the model's context
	// length.
	MaxPromptTokens int
	// MaxCompletionTokens caps max_tokens (400) and is the default when a
	// request gives none.
	MaxCompletionTokens int
	// MaxN caps n, the choices per request.
	MaxN int
	// ShutdownTimeout bounds how long Run waits for requests in flight
	// after its context ends.
	ShutdownTimeout time.Duration
	// Log receives one line per request and the shutdown messages; nil
	// discards them.
	Log *log.Logger
}

func (c *Config) withDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxCompletionTokens == 0 {
		c.MaxCompletionTokens = DefaultMaxCompletionTokens
	}
	if c.MaxN == 0 {
		c.MaxN = DefaultMaxN
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Log == nil {
		c.Log = log.New(io.Discard, "", 0)
	}
}

// Server serves one model. Create it with New and start it with Run.
type Server struct {
	cfg     Config
	eng     *engine.Engine
	mux     *http.ServeMux
	created int64
	metrics *metrics

	// mu guards draining, inflight (requests being answered) and idle
	// (closed when the last one ends during a drain).
	mu       sync.Mutex
	draining bool
	inflight int
	idle     chan struct{}
}

//go:embed static
var static embed.FS

// New checks cfg and returns a server.
func New(cfg Config) (*Server, error) {
	cfg.withDefaults()
	if cfg.Model == nil || cfg.Tokenizer == nil {
		return nil, fmt.Errorf("serve: a model and a tokenizer are required")
	}
	if cfg.ModelID == "" {
		return nil, fmt.Errorf("serve: no model id")
	}
	if cfg.MaxBodyBytes < 0 || cfg.MaxPromptTokens < 0 || cfg.MaxCompletionTokens < 0 || cfg.MaxN < 0 {
		return nil, fmt.Errorf("serve: limits must be ≥ 0")
	}
	eng, err := engine.New(engine.Config{Model: cfg.Model, MaxConcurrency: cfg.MaxConcurrency, MaxQueue: cfg.MaxQueue, MaxStepTokens: cfg.MaxStepTokens})
	if err != nil {
		return nil, err
	}
	if cfg.MaxPromptTokens == 0 || (eng.ContextLength() > 0 && cfg.MaxPromptTokens > eng.ContextLength()) {
		cfg.MaxPromptTokens = eng.ContextLength()
	}
	s := &Server{cfg: cfg, eng: eng, mux: http.NewServeMux(), created: time.Now().Unix(), metrics: newMetrics()}
	page, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /", http.FileServerFS(page))
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.Handle("GET /metrics", s.api("metrics", s.serveMetrics))
	s.mux.Handle("GET /v1/models", s.api("models", s.models))
	s.mux.Handle("POST /v1/chat/completions", s.api("chat", s.chatCompletions))
	s.mux.Handle("POST /v1/completions", s.api("completions", s.completions))
	return s, nil
}

// Handler is the server's HTTP handler (what Run serves).
func (s *Server) Handler() http.Handler { return s.mux }

// Run starts the engine and serves HTTP on ln until ctx ends; then new
// requests get 503 while those in flight finish (for at most
// ShutdownTimeout), and Run returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	engCtx, stopEngine := context.WithCancel(context.Background())
	engDone := make(chan error, 1)
	go func() { engDone <- s.eng.Run(engCtx) }()
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 30 * time.Second}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-srvDone:
	case err = <-engDone:
	}
	waited := s.drain()
	s.cfg.Log.Printf("shutting down: waiting for requests in flight (at most %v)", s.cfg.ShutdownTimeout)
	select {
	case <-waited:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.cfg.Log.Printf("shutdown timeout: cancelling the requests still running")
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shCtx)
	stopEngine()
	<-engDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// api wraps an endpoint with shutdown refusal, auth, the body limit,
// in-flight accounting, metrics and the request log.
func (s *Server) api(name string, h func(w http.ResponseWriter, r *http.Request) *apiError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		var e *apiError
		switch {
		case !s.authorized(r):
			e = withCode(&apiError{status: 401, Message: "missing or wrong API key (send Authorization: Bearer KEY)", Type: "invalid_request_error"}, "invalid_api_key")
		case !s.enter():
			e = &apiError{status: 503, Message: "the server is shutting down", Type: "server_error"}
		default:
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
			e = h(rec, r)
			s.leave()
		}
		if e != nil {
			writeError(rec, e)
		}
		s.metrics.request(name, rec.status)
		s.cfg.Log.Printf("%s %s %d %v", r.Method, r.URL.Path, rec.status, time.Since(t0).Round(time.Millisecond))
	})
}

// enter counts a request in flight; it reports false once draining.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.inflight++
	return true
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// drain refuses new requests and returns a channel closed when none is in
// flight.
func (s *Server) drain() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	ch := make(chan struct{})
	if s.inflight == 0 {
		close(ch)
	} else {
		s.idle = ch
	}
	return ch
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.written {
		r.status, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.isDraining() {
		writeJSON(w, 503, map[string]string{"status": "shutting down"})
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ok"})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, 200, modelList{Object: "list", Data: []modelObject{{ID: s.cfg.ModelID, Object: "model", Created: s.created, OwnedBy: "smaug"}}})
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) *apiError {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.metrics.write(w, s.eng.Stats())
	return nil
}

// decodeBody reads a JSON request body into v.
func decodeBody(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{status: 413, Message: fmt.Sprintf("request body larger than %d bytes", tooBig.Limit), Type: "invalid_request_error"}
		}
		return errInvalid("", "read request body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := typeErr.Field[strings.LastIndex(typeErr.Field, ".")+1:]
			return errInvalid(field, "field %s: want %s, got JSON %s", field, typeErr.Type, typeErr.Value)
		}
		return errInvalid("", "request body is not valid JSON: %v", err)
	}
	return nil
}
