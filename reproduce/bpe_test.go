package reproduce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/tokenizer"
)

// TestTrainBPE: the trained tokenizer, loaded by package tokenizer,
// round-trips text, keeps every digit a token of its own, and shortens the
// training text to well under its byte count.
func TestTrainBPE(t *testing.T) {
	var texts []string
	for _, q := range synthProblems(300, Defaults(), 1) {
		texts = append(texts, promptText(q.Question)+completionText(q.Answer))
	}
	js, err := TrainBPE(texts, 600)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), js, 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), byteTokenizerConfig(), 0o644)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Merging stops at 600 entries or when no pair occurs twice (here 478).
	if v := tok.VocabSize(); v <= byteVocab || v > 600 {
		t.Errorf("vocabulary %d, want more than the %d bytes and specials and at most 600", v, byteVocab)
	}
	bytes, tokens := 0, 0
	for _, s := range append(texts[:50], "Unseen words: zebra 1234, ünï €5!") {
		ids := tok.Encode(s, false)
		if got := tok.Decode(ids, true); got != s {
			t.Fatalf("round trip %q → %q", s, got)
		}
		for _, id := range ids {
			if piece := tok.Token(id); strings.ContainsAny(piece, "0123456789") && !isDigits(piece) || len(piece) > 1 && isDigits(piece) {
				t.Fatalf("token %q mixes or joins digits", piece)
			}
		}
		bytes += len(s)
		tokens += len(ids)
	}
	t.Logf("%d bytes → %d tokens (%.2f bytes per token)", bytes, tokens, float64(bytes)/float64(tokens))
	if float64(bytes)/float64(tokens) < 2.2 { // measured 2.52
		t.Errorf("only %.2f bytes per token", float64(bytes)/float64(tokens))
	}
}

// isDigits reports whether s is made of ASCII digits only.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
