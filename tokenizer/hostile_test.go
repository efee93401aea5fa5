package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// withMemoryLimit runs f under a soft memory limit and returns how many
// bytes f allocated in total.
func withMemoryLimit(t *testing.T, limit int64, f func()) uint64 {
	t.Helper()
	old := debug.SetMemoryLimit(limit)
	defer debug.SetMemoryLimit(old)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileIDsAreBounded loads tokenizer.json files whose ids reach 1e9:
// the dense id tables would take 16+ GB, so loading must fail naming the
// field, having allocated next to nothing (under 8 MiB by
// runtime.MemStats.TotalAlloc).
func TestHostileIDsAreBounded(t *testing.T) {
	doc := func(vocab, added string) string {
		return `{"added_tokens": [` + added + `], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
		"model": {"type": "BPE", "vocab": {` + vocab + `}, "merges": []}}`
	}
	cases := []struct {
		name, file, want string
	}{
		{"vocab id 1e9", doc(`"a": 0, "b": 1000000000`, ``),
			`field model.vocab: token "b" has id 1000000000, beyond the 2 entries`},
		{"added id 1e9", doc(`"a": 0`, `{"id": 1000000000, "content": "<x>", "special": true}`),
			`field added_tokens[0]: id 1000000000 is beyond the 2 entries`},
		{"post-processor id", strings.Replace(doc(`"a": 0`, ``), `"post_processor": null`,
			`"post_processor": {"type": "BertProcessing", "sep": ["a", 5000000], "cls": ["a", 0]}`, 1),
			`field post_processor.sep: id 5000000 is outside the vocabulary`},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "tokenizer.json")
			if err := os.WriteFile(p, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			alloc := withMemoryLimit(t, 256<<20, func() { _, err = Load(p) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
			if alloc > 8<<20 {
				t.Errorf("loading allocated %d bytes, want under 8 MiB", alloc)
			}
		})
	}
	// Ids may leave a gap of up to maxIDGap unused: such a file loads.
	p := filepath.Join(dir, "gap.json")
	if err := os.WriteFile(p, []byte(doc(`"a": 0, "b": 1000`, ``)), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() != 1001 {
		t.Errorf("vocab size %d, want 1001", tk.VocabSize())
	}
}

// splitTokenizer writes a tokenizer.json whose pre-tokenizer is a Split on
// pattern and loads it.
func splitTokenizer(t *testing.T, pattern string) (*Tokenizer, error) {
	t.Helper()
	doc := `{"added_tokens": [], "normalizer": null, "post_processor": null, "decoder": null,
	"pre_tokenizer": {"type": "Split", "pattern": {"Regex": ` + quoteJSON(pattern) + `}, "behavior": "Isolated"},
	"model": {"type": "BPE", "vocab": {"a": 0, "x": 1, "y": 2, "!": 3}, "merges": []}}`
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func quoteJSON(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestCatastrophicRegex checks both guards against a backtracking
// pre-tokenizer pattern: one that explodes on a run of "a" is refused when
// the file is loaded; one that only explodes on text it meets later makes
// Encode stop at the time budget and Err name the pattern.
func TestCatastrophicRegex(t *testing.T) {
	old := regexTimeout
	regexTimeout = 50 * time.Millisecond
	defer func() { regexTimeout = old }()

	_, err := splitTokenizer(t, `(a+)+$`)
	if err == nil || !strings.Contains(err.Error(), `regex "(a+)+$" ran past its 50ms time budget`) ||
		!strings.Contains(err.Error(), "backtracks catastrophically") || !strings.Contains(err.Error(), "pre_tokenizer.pattern") {
		t.Fatalf("load: got error %v, want the pattern refused as catastrophic", err)
	}

	tk, err := splitTokenizer(t, `(x+)+y`)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if ids := tk.Encode("a!", false); len(ids) != 2 || tk.Err() != nil {
		t.Fatalf("benign text: got %v, err %v", ids, tk.Err())
	}
	tk.Encode(strings.Repeat("x", 40), false)
	var te *RegexTimeoutError
	if err := tk.Err(); !errors.As(err, &te) || te.Pattern != `(x+)+y` || te.Input != 40 {
		t.Fatalf("got Err() = %v, want a RegexTimeoutError for the pattern on 40 bytes", err)
	}
	if !strings.Contains(tk.Err().Error(), "time budget on 40 bytes of text") {
		t.Errorf("message %q does not say what ran out", tk.Err())
	}
}
