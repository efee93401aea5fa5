package tokenizer_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/smaug-dev/smaug/tokenizer"
)

// tinyTokenizerJSON is a tokenizer.json as the tokenizers library writes
// it for a SentencePiece-style BPE: lowercased text, words marked with "▁"
// (Metaspace), merges up to whole words, <s> added in front by the
// post-processor.
const tinyTokenizerJSON = `{
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": {"type": "Lowercase"},
  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}
  },
  "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
  "model": {
    "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
    "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
    "vocab": {"<s>": 0, "</s>": 1, "▁": 2, "d": 3, "e": 4, "h": 5, "l": 6, "o": 7, "r": 8, "w": 9, "!": 10,
      "▁h": 11, "▁he": 12, "ll": 13, "▁hell": 14, "▁hello": 15,
      "▁w": 16, "▁wo": 17, "▁wor": 18, "▁worl": 19, "▁world": 20},
    "merges": [["▁", "h"], ["▁h", "e"], ["l", "l"], ["▁he", "ll"], ["▁hell", "o"],
      ["▁", "w"], ["▁w", "o"], ["▁wo", "r"], ["▁wor", "l"], ["▁worl", "d"]]
  }
}`

// Load a tokenizer folder (here a tokenizer.json written to a temporary
// folder; a Hugging Face model folder works the same), encode text with its
// special tokens, and decode the ids back.
func Example() {
	dir, err := os.MkdirTemp("", "tokenizer-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tinyTokenizerJSON), 0o644); err != nil {
		log.Fatal(err)
	}

	tok, err := tokenizer.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Hello world!", true)
	fmt.Println("ids:", ids)
	var tokens []string
	for _, id := range ids {
		tokens = append(tokens, tok.Token(id))
	}
	fmt.Printf("tokens: %q\n", tokens)
	fmt.Println("decoded:", tok.Decode(ids, true))
	fmt.Println("vocabulary:", tok.VocabSize(), "tokens; BOS", tok.BOS())
	// Output:
	// ids: [0 15 20 10]
	// tokens: ["<s>" "▁hello" "▁world" "!"]
	// decoded: hello world!
	// vocabulary: 21 tokens; BOS 0
}
