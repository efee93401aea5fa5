package main

import (
	"errors"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/smaug-dev/smaug/engine"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/serve"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newServeCmd()) }

func newServeCmd() *cobra.Command {
	var modelDir, adapterDir, addr, dtype, modelID string
	var cfg serve.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a model over an OpenAI-compatible HTTP API, with a chat page",
		Long: `Serve a model with OpenAI's API, so the openai clients, curl and a browser can
talk to it:

  GET  /v1/models            the served model (its id is --model-id)
  POST /v1/chat/completions  messages rendered with the model's chat template
  POST /v1/completions       raw prompts (text or token ids)
  GET  /health               200, or 503 while shutting down
  GET  /metrics              Prometheus text: requests, tokens, queue depth,
                             time to first token
  GET  /                     a chat page (streams replies; temperature and
                             max-tokens controls)

Requests take OpenAI's fields: temperature (default 1), top_p, top_k,
max_tokens or max_completion_tokens (default --max-completion-tokens), stop
(up to 4 strings), seed (choice i of n uses seed+i), n, logprobs and
top_logprobs, and stream (server-sent events ending with "data: [DONE]";
stream_options.include_usage adds a usage chunk).

Requests that arrive together share the model: the running batch (up to
--max-concurrency sequences) takes new requests at its next step, and a client
that disconnects frees its slot at the next step. New prompts are read in
chunks (at most --max-step-tokens tokens a step, after the running streams'
next tokens), so streams keep flowing while a long prompt is read. Requests beyond that wait
(at most --max-queue; more get 429). Errors come in OpenAI's shape:
{"error": {"message", "type", "param", "code"}}.

The server listens on loopback by default. With --api-key (or SMAUG_API_KEY)
/v1/* and /metrics need "Authorization: Bearer KEY". On SIGTERM or Ctrl-C,
new requests get 503 while those in flight finish (a second signal
ends the process at once).`,
		Example: `  smaug serve --model ./smaug-tuned
  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
      -d '{"model": "smaug-tuned", "messages": [{"role": "user", "content": "Hi!"}]}'

  # A LoRA adapter on its base, in bfloat16, reachable from other machines
  smaug serve --model ./Llama-3-8B-Instruct --adapter ./runs/dpop/adapter --dtype BF16 \
      --addr 0.0.0.0:8000 --api-key "$KEY" --model-id my-dpop

  # From Python or Node: any OpenAI client with base_url http://127.0.0.1:8080/v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(resolveModelArg(cmd.Context(), &modelDir), resolveModelArg(cmd.Context(), &adapterDir)); err != nil {
				return err
			}
			m, err := loadInference(modelDir, dtype)
			if err != nil {
				return err
			}
			defer m.Close()
			if adapterDir != "" {
				if _, err := model.LoadAdapter(m, adapterDir); err != nil {
					return err
				}
			}
			base, err := serve.ForModel(m, modelDir)
			if err != nil {
				return err
			}
			base.APIKey, base.MaxConcurrency, base.MaxQueue, base.MaxStepTokens = cfg.APIKey, cfg.MaxConcurrency, cfg.MaxQueue, cfg.MaxStepTokens
			base.MaxBodyBytes, base.MaxPromptTokens, base.MaxCompletionTokens, base.MaxN =
				cfg.MaxBodyBytes, cfg.MaxPromptTokens, cfg.MaxCompletionTokens, cfg.MaxN
			if base.APIKey == "" {
				base.APIKey = os.Getenv("SMAUG_API_KEY")
			}
			if modelID != "" {
				base.ModelID = modelID
			}
			logger := log.New(cmd.ErrOrStderr(), "", log.LstdFlags)
			base.Log = logger
			if base.ChatTemplate == nil {
				logger.Printf("%s has no chat template: /v1/chat/completions will answer 400", modelDir)
			}
			s, err := serve.New(base)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			if host, _, _ := net.SplitHostPort(addr); base.APIKey == "" && !isLoopback(host) {
				logger.Printf("warning: listening on %s without --api-key: anyone who can reach it can use the model", addr)
			}
			logger.Printf("serving %s at http://%s (chat page at /, API at /v1)", base.ModelID, ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // a second signal ends the process at once
			}()
			return s.Run(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "Hugging Face model folder with its tokenizer, hub repo id or .gguf file (required)")
	f.StringVar(&adapterDir, "adapter", "", "PEFT LoRA adapter folder to apply on the model")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	f.StringVar(&modelID, "model-id", "", "model name in the API (default: the model folder's name)")
	f.StringVar(&cfg.APIKey, "api-key", "", "require this bearer token (default $SMAUG_API_KEY; none when both are empty)")
	f.IntVar(&cfg.MaxConcurrency, "max-concurrency", engine.DefaultMaxConcurrency, "sequences decoded together")
	f.IntVar(&cfg.MaxQueue, "max-queue", engine.DefaultMaxQueue, "requests that may wait for a slot; more get 429")
	f.IntVar(&cfg.MaxStepTokens, "max-step-tokens", engine.DefaultMaxStepTokens, "tokens fed per step: running streams' next tokens, then chunks of new prompts")
	f.IntVar(&cfg.MaxPromptTokens, "max-prompt-tokens", 0, "longest prompt in tokens (0: the model's context length)")
	f.IntVar(&cfg.MaxCompletionTokens, "max-completion-tokens", serve.DefaultMaxCompletionTokens, "largest max_tokens, and the default")
	f.IntVar(&cfg.MaxN, "max-n", serve.DefaultMaxN, "most choices (n) per request")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", serve.DefaultMaxBodyBytes, "largest request body")
	f.StringVar(&dtype, "dtype", "F32", dtypeUsage)
	cmd.MarkFlagRequired("model")
	return cmd
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
