package train

import (
	"reflect"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/promptfmt"
)

// testChat is a small chat template written out by hand: "<|u|>text<|e|>"
// per user turn, "<|a|>text<|e|>" per assistant turn, "<|a|>" as the
// generation prompt.
func testChat(msgs []map[string]any, gen bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(map[string]string{"user": "<|u|>", "assistant": "<|a|>"}[m["role"].(string)])
		b.WriteString(m["content"].(string))
		b.WriteString("<|e|>")
	}
	if gen {
		b.WriteString("<|a|>")
	}
	return b.String(), nil
}

// TestLoadFormats: a text row through the gsm8k template gives the tokens
// of the same row written pre-formatted (hand-built byte ids: BOS 1, bytes
// + 3, EOS 2); a text row with ChatStrings gives the example of the same row
// written as messages; a row without rejected loads with OptionalRejected
// only.
func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	gsm, err := promptfmt.Parse("gsm8k")
	if err != nil {
		t.Fatal(err)
	}
	load := func(o LoadOptions, line string) Example {
		t.Helper()
		o.Mode, o.Encoder, o.MaxLength, o.MaxPromptLength = Preference, byteEncoder{}, 1000, 999
		exs, _, err := LoadExamples(writeLines(t, dir, "rows.jsonl", line), o)
		if err != nil {
			t.Fatal(err)
		}
		return exs[0]
	}
	strip := func(e Example) Example { e.Source, e.Line = "", 0; return e }
	formatted := load(LoadOptions{Format: gsm}, `{"prompt": "2+2?", "chosen": "4", "rejected": "5"}`)
	by := func(s string) []int { return byteEncoder{}.Encode(s, false) }
	want := Example{Prompt: append([]int{1}, by("Question: 2+2?\nAnswer:")...), Chosen: append(by(" 4"), 2), Rejected: append(by(" 5"), 2)}
	if !reflect.DeepEqual(strip(formatted), want) {
		t.Errorf("gsm8k: %v, want %v", formatted, want)
	}
	if pre := load(LoadOptions{}, `{"prompt": "Question: 2+2?\nAnswer:", "chosen": " 4", "rejected": " 5"}`); !reflect.DeepEqual(strip(pre), want) {
		t.Errorf("pre-formatted raw row: %v, want %v", pre, want)
	}
	chat := LoadOptions{Chat: testChat, ChatStrings: true}
	text := load(chat, `{"prompt": "2+2?", "chosen": "4", "rejected": "5"}`)
	msgs := load(LoadOptions{Chat: testChat}, `{"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}`)
	wantChat := Example{Prompt: append([]int{1}, by("<|u|>2+2?<|e|><|a|>")...), Chosen: by("4<|e|>"), Rejected: by("5<|e|>")}
	if !reflect.DeepEqual(strip(text), strip(msgs)) || !reflect.DeepEqual(strip(text), wantChat) {
		t.Errorf("ChatStrings: %v; as messages %v; want %v", text, msgs, wantChat)
	}
	if e := load(LoadOptions{OptionalRejected: true}, `{"prompt": "a", "chosen": "b"}`); e.Rejected != nil || len(e.Chosen) != 2 {
		t.Errorf("OptionalRejected: %v, want chosen [b EOS] and no rejected", e)
	}
	if _, _, err := LoadExamples(writeLines(t, dir, "rows.jsonl", `{"prompt": "a", "chosen": "b"}`), LoadOptions{Mode: Preference, Encoder: byteEncoder{}, MaxLength: 10, MaxPromptLength: 5}); err == nil {
		t.Error("a row without rejected loaded without OptionalRejected")
	}
}
