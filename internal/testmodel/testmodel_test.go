package testmodel

import (
	"testing"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// TestWrite: the folder loads as a model, a tokenizer that round-trips
// text byte for byte (special tokens whole) and a chat template.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, 32, 1); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.VocabSize != Vocab {
		t.Errorf("vocab %d", m.Config.VocabSize)
	}
	tk, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	text := "<|im_start|>user\nHé, dragon! 🐉<|im_end|>"
	ids := tk.Encode(text, false)
	want := 2 + len("user\nHé, dragon! 🐉")
	if len(ids) != want || ids[0] != 258 || ids[len(ids)-1] != EOS {
		t.Errorf("ids %v: want %d ids between 258 and %d", ids, want, EOS)
	}
	if got := tk.Decode(ids, false); got != text {
		t.Errorf("round trip %q", got)
	}
	if tk.EOS() != EOS {
		t.Errorf("eos %d", tk.EOS())
	}
	tc, err := chat.LoadTokenizerConfig(dir)
	if err != nil || tc.ChatTemplate != Template {
		t.Errorf("chat template: %v", err)
	}
}
