package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/smaug-dev/smaug/chat"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newChatCmd()) }

// chatArgs are the flags of smaug chat.
type chatArgs struct {
	configPath, messagesPath, templateName, templateFile, toolsPath string
	addGenerationPrompt                                             bool
	vars                                                            []string
}

func newChatCmd() *cobra.Command {
	var a chatArgs
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Render a conversation with a model's chat template, exactly as transformers does",
		Long: `Render a conversation into the prompt text a model was trained on, with the
chat template from its tokenizer_config.json (or the chat_template.jinja saved
beside it), byte for byte as Hugging Face transformers' apply_chat_template
(tokenize=False) renders it.

--messages is a JSON list of messages, each an object with "role" and
"content" (a string, or a list of parts for multimodal templates), plus any
field the template reads ("tool_calls", "name", ...). Use - for stdin.

The template sees bos_token, eos_token (and pad_token, unk_token when set)
from the tokenizer config, add_generation_prompt, tools and documents (None
unless given), and each --var. When the template raises an error (for
example "Conversation roles must alternate"), smaug chat fails with that
message and the template line.

The prompt is printed with no newline added, so it can be piped on exactly.`,
		Example: `  # Prompt for the next assistant turn of a Llama-3 model
  smaug chat --tokenizer-config ./Meta-Llama-3-8B-Instruct --messages conv.json --add-generation-prompt

  # conv.json:
  # [{"role": "system", "content": "You are Smaug."},
  #  {"role": "user", "content": "What is 2+2?"}]

  # A named template (tokenizers with several), tool definitions and a template switch
  smaug chat --tokenizer-config tokenizer_config.json --template tool_use \
      --tools tools.json --var enable_thinking=false --messages conv.json

  # Try a template file of your own with a model's special tokens
  echo '[{"role":"user","content":"Hi"}]' | smaug chat --tokenizer-config ./model \
      --template-file my_template.jinja --messages -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolveTokenizerArg(cmd.Context(), &a.configPath); err != nil {
				return err
			}
			return runChat(cmd.OutOrStdout(), cmd.InOrStdin(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.configPath, "tokenizer-config", "", "tokenizer_config.json, or the model folder holding it (required)")
	f.StringVar(&a.messagesPath, "messages", "", "JSON file with the list of messages, - for stdin (required)")
	f.BoolVar(&a.addGenerationPrompt, "add-generation-prompt", false, "end with the header of an assistant turn, ready for generation")
	f.StringVar(&a.templateName, "template", "", "name of the chat template to use when the tokenizer has several (default: \"default\")")
	f.StringVar(&a.templateFile, "template-file", "", "render this Jinja file instead of the tokenizer's template")
	f.StringVar(&a.toolsPath, "tools", "", "JSON file with a list of tool (function) definitions, passed as tools")
	f.StringArrayVar(&a.vars, "var", nil, "extra template variable NAME=VALUE; VALUE is read as JSON when it parses, else as a string (repeatable)")
	cmd.MarkFlagRequired("tokenizer-config")
	cmd.MarkFlagRequired("messages")
	return cmd
}

func runChat(w io.Writer, stdin io.Reader, a chatArgs) error {
	cfg, err := chat.LoadTokenizerConfig(a.configPath)
	if err != nil {
		return err
	}
	src, srcName := "", ""
	if a.templateFile != "" {
		b, err := os.ReadFile(a.templateFile)
		if err != nil {
			return fmt.Errorf("read template: %w", err)
		}
		src, srcName = string(b), a.templateFile
	} else {
		if src, err = cfg.Template(a.templateName); err != nil {
			return err
		}
		srcName = cfg.Path + " (chat template)"
	}
	tmpl, err := chat.Parse(src)
	if err != nil {
		return fmt.Errorf("%s: %w", srcName, err)
	}

	var data []byte
	if a.messagesPath == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(a.messagesPath)
	}
	if err != nil {
		return fmt.Errorf("read messages: %w", err)
	}
	msgs, err := chat.DecodeMessages(data)
	if err != nil {
		return fmt.Errorf("%s: %w", a.messagesPath, err)
	}

	opt := cfg.RenderOptions(a.addGenerationPrompt)
	if a.toolsPath != "" {
		b, err := os.ReadFile(a.toolsPath)
		if err != nil {
			return fmt.Errorf("read tools: %w", err)
		}
		v, err := chat.DecodeJSON(b)
		if err != nil {
			return fmt.Errorf("%s: %w", a.toolsPath, err)
		}
		tools, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want a JSON list of tool definitions", a.toolsPath)
		}
		opt.Tools = tools
	}
	for _, kv := range a.vars {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return fmt.Errorf("--var %q: want NAME=VALUE", kv)
		}
		if opt.Extra == nil {
			opt.Extra = map[string]any{}
		}
		opt.Extra[name] = val
		if json.Valid([]byte(val)) {
			if v, err := chat.DecodeJSON([]byte(val)); err == nil {
				opt.Extra[name] = v
			}
		}
	}

	out, err := tmpl.Render(msgs, opt)
	if err != nil {
		return fmt.Errorf("render %s with %s: %w", srcName, a.messagesPath, err)
	}
	_, err = io.WriteString(w, out)
	return err
}
