package reproduce

import (
	"encoding/json"
	"fmt"
)

// The embedded default model reads bytes: id 0 is <s> (BOS), 1 is </s>
// (EOS), and byte b is id 2+b. ByteTokenizerJSON writes that vocabulary as a
// Hugging Face tokenizer.json (a byte-level BPE with no merges), so the base
// model folder is a complete checkpoint any tool can load.

const (
	byteBOS    = 0
	byteEOS    = 1
	byteOffset = 2
	byteVocab  = 258
)

// encodeBytes is the byte tokenizer's encoding of text (no special tokens).
func encodeBytes(s string) []int {
	ids := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = byteOffset + int(s[i])
	}
	return ids
}

// decodeBytes inverts encodeBytes, dropping special tokens.
func decodeBytes(ids []int) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= byteOffset && id < byteVocab {
			b = append(b, byte(id-byteOffset))
		}
	}
	return string(b)
}

// gpt2ByteChars is GPT-2's byte-to-unicode map used by byte-level BPE.
func gpt2ByteChars() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// ByteTokenizerJSON returns the tokenizer.json of the byte vocabulary, with
// BOS added by the post-processor.
func ByteTokenizerJSON() []byte {
	chars := gpt2ByteChars()
	vocab := map[string]int{"<s>": byteBOS, "</s>": byteEOS}
	for b := 0; b < 256; b++ {
		vocab[string(chars[b])] = byteOffset + b
	}
	special := func(id int, s string) map[string]any {
		return map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	tok := map[string]any{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  []any{special(byteBOS, "<s>"), special(byteEOS, "</s>")},
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{byteBOS}, "tokens": []string{"<s>"}}},
		},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": []any{}},
	}
	b, err := json.MarshalIndent(tok, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("byte tokenizer: %v", err))
	}
	return b
}

// byteTokenizerConfig is the tokenizer_config.json beside it.
func byteTokenizerConfig() []byte {
	return []byte(`{
  "add_bos_token": true,
  "add_eos_token": false,
  "bos_token": "<s>",
  "eos_token": "</s>",
  "model_max_length": 512,
  "tokenizer_class": "PreTrainedTokenizerFast"
}
`)
}
