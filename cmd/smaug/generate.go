package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newGenerateCmd()) }

// generateArgs are the flags of smaug generate.
type generateArgs struct {
	modelDir, tokenizerPath, dtype string
	prompt, promptIDs, messages    string
	chat, stopAtEOS                bool
	opt                            model.GenerateOptions
}

func newGenerateCmd() *cobra.Command {
	var a generateArgs
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Continue a prompt with a model: text in, text out (KV-cache decoding)",
		Long: `Continue a prompt and print what the model writes.

The prompt is text (--prompt, tokenised with the model's tokenizer, BOS added
as the tokenizer's config says), a chat (--chat renders --prompt as one user
message through the model's chat template, with the generation prompt;
--messages FILE renders a JSON list of {"role", "content"} messages), or token
ids (--prompt-ids, printed back as a JSON list of new ids). Text is printed as
it is generated.

Generation stops at the model's end-of-sequence token (eos_token_id in
config.json, and the tokenizer's EOS) unless --stop-at-eos=false, or after
--max-new-tokens. A warning is printed when prompt and new tokens pass the
model's max_position_embeddings.

Decoding is greedy at --temperature 0 (the default). Otherwise the logits are
divided by the temperature, cut to the --top-k most likely tokens and then to
the smallest set reaching probability --top-p, and a token is drawn with a
generator seeded by --seed (the same seed gives the same tokens).`,
		Example: `  smaug generate --model ./policy --prompt "Question: Tom has 3 apples. He buys 4 more. How many apples does he have?
Answer:"
  smaug generate --model Qwen2.5-0.5B-Instruct --chat --prompt "Write a haiku about dragons." --temperature 0.7 --seed 1
  smaug generate --model ./policy --messages conversation.json --max-new-tokens 256
  smaug generate --model ./policy --prompt-ids 5,17,42 --max-new-tokens 16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolveModelArg(cmd.Context(), &a.modelDir); err != nil {
				return err
			}
			return runGenerate(cmd.OutOrStdout(), cmd.ErrOrStderr(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.modelDir, "model", "", "Hugging Face model folder, hub repo id or .gguf file (required)")
	f.StringVar(&a.tokenizerPath, "tokenizer", "", "tokenizer file or folder (default: the model folder)")
	f.StringVar(&a.prompt, "prompt", "", "prompt text (with --chat: the user's message)")
	f.BoolVar(&a.chat, "chat", false, "render --prompt as a user message through the model's chat template")
	f.StringVar(&a.messages, "messages", "", "JSON file with a list of chat messages, rendered through the chat template (- for stdin)")
	f.StringVar(&a.promptIDs, "prompt-ids", "", "prompt token ids, comma-separated; the output is then the new ids as JSON")
	f.IntVar(&a.opt.MaxNewTokens, "max-new-tokens", 128, "most tokens to generate")
	f.Float64Var(&a.opt.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.IntVar(&a.opt.TopK, "top-k", 0, "keep only the k most likely tokens (0: all)")
	f.Float64Var(&a.opt.TopP, "top-p", 1, "nucleus sampling: keep the smallest set of tokens reaching this probability, in (0, 1]")
	f.Uint64Var(&a.opt.Seed, "seed", 0, "random seed for sampling")
	f.BoolVar(&a.stopAtEOS, "stop-at-eos", true, "stop after the model's end-of-sequence token")
	f.StringVar(&a.dtype, "dtype", "F32", dtypeUsage)
	cmd.MarkFlagRequired("model")
	return cmd
}

// runGenerate does smaug generate: the prompt as ids, the model's
// continuation printed as text (streaming) or as ids.
func runGenerate(w, warn io.Writer, a generateArgs) error {
	given := 0
	for _, s := range []string{a.prompt, a.promptIDs, a.messages} {
		if s != "" {
			given++
		}
	}
	switch {
	case given != 1:
		return fmt.Errorf("give exactly one of --prompt, --messages and --prompt-ids")
	case a.chat && a.prompt == "":
		return fmt.Errorf("--chat renders --prompt as a user message: give --prompt (or a whole conversation with --messages)")
	case a.opt.MaxNewTokens < 0:
		return fmt.Errorf("--max-new-tokens must be ≥ 0, got %d", a.opt.MaxNewTokens)
	case !(a.opt.Temperature >= 0):
		return fmt.Errorf("--temperature must be ≥ 0, got %v", a.opt.Temperature)
	case a.opt.TopK < 0:
		return fmt.Errorf("--top-k must be ≥ 0 (0: all tokens), got %d", a.opt.TopK)
	case !(a.opt.TopP > 0 && a.opt.TopP <= 1):
		return fmt.Errorf("--top-p must be in (0, 1], got %v", a.opt.TopP)
	}
	var tok *tokenizer.Tokenizer
	var prompt []int
	if a.promptIDs != "" {
		ids, err := parseIDs(a.promptIDs)
		if err != nil {
			return fmt.Errorf("--prompt-ids: %w", err)
		}
		prompt = ids
	} else {
		tp := a.tokenizerPath
		if tp == "" {
			tp = a.modelDir
		}
		var err error
		if tok, err = tokenizer.Load(tp); err != nil {
			return err
		}
		if prompt, err = encodePrompt(tok, tp, a); err != nil {
			return err
		}
	}
	m, err := loadInference(a.modelDir, a.dtype)
	if err != nil {
		return err
	}
	defer m.Close()
	if a.stopAtEOS {
		a.opt.StopIDs = append([]int(nil), m.Config.EOSTokenIDs...)
		if tok != nil && tok.EOS() >= 0 {
			a.opt.StopIDs = append(a.opt.StopIDs, tok.EOS())
		}
	}
	if maxPos := m.Config.MaxPositionEmbeddings; maxPos > 0 && len(prompt)+a.opt.MaxNewTokens > maxPos {
		fmt.Fprintf(warn, "warning: the prompt's %d tokens and up to %d new ones pass the model's max_position_embeddings (%d): text past it is out of what the model was trained on\n",
			len(prompt), a.opt.MaxNewTokens, maxPos)
	}
	if tok == nil {
		out, err := m.Generate(prompt, a.opt)
		if err != nil {
			return err
		}
		if out == nil {
			out = []int{}
		}
		b, _ := json.Marshal(out)
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	// Stream text: decode everything generated so far and print what is
	// new, holding back a trailing incomplete UTF-8 sequence.
	var ids []int
	printed := 0
	var werr error
	a.opt.OnToken = func(id int) bool {
		ids = append(ids, id)
		text := tok.Decode(ids, true)
		if strings.HasSuffix(text, string(utf8.RuneError)) {
			return true
		}
		if len(text) > printed {
			_, werr = io.WriteString(w, text[printed:])
			printed = len(text)
		}
		return werr == nil
	}
	if _, err := m.Generate(prompt, a.opt); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if text := tok.Decode(ids, true); len(text) > printed {
		io.WriteString(w, text[printed:])
	}
	_, err = fmt.Fprintln(w)
	return err
}

// encodePrompt turns --prompt or --messages into token ids: plain text
// with the tokenizer's special tokens, a chat through the chat template of
// the tokenizer_config.json beside the tokenizer (the rendered text holds
// its own BOS, so none is added, as transformers' apply_chat_template).
func encodePrompt(tok *tokenizer.Tokenizer, tokPath string, a generateArgs) ([]int, error) {
	if !a.chat && a.messages == "" {
		return tok.Encode(a.prompt, true), nil
	}
	cfgPath := tokPath
	if st, err := os.Stat(tokPath); err == nil && !st.IsDir() {
		cfgPath = filepath.Dir(tokPath)
	}
	cfg, err := chat.LoadTokenizerConfig(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	src, err := cfg.Template("")
	if err != nil {
		return nil, err
	}
	tmpl, err := chat.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s (chat template): %w", cfg.Path, err)
	}
	msgs := []chat.Message{{"role": "user", "content": a.prompt}}
	if a.messages != "" {
		var data []byte
		if a.messages == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(a.messages)
		}
		if err != nil {
			return nil, fmt.Errorf("read messages: %w", err)
		}
		if msgs, err = chat.DecodeMessages(data); err != nil {
			return nil, fmt.Errorf("%s: %w", a.messages, err)
		}
	}
	text, err := tmpl.Render(msgs, cfg.RenderOptions(true))
	if err != nil {
		return nil, fmt.Errorf("%s (chat template): %w", cfg.Path, err)
	}
	return tok.Encode(text, false), nil
}

// parseIDs parses "5,17,42" (spaces and a JSON-style [..] allowed).
func parseIDs(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if s == "" {
		return nil, fmt.Errorf("no token ids")
	}
	var ids []int
	for i, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("item %d %q is not an integer", i+1, f)
		}
		ids = append(ids, v)
	}
	return ids, nil
}
