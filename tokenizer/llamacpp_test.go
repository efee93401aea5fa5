package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// readVectors reads a llama.cpp .inp/.out pair: inputs separated by
// "\n__ggml_vocab_test__\n", one line of space-separated ids per input.
func readVectors(t *testing.T, inp string) ([]string, [][]int) {
	t.Helper()
	in, err := os.ReadFile(inp)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(strings.TrimSuffix(inp, ".inp") + ".out")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(in), "\n__ggml_vocab_test__\n")
	lines := strings.Split(string(out), "\n")
	texts = texts[:len(texts)-1] // the file ends with a separator
	lines = lines[:len(texts)]
	ids := make([][]int, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", inp, i+1, err)
			}
			ids[i] = append(ids[i], v)
		}
	}
	return texts, ids
}

// TestLlamaCppVectors checks llama.cpp's tokenizer test vectors: through the
// GGUF vocabularies, and the qwen2 and llama-bpe vectors through the
// matching tokenizer.json files.
func TestLlamaCppVectors(t *testing.T) {
	dir := sharedtest.Path(t, "fixtures/tokenizers/llamacpp")
	inps, err := filepath.Glob(filepath.Join(dir, "*.inp"))
	if err != nil || len(inps) == 0 {
		t.Fatalf("no .inp files in %s", dir)
	}
	alt := map[string]string{"ggml-vocab-qwen2.gguf": "../qwen3", "ggml-vocab-llama-bpe.gguf": "../llama3"}
	for _, inp := range inps {
		name := strings.TrimSuffix(filepath.Base(inp), ".inp")
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if a, ok := alt[name]; ok {
				path = filepath.Join(dir, a)
			}
			tk := loadCached(t, path)
			texts, want := readVectors(t, inp)
			bad := 0
			for i, s := range texts {
				got := tk.Encode(s, false)
				if len(got) == 0 && len(want[i]) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, want[i]) {
					bad++
					t.Errorf("input %d %q:\n got %v\nwant %v", i, trunc(s), got, want[i])
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d inputs differ", bad, len(texts))
			}
		})
	}
}
