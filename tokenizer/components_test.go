package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// tinyHF builds a tokenizer.json around a BPE model over the given tokens
// (ids in order) and merges, with the given added tokens and pipeline parts
// (JSON text, "null" for none).
func tinyHF(t *testing.T, tokens []string, merges []string, added, normalizer, pre string) *Tokenizer {
	t.Helper()
	vocab := map[string]int{}
	for i, s := range tokens {
		vocab[s] = i
	}
	v, _ := json.Marshal(vocab)
	m, _ := json.Marshal(merges)
	src := fmt.Sprintf(`{"added_tokens": %s, "normalizer": %s, "pre_tokenizer": %s, "post_processor": null, "decoder": null,
		"model": {"type": "BPE", "vocab": %s, "merges": %s}}`, added, normalizer, pre, v, m)
	tk, err := parseHF([]byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return tk
}

func tokenStrings(tk *Tokenizer, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tk.Token(id)
	}
	return out
}

// TestMetaspaceSchemes checks the Metaspace pre-tokenizer's prepend schemes
// and split flag against Hugging Face tokenizers' rules (hand-derived):
// spaces become "▁"; "always" prepends "▁" to every section not starting
// with one, "first" only to the section at offset 0 of the input (not to
// text after an added token), "never" to none; split cuts before each "▁"
// so no merge crosses it.
func TestMetaspaceSchemes(t *testing.T) {
	tokens := []string{"H", "e", "▁", "H▁", "<s>"}
	added := `[{"id": 4, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]`
	cases := []struct {
		scheme string
		split  bool
		text   string
		want   []string
	}{
		{"always", false, "H e", []string{"▁", "H▁", "e"}},
		{"first", false, "H e", []string{"▁", "H▁", "e"}},
		{"never", false, "H e", []string{"H▁", "e"}},
		{"never", true, "H e", []string{"H", "▁", "e"}},
		{"always", false, " H", []string{"▁", "H"}}, // already starts with ▁: nothing prepended
		{"always", false, "<s>H", []string{"<s>", "▁", "H"}},
		{"first", false, "<s>H", []string{"<s>", "H"}},
		{"never", false, "<s>H", []string{"<s>", "H"}},
	}
	for _, c := range cases {
		pre := fmt.Sprintf(`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": %q, "split": %v}`, c.scheme, c.split)
		tk := tinyHF(t, tokens, []string{"H ▁"}, added, "null", pre)
		if got := tokenStrings(tk, tk.Encode(c.text, false)); !slices.Equal(got, c.want) {
			t.Errorf("%s split=%v %q: %q, want %q", c.scheme, c.split, c.text, got, c.want)
		}
	}
}

// TestAddedTokenFlags checks single_word, lstrip and rstrip on added tokens
// against Hugging Face tokenizers' rules (hand-derived): a single_word
// token matches only where no word character touches it; lstrip and rstrip
// take the whitespace on that side into the token.
func TestAddedTokenFlags(t *testing.T) {
	tokens := []string{"a", "b", "x", " ", "ab", "<m>"}
	flags := func(id int, content string, single, l, r bool) string {
		return fmt.Sprintf(`[{"id": %d, "content": %q, "single_word": %v, "lstrip": %v, "rstrip": %v, "normalized": false, "special": false}]`,
			id, content, single, l, r)
	}
	cases := []struct {
		name, added, text string
		want              []string
	}{
		{"single_word", flags(4, "ab", true, false, false), "ab xab ab", []string{"ab", " ", "x", "a", "b", " ", "ab"}},
		{"not single_word", flags(4, "ab", false, false, false), "ab xab", []string{"ab", " ", "x", "ab"}},
		{"lstrip", flags(5, "<m>", false, true, false), "a  <m>b", []string{"a", "<m>", "b"}},
		{"rstrip", flags(5, "<m>", false, false, true), "a<m> b", []string{"a", "<m>", "b"}},
		{"neither", flags(5, "<m>", false, false, false), "a <m> b", []string{"a", " ", "<m>", " ", "b"}},
	}
	for _, c := range cases {
		tk := tinyHF(t, tokens, nil, c.added, "null", "null")
		if got := tokenStrings(tk, tk.Encode(c.text, false)); !slices.Equal(got, c.want) {
			t.Errorf("%s %q: %q, want %q", c.name, c.text, got, c.want)
		}
	}
}
