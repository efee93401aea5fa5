package llama2c

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// convertStories converts the shared stories260K model and returns the folder.
func convertStories(t *testing.T) string {
	t.Helper()
	dir := sharedtest.Path(t, "models/stories260K")
	out := filepath.Join(t.TempDir(), "hf")
	c := &Conversion{Model: filepath.Join(dir, "stories260K.bin"), Tokenizer: filepath.Join(dir, "tok512.bin"), Out: out}
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoriesGreedyFromBOS: the converted model, decoding greedily from BOS
// for 200 steps as llama2.c's run.c does (-t 0 -n 200: stop early on BOS),
// reproduces run.c's text exactly, decoded with the converted tokenizer.
func TestStoriesGreedyFromBOS(t *testing.T) {
	want, err := os.ReadFile(sharedtest.Path(t, "models/stories260K/greedy_from_BOS_200steps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := convertStories(t)
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != 1 || tok.EOS() != 2 {
		t.Fatalf("bos/eos = %d/%d, want 1/2", tok.BOS(), tok.EOS())
	}
	ids, err := m.Generate([]int{tok.BOS()}, model.GenerateOptions{MaxNewTokens: 200, StopIDs: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ids); n > 0 && ids[n-1] == 1 {
		ids = ids[:n-1]
	}
	got := tok.Decode(ids, true)
	// run.c prints a newline after the generated text.
	if w := strings.TrimSuffix(string(want), "\n"); got != w {
		t.Fatalf("greedy text differs from run.c's:\n got %q\nwant %q", got, w)
	}
}
