package tokenizer

import (
	"testing"
	"time"

	"github.com/smaug-dev/smaug/internal/fuzzlimit"
)

// FuzzParseHF feeds arbitrary tokenizer.json documents to the parser and
// encodes and decodes a sentence with whatever it accepts, under a memory
// limit: a panic, an id outside the vocabulary, or more than 256 MiB
// allocated for a document of a few kilobytes is a finding.
func FuzzParseHF(f *testing.F) {
	for _, s := range []string{
		`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`,
		`{"added_tokens": [{"id": 3, "content": "<s>", "special": true}], "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]], "byte_fallback": true},
		  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
		  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+|[a-z]+"}, "behavior": "Isolated"},
		  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "a"}}, {"Sequence": {"id": "A"}}], "special_tokens": {"a": {"ids": [0]}}}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}`,
	} {
		f.Add([]byte(s))
	}
	old := regexTimeout
	regexTimeout = 100 * time.Millisecond
	f.Cleanup(func() { regexTimeout = old })
	fuzzlimit.Set(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		fuzzlimit.Run(t, 256<<20, string(doc), func() {
			tk, err := parseHF(doc)
			if err != nil {
				return
			}
			ids := tk.Encode("Hello wörld, ab ab 123!", true)
			for _, id := range ids {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("id %d outside the vocabulary of %d", id, tk.VocabSize())
				}
			}
			tk.Decode(ids, true)
		})
	})
}
