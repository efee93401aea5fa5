package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/tokenizer"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newTokenizeCmd()) }

func newTokenizeCmd() *cobra.Command {
	var path, text string
	var addSpecial, decode, skipSpecial, hasText bool
	cmd := &cobra.Command{
		Use:   "tokenize --tokenizer PATH [--text TEXT] [--add-special-tokens] [--decode]",
		Short: "Encode text to token ids, or decode ids to text",
		Long: `tokenize converts text to token ids exactly as Hugging Face tokenizers,
the sentencepiece library or llama.cpp would, and back.

PATH is a tokenizer.json, a SentencePiece .model, a .gguf file, or a model
folder (tokenizer.json is preferred there, then tokenizer.model; the
tokenizer_config.json beside it sets bos/eos tokens and add_bos_token).

The text comes from --text or, without it, from standard input (read to
the end, nothing trimmed). Ids are printed as one JSON list. With --decode
the input is a list of ids instead (a JSON list, or numbers separated by
spaces or commas) and the decoded text is printed as it is.`,
		Example: `  # ids of a prompt, with the BOS token the model expects
  smaug tokenize --tokenizer models/Llama-2-7b --add-special-tokens --text "Hello world"
  [1,15043,3186]

  # encode a file
  smaug tokenize --tokenizer tokenizer.json < prompt.txt

  # decode ids back to text, dropping special tokens
  smaug tokenize --tokenizer vocab.gguf --decode --skip-special-tokens --text "[1, 15043, 3186]"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return fmt.Errorf("--tokenizer is required (a tokenizer.json, .model, .gguf or model folder)")
			}
			if err := resolveTokenizerArg(cmd.Context(), &path); err != nil {
				return err
			}
			tok, err := tokenizer.Load(path)
			if err != nil {
				return err
			}
			hasText = cmd.Flags().Changed("text")
			in := text
			if !hasText {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				in = string(b)
			}
			out := cmd.OutOrStdout()
			if decode {
				ids, err := parseTokenIDs(in)
				if err != nil {
					return err
				}
				for _, id := range ids {
					if id < 0 || id >= tok.VocabSize() {
						return fmt.Errorf("id %d is outside the vocabulary (0..%d)", id, tok.VocabSize()-1)
					}
				}
				text := tok.Decode(ids, skipSpecial)
				if err := tok.Err(); err != nil {
					return err
				}
				_, err = io.WriteString(out, text)
				return err
			}
			ids := tok.Encode(in, addSpecial)
			if err := tok.Err(); err != nil {
				return err
			}
			if ids == nil {
				ids = []int{}
			}
			b, err := json.Marshal(ids)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "%s\n", b)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "tokenizer", "", "tokenizer.json, SentencePiece .model, .gguf file, or model folder")
	f.StringVar(&text, "text", "", "text to encode (or ids with --decode); default: read standard input")
	f.BoolVar(&addSpecial, "add-special-tokens", false, "add the special tokens the tokenizer adds around a text (usually BOS)")
	f.BoolVar(&decode, "decode", false, "decode a list of ids to text instead of encoding")
	f.BoolVar(&skipSpecial, "skip-special-tokens", false, "with --decode, leave special tokens (BOS, EOS, chat markers) out of the text")
	return cmd
}

// parseTokenIDs reads a JSON list of ids, or ids separated by spaces or commas.
func parseTokenIDs(s string) ([]int, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") {
		var ids []int
		if err := json.Unmarshal([]byte(t), &ids); err != nil {
			return nil, fmt.Errorf("--decode input: want a JSON list of ids: %w", err)
		}
		return ids, nil
	}
	var ids []int
	for i, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--decode input: item %d (%q) is not an integer id", i+1, f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
