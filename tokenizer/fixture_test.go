package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

type encodingsFile struct {
	Strings []string `json:"strings"`
	Cases   map[string]struct {
		File             string   `json:"file"`
		Kind             string   `json:"kind"`
		AddSpecialTokens bool     `json:"add_special_tokens"`
		IDs              [][]int  `json:"ids"`
		Decoded          []string `json:"decoded"`
	} `json:"cases"`
}

func loadEncodings(t *testing.T) (encodingsFile, string) {
	t.Helper()
	p := sharedtest.Path(t, "fixtures/tokenizers/encodings.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var f encodingsFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f, filepath.Dir(p)
}

var loaded = map[string]*Tokenizer{}

func loadCached(t *testing.T, path string) *Tokenizer {
	t.Helper()
	if tk, ok := loaded[path]; ok {
		return tk
	}
	tk, err := Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	loaded[path] = tk
	return tk
}

// TestEncodingsFixture checks every case of encodings.json: ids exact and,
// where given, the decoded text exact.
func TestEncodingsFixture(t *testing.T) {
	f, dir := loadEncodings(t)
	for name, c := range f.Cases {
		t.Run(name, func(t *testing.T) {
			// A tokenizer.json is loaded with its folder, so that
			// tokenizer_config.json applies as it does in transformers.
			path := filepath.Join(dir, c.File)
			if c.Kind == "tokenizer.json" {
				path = filepath.Dir(path)
			}
			tk := loadCached(t, path)
			bad := 0
			for i, s := range f.Strings {
				got := tk.Encode(s, c.AddSpecialTokens)
				if len(got) == 0 && len(c.IDs[i]) == 0 {
					got = c.IDs[i]
				}
				if !reflect.DeepEqual(got, c.IDs[i]) {
					bad++
					t.Errorf("string %d %q:\n got %v\nwant %v", i, trunc(s), got, c.IDs[i])
				}
				if c.Decoded != nil {
					skip := false
					if name == "openllama/plain" && i == 59 {
						// The one decoded string made with skip_special_tokens=true
						// (the Python tokenizers default): it lacks "</s>" (id 2),
						// which no decode without skipping can drop. "<s>" and
						// "<unk>" survive because, with normalized=true under this
						// file's Prepend normalizer, tokenizers decodes them as
						// "▁<s>"/"▁<unk>" and skips by that text — hence the three
						// spaces. Every other string is decoded with false.
						skip = true
					}
					if d := tk.Decode(c.IDs[i], skip); d != c.Decoded[i] {
						t.Errorf("decode string %d: got %q want %q", i, d, c.Decoded[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d strings differ", bad, len(f.Strings))
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return strings.TrimSpace(s[:0]) + s
}
