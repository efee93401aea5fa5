package train

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// byteEncoder encodes text as one token per byte (id = byte + 3), with BOS
// 1 and EOS 2: an encoder whose output a test can write down by hand.
type byteEncoder struct{}

func (byteEncoder) Encode(s string, addSpecial bool) []int {
	var ids []int
	if addSpecial {
		ids = append(ids, 1)
	}
	for _, b := range []byte(s) {
		ids = append(ids, int(b)+3)
	}
	return ids
}
func (byteEncoder) BOS() int { return 1 }
func (byteEncoder) EOS() int { return 2 }

// writeLines writes the lines to dir/name and returns its path.
func writeLines(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadExamplesBadRows(t *testing.T) {
	good := `{"prompt": "ab", "chosen": "c", "rejected": "d"}`
	for _, tc := range []struct {
		name string
		mode Mode
		row  string
		want string // in the error, after "file:2: "
	}{
		{"missing rejected", "pref", `{"prompt": "ab", "chosen": "c"}`, `field "rejected": missing`},
		{"missing chosen", "pref", `{"prompt": "ab", "rejected": "c"}`, `field "chosen": missing`},
		{"empty chosen", "pref", `{"prompt": "ab", "chosen": "", "rejected": "d"}`, `field "chosen": want a non-empty string`},
		{"blank rejected", "pref", `{"prompt": "ab", "chosen": "c", "rejected": "  "}`, `field "rejected": want a non-empty string`},
		{"prompt not a string", "pref", `{"prompt": 7, "chosen": "c", "rejected": "d"}`, `field "prompt": want a string`},
		{"chosen a number", "pref", `{"prompt": "ab", "chosen": 3, "rejected": "d"}`, `field "chosen": want a string or a list of {role, content} messages, got float64`},
		{"ids not a list", "pref", `{"prompt_ids": [5], "chosen_ids": "x", "rejected_ids": [6]}`, `field "chosen_ids": want a list of token ids, got string`},
		{"empty ids", "pref", `{"prompt_ids": [5], "chosen_ids": [6], "rejected_ids": []}`, `field "rejected_ids": is empty`},
		{"fractional id", "pref", `{"prompt_ids": [5], "chosen_ids": [6.5], "rejected_ids": [7]}`, `field "chosen_ids": item 0: 6.5 is not a token id`},
		{"negative id", "pref", `{"prompt_ids": [-1], "chosen_ids": [6], "rejected_ids": [7]}`, `field "prompt_ids": item 0: -1 is not a token id`},
		{"message without role", "pref", `{"prompt": [{"content": "x"}], "chosen": [{"role": "assistant", "content": "c"}], "rejected": [{"role": "assistant", "content": "d"}]}`, `field "prompt": message 0: missing role`},
		{"sft missing completion", "sft", `{"prompt": "ab"}`, `field "completion": missing`},
		{"sft empty text", "sft", `{"text": ""}`, `field "text": want a non-empty string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := good
			if tc.mode == "sft" {
				first = `{"prompt": "ab", "completion": "c"}`
			}
			path := writeLines(t, dir, "rows.jsonl", first, tc.row, first)
			o := LoadOptions{Mode: tc.mode, Encoder: byteEncoder{}, MaxLength: 64, MaxPromptLength: 32}
			_, _, err := LoadExamples(path, o)
			if err == nil {
				t.Fatal("no error")
			}
			if want := path + ":2: " + tc.want; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
			if !strings.Contains(err.Error(), "SkipBadRows") {
				t.Errorf("error %q does not mention SkipBadRows", err)
			}
			o.SkipBadRows = true
			exs, st, err := LoadExamples(path, o)
			if err != nil {
				t.Fatalf("with SkipBadRows: %v", err)
			}
			if len(exs) != 2 || st.Rows != 3 || st.Skipped != 1 || st.Examples != 2 || len(st.SkipReasons) != 1 {
				t.Errorf("with SkipBadRows: %d examples, stats %+v; want 2 examples of 3 rows, 1 skipped", len(exs), st)
			}
		})
	}
}

// TestLoadExamplesEncoding checks the token ids of each row layout against
// ids written by hand with the byte encoder (id = byte + 3, BOS 1, EOS 2).
func TestLoadExamplesEncoding(t *testing.T) {
	chat := func(msgs []map[string]any, gen bool) (string, error) {
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(m["role"].(string)[:1] + ":" + m["content"].(string) + ";")
		}
		if gen {
			b.WriteString("a:")
		}
		return b.String(), nil
	}
	ids := func(s string) []int { return byteEncoder{}.Encode(s, false) }
	cat := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		mode Mode
		row  string
		want Example
	}{
		{"token ids", "pref", `{"prompt_ids": [5, 6], "chosen_ids": [7], "rejected_ids": [8, 9]}`,
			Example{Prompt: []int{5, 6}, Chosen: []int{7}, Rejected: []int{8, 9}}},
		{"standard text", "pref", `{"prompt": "hi", "chosen": "yes", "rejected": "no"}`,
			Example{Prompt: cat([]int{1}, ids("hi")), Chosen: cat(ids("yes"), []int{2}), Rejected: cat(ids("no"), []int{2})}},
		{"conversational with prompt", "pref",
			`{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "yes"}], "rejected": [{"role": "assistant", "content": "no"}]}`,
			Example{Prompt: cat([]int{1}, ids("u:hi;a:")), Chosen: ids("yes;"), Rejected: ids("no;")}},
		{"conversational, implicit prompt", "pref",
			`{"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}], "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "no"}]}`,
			Example{Prompt: cat([]int{1}, ids("u:hi;a:")), Chosen: ids("yes;"), Rejected: ids("no;")}},
		{"sft prompt/completion", "sft", `{"prompt": "hi", "completion": "yes"}`,
			Example{Prompt: cat([]int{1}, ids("hi")), Chosen: cat(ids("yes"), []int{2})}},
		{"sft text", "sft", `{"text": "hey"}`,
			Example{Prompt: []int{1}, Chosen: cat(ids("hey"), []int{2})}},
		{"sft ids", "sft", `{"prompt_ids": [5], "completion_ids": [6, 7]}`,
			Example{Prompt: []int{5}, Chosen: []int{6, 7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLines(t, t.TempDir(), "rows.jsonl", tc.row)
			exs, _, err := LoadExamples(path, LoadOptions{Mode: tc.mode, Encoder: byteEncoder{}, Chat: chat, MaxLength: 64, MaxPromptLength: 32})
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Source, tc.want.Line = path, 1
			if !reflect.DeepEqual(exs[0], tc.want) {
				t.Errorf("got  %+v\nwant %+v", exs[0], tc.want)
			}
		})
	}
}

// TestLoadExamplesTruncation checks TRL's truncation: the prompt keeps its
// last MaxPromptLength tokens, then each completion its first
// MaxLength − len(prompt), each counted once per example.
func TestLoadExamplesTruncation(t *testing.T) {
	path := writeLines(t, t.TempDir(), "rows.jsonl",
		`{"prompt_ids": [1, 2, 3, 4, 5, 6], "chosen_ids": [10, 11, 12, 13], "rejected_ids": [20]}`,     // both cut
		`{"prompt_ids": [1, 2], "chosen_ids": [10, 11, 12, 13, 14, 15, 16], "rejected_ids": [20, 21]}`, // chosen cut
		`{"prompt_ids": [1, 2, 3, 4, 5], "chosen_ids": [10], "rejected_ids": [20]}`,                    // prompt cut
		`{"prompt_ids": [1, 2], "chosen_ids": [10], "rejected_ids": [20]}`)                             // untouched
	exs, st, err := LoadExamples(path, LoadOptions{Mode: Preference, MaxLength: 6, MaxPromptLength: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := [][3][]int{
		{{3, 4, 5, 6}, {10, 11}, {20}},
		{{1, 2}, {10, 11, 12, 13}, {20, 21}},
		{{2, 3, 4, 5}, {10}, {20}},
		{{1, 2}, {10}, {20}},
	}
	for i, w := range want {
		if got := [3][]int{exs[i].Prompt, exs[i].Chosen, exs[i].Rejected}; !reflect.DeepEqual(got, w) {
			t.Errorf("row %d: got %v, want %v", i+1, got, w)
		}
	}
	if st.TruncatedPrompt != 2 || st.TruncatedCompletion != 2 {
		t.Errorf("counted %d prompts and %d completions truncated; want 2 and 2", st.TruncatedPrompt, st.TruncatedCompletion)
	}
}
