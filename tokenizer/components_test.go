package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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

// TestNormalizers checks each normalizer kind on inputs whose results
// follow from its definition (Unicode normal forms, Hugging Face's Strip,
// Prepend, Replace with a string or a regex, Sequence in order).
func TestNormalizers(t *testing.T) {
	cases := []struct{ spec, in, want string }{
		{`{"type": "NFC"}`, "e\u0301", "é"},
		{`{"type": "NFD"}`, "é", "e\u0301"},
		{`{"type": "NFKC"}`, "ﬁ①", "fi1"},
		{`{"type": "NFKD"}`, "ﬁé", "fie\u0301"},
		{`{"type": "Lowercase"}`, "ÀB", "àb"},
		{`{"type": "Strip", "strip_left": true, "strip_right": false}`, "  a  ", "a  "},
		{`{"type": "Strip", "strip_left": true, "strip_right": true}`, " \ta \n", "a"},
		{`{"type": "Prepend", "prepend": "▁"}`, "a", "▁a"},
		{`{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}`, "a b ", "a▁b▁"},
		{`{"type": "Replace", "pattern": {"Regex": " +"}, "content": "_"}`, "a   b c", "a_b_c"},
		{`{"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`, "Hi Yo", "▁hi▁yo"},
	}
	for _, c := range cases {
		n, err := hfNormalizer(json.RawMessage(c.spec), "normalizer")
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := n.normalize(c.in); got != c.want {
			t.Errorf("%s on %q: %q, want %q", c.spec, c.in, got, c.want)
		}
	}
}

// TestPreTokenizers checks the pieces each pre-tokenizer kind cuts a text
// into, by its definition in Hugging Face tokenizers (Whitespace is
// \w+|[^\w\s]+; Punctuation isolates each punctuation character; Split's
// behaviours keep, drop or attach the delimiter; ByteLevel maps bytes to
// its printable alphabet after the GPT-2 regex).
func TestPreTokenizers(t *testing.T) {
	cases := []struct {
		spec, in string
		want     []string
	}{
		{`{"type": "Whitespace"}`, "Hey, you!", []string{"Hey", ",", "you", "!"}},
		{`{"type": "WhitespaceSplit"}`, "a  b\tc", []string{"a", "b", "c"}},
		{`{"type": "Digits", "individual_digits": true}`, "a123b", []string{"a", "1", "2", "3", "b"}},
		{`{"type": "Digits", "individual_digits": false}`, "a123b", []string{"a", "123", "b"}},
		{`{"type": "Punctuation", "behavior": "Isolated"}`, "a,b!!", []string{"a", ",", "b", "!", "!"}},
		{`{"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed", "invert": false}`, "a-b", []string{"a", "b"}},
		{`{"type": "Split", "pattern": {"String": "-"}, "behavior": "Isolated", "invert": false}`, "a-b", []string{"a", "-", "b"}},
		{`{"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious", "invert": false}`, "a-b", []string{"a-", "b"}},
		{`{"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": false}`, "a-b", []string{"a", "-b"}},
		{`{"type": "Split", "pattern": {"String": "-"}, "behavior": "Contiguous", "invert": false}`, "a--b", []string{"a", "--", "b"}},
		{`{"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Isolated", "invert": true}`, "ab12cd", []string{"ab", "12", "cd"}},
		{`{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`, "Hi there", []string{"Hi", "Ġthere"}},
		{`{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}`, "Hi", []string{"ĠHi"}},
		{`{"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": true}]}`, "ab12 c", []string{"ab", "1", "2", "c"}},
	}
	for _, c := range cases {
		p, err := hfPreTokenizer(json.RawMessage(c.spec), "pre_tokenizer")
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		var got []string
		p.preTokenize(c.in, true, func(w string, _ bool) { got = append(got, w) })
		if !slices.Equal(got, c.want) {
			t.Errorf("%s on %q: %q, want %q", c.spec, c.in, got, c.want)
		}
	}
}

// TestDecoders checks each decoder kind on token lists whose text follows
// from its definition in Hugging Face tokenizers (ByteFallback turns
// <0xNN> runs into UTF-8, or U+FFFD per byte when invalid; Strip removes
// up to n copies of its character at each end of every token; Metaspace
// drops the first token's leading "▁" under prepend_scheme always/first).
func TestDecoders(t *testing.T) {
	cases := []struct {
		spec string
		in   []string
		want string
	}{
		{`{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}`, []string{"Hi", "Ġthere", "Ċ"}, "Hi there\n"},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`, []string{"▁Hi", "▁there"}, "Hi there"},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}`, []string{"▁Hi", "▁there"}, " Hi there"},
		{`{"type": "ByteFallback"}`, []string{"a", "<0xE2>", "<0x82>", "<0xAC>", "b"}, "a€b"},
		{`{"type": "ByteFallback"}`, []string{"<0xE2>", "<0x82>", "c"}, "\uFFFD\uFFFDc"},
		{`{"type": "Fuse"}`, []string{"a", " b", "c"}, "a bc"},
		{`{"type": "Strip", "content": " ", "start": 1, "stop": 0}`, []string{"  ab "}, " ab "},
		{`{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}`, []string{"▁a▁b"}, " a b"},
		{`{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}`,
			[]string{"▁Hello", "▁", "<0xF0>", "<0x9F>", "<0x99>", "<0x82>"}, "Hello 🙂"},
	}
	for _, c := range cases {
		d, err := hfDecoder(json.RawMessage(c.spec), "decoder")
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := strings.Join(d.decode(c.in), ""); got != c.want {
			t.Errorf("%s on %q: %q, want %q", c.spec, c.in, got, c.want)
		}
	}
}
