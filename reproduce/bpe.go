package reproduce

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/dlclark/regexp2/v2"
)

// The base model's tokenizer is a byte-level BPE trained on the training
// problems: words and punctuation merge into single tokens, digits stay
// one token each (so arithmetic is done digit by digit, as with Llama's
// tokenizers), which makes sequences about a third as long as bytes.

// preTokenPattern splits text before BPE: words with a leading space,
// single digits, punctuation runs, whitespace.
const preTokenPattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// TrainBPE learns merges on texts until the vocabulary (2 special tokens,
// 256 bytes, then merged tokens) has vocabSize entries or no pair occurs
// twice, and returns the Hugging Face tokenizer.json.
func TrainBPE(texts []string, vocabSize int) ([]byte, error) {
	re := regexp2.MustCompile(preTokenPattern, regexp2.Unicode)
	chars := gpt2ByteChars()
	// Word frequencies, each word as a list of symbols (byte chars).
	freq := map[string]int{}
	for _, t := range texts {
		m, err := re.FindStringMatch(t)
		for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
			freq[m.String()]++
		}
		if err != nil {
			return nil, err
		}
	}
	type word struct {
		syms []string
		n    int
	}
	words := make([]word, 0, len(freq))
	keys := make([]string, 0, len(freq))
	for w := range freq {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	for _, w := range keys {
		var syms []string
		for _, b := range []byte(w) {
			syms = append(syms, string(chars[b]))
		}
		words = append(words, word{syms, freq[w]})
	}
	vocab := map[string]int{"<s>": byteBOS, "</s>": byteEOS}
	for b := 0; b < 256; b++ {
		vocab[string(chars[b])] = byteOffset + b
	}
	var merges []string
	for len(vocab) < vocabSize {
		counts := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				counts[[2]string{w.syms[i], w.syms[i+1]}] += w.n
			}
		}
		var best [2]string
		bestN := 1
		for p, n := range counts {
			if n > bestN || (n == bestN && bestN > 1 && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		merged := best[0] + best[1]
		merges = append(merges, best[0]+" "+best[1])
		vocab[merged] = len(vocab)
		for i := range words {
			s := words[i].syms
			out := s[:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best[0] && s[j+1] == best[1] {
					out = append(out, merged)
					j++
					continue
				}
				out = append(out, s[j])
			}
			words[i].syms = out
		}
	}
	special := func(id int, s string) map[string]any {
		return map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	tok := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": []any{special(byteBOS, "<s>"), special(byteEOS, "</s>")},
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": preTokenPattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{
			"type":           "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{byteBOS}, "tokens": []string{"<s>"}}},
		},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": merges},
	}
	b, err := json.MarshalIndent(tok, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return b, nil
}
