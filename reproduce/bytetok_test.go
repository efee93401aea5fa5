package reproduce

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/smaug-dev/smaug/tokenizer"
)

// TestByteTokenizerJSON: the written tokenizer.json, loaded by package
// tokenizer, encodes and decodes exactly as the byte mapping does.
func TestByteTokenizerJSON(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), ByteTokenizerJSON(), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), byteTokenizerConfig(), 0o644)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Question: Tom has 3 apples.\nAnswer: 3 + 4 = <<3+4=7>>7\n#### 7", " leading  spaces ", "ünïcödé €"} {
		want := encodeBytes(s)
		if got := tok.Encode(s, false); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", s, got, want)
		}
		if got := tok.Encode(s, true); !slices.Equal(got, append([]int{byteBOS}, want...)) {
			t.Errorf("Encode(%q, special) = %v, want BOS then the bytes", s, got)
		}
		if got := tok.Decode(want, true); got != s {
			t.Errorf("Decode = %q, want %q", got, s)
		}
	}
	if tok.BOS() != byteBOS || tok.EOS() != byteEOS {
		t.Errorf("BOS %d EOS %d, want %d %d", tok.BOS(), tok.EOS(), byteBOS, byteEOS)
	}
}
