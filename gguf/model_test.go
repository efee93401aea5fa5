package gguf

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

func relErr(a, b []float32) float64 {
	var d2, n2 float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		d2 += d * d
		n2 += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d2) / math.Max(math.Sqrt(n2), 1e-30)
}

// fixtureLogits reads the fixture's reference logits and input ids.
func fixtureLogits(t *testing.T, root string) ([][]int, [][]float32) {
	f, err := hf.OpenSafetensors(filepath.Join(root, "logits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want [][]float32
	for _, n := range []string{"logits_a", "logits_b"} {
		ten, _ := f.Tensor(n)
		d, err := ten.Float32()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	b, err := os.ReadFile(filepath.Join(root, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	// "ids_a": [...], "ids_b": [...] in expected.json's forward section.
	var ids [][]int
	for _, key := range []string{`"ids_a"`, `"ids_b"`} {
		s := string(b[strings.Index(string(b), key):])
		s = s[strings.Index(s, "[")+1 : strings.Index(s, "]")]
		var row []int
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, v)
		}
		ids = append(ids, row)
	}
	return ids, want
}

// TestRoundTrip: the HF fixtures (Llama with untied embeddings and GQA,
// Qwen2 with q/k/v biases and tied embeddings) written as GGUF and read
// back. F32: every parameter bitwise equal, logits equal to the HF model's
// exactly. F16, BF16, Q8_0: logits within each type's tolerance of
// transformers' (relative L2: F16 1e-3, BF16 1e-2, Q8_0 3e-2; measured
// about 1.5e-2 for Q8_0 on these random-weight models). Back to HF
// (smaug convert hf): the same parameters again.
func TestRoundTrip(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		root := sharedtest.Path(t, "fixtures/hf/"+fam)
		src := filepath.Join(root, "policy")
		ref, err := model.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		ids, want := fixtureLogits(t, root)
		refLogits, err := ref.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			typ Type
			tol float64
		}{{F32, 0}, {F16, 1e-3}, {BF16, 1e-2}, {Q8_0, 3e-2}} {
			t.Run(fam+"/"+tc.typ.String(), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "m.gguf")
				if err := (&Export{Model: src, Out: out, Type: tc.typ}).Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				m, err := LoadModel(out)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				for i := range got {
					r := relErr(got[i], want[i])
					t.Logf("logits %d: relative error %.2e vs transformers", i, r)
					if tc.typ == F32 {
						if !reflect.DeepEqual(got[i], refLogits[i]) {
							t.Fatalf("F32 logits %d differ from the HF model's", i)
						}
					} else if r > tc.tol {
						t.Errorf("logits %d: relative error %.2e > %g", i, r, tc.tol)
					}
				}
				if tc.typ != F32 {
					return
				}
				for _, p := range ref.Params() {
					q, ok := m.Param(p.Name)
					if !ok || !reflect.DeepEqual(q.Float32(), p.Tensor.Float32()) {
						t.Fatalf("parameter %s differs after the GGUF round trip", p.Name)
					}
				}
				back := filepath.Join(t.TempDir(), "hf")
				if err := (&ToHF{Model: out, Out: back}).Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				m2, err := model.Load(back)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ref.Params() {
					q, ok := m2.Param(p.Name)
					if !ok || !reflect.DeepEqual(q.Float32(), p.Tensor.Float32()) {
						t.Fatalf("parameter %s differs after GGUF → HF", p.Name)
					}
				}
				if m2.Config.TieWordEmbeddings != ref.Config.TieWordEmbeddings || m2.Config.RopeTheta != ref.Config.RopeTheta ||
					m2.Config.RMSNormEps != ref.Config.RMSNormEps || m2.Config.NumKeyValueHeads != ref.Config.NumKeyValueHeads {
					t.Fatalf("config changed: %+v vs %+v", m2.Config, ref.Config)
				}
			})
		}
	}
}

// TestPermute: Permute and Unpermute are inverse, and Permute matches
// convert_hf_to_gguf.py's reshape(heads, 2, d/2, cols).swapaxes(1, 2) on a
// hand-worked head of 4 rows: rows (0, 1, 2, 3) → (0, 2, 1, 3).
func TestPermute(t *testing.T) {
	w := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	got := Permute(w, 8, 1, 2)
	if want := []float32{0, 2, 1, 3, 4, 6, 5, 7}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Permute = %v, want %v", got, want)
	}
	if back := Unpermute(got, 8, 1, 2); !reflect.DeepEqual(back, w) {
		t.Fatalf("Unpermute(Permute) = %v", back)
	}
}

// readVectors reads a llama.cpp .inp/.out pair of tokenizer test vectors.
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
	texts = texts[:len(texts)-1]
	lines := strings.Split(string(out), "\n")[:len(texts)]
	ids := make([][]int, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			v, _ := strconv.Atoi(f)
			ids[i] = append(ids[i], v)
		}
	}
	return texts, ids
}

// checkVectors compares encodings with llama.cpp's; spm skips inputs that
// start with a space, where a tokenizer.json converted from SentencePiece
// and SentencePiece itself differ by design (fixtures/README.md).
func checkVectors(t *testing.T, tk *tokenizer.Tokenizer, inp string, spm bool) {
	t.Helper()
	texts, want := readVectors(t, inp)
	bad, n := 0, 0
	for i, s := range texts {
		if spm && strings.HasPrefix(s, " ") {
			continue
		}
		n++
		got := tk.Encode(s, false)
		if len(got) == 0 && len(want[i]) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want[i]) {
			bad++
			if bad <= 3 {
				t.Errorf("input %d %q:\n got %v\nwant %v", i, s, got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d inputs differ", bad, n)
	}
}

// TestTokenizerToGGUF: tokenizer.json files written as GGUF metadata
// tokenise llama.cpp's test vectors as llama.cpp does (Llama 3 as
// llama-bpe, Qwen3 as qwen2, Llama 2 as a SentencePiece vocabulary).
func TestTokenizerToGGUF(t *testing.T) {
	vec := sharedtest.Path(t, "fixtures/tokenizers/llamacpp")
	for _, tc := range []struct{ dir, inp string }{
		{"llama3", "ggml-vocab-llama-bpe.gguf.inp"},
		{"qwen3", "ggml-vocab-qwen2.gguf.inp"},
		{"llama2_hf", "ggml-vocab-llama-spm.gguf.inp"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := sharedtest.Path(t, "fixtures/tokenizers/"+tc.dir)
			kv, err := TokenizerMetadata(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "vocab.gguf")
			f, _ := os.Create(path)
			if err := Write(f, append([]KV{{"general.architecture", "llama"}}, kv...), nil); err != nil {
				t.Fatal(err)
			}
			f.Close()
			tk, err := tokenizer.LoadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, tk, filepath.Join(vec, tc.inp), tc.dir == "llama2_hf")
		})
	}
}

// TestTokenizerFromGGUF: llama.cpp's vocabulary GGUFs converted to
// tokenizer.json (as smaug convert hf writes it) tokenise their test
// vectors as llama.cpp does.
func TestTokenizerFromGGUF(t *testing.T) {
	dir := sharedtest.Path(t, "fixtures/tokenizers/llamacpp")
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run(name, func(t *testing.T) {
			g, err := Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			tj, tc, err := g.TokenizerFiles()
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			os.WriteFile(filepath.Join(out, "tokenizer.json"), tj, 0o644)
			os.WriteFile(filepath.Join(out, "tokenizer_config.json"), tc, 0o644)
			tk, err := tokenizer.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, tk, filepath.Join(dir, name+".inp"), strings.Contains(name, "spm"))
		})
	}
}

// TestLlama3RopeScaling: a Llama with Llama 3.1's rope scaling (factor 8,
// low 1, high 4, original 8192; with head size 16 and θ 1e4 its eight
// frequencies fall in all three bands) is written with llama.cpp's
// rope_freqs.weight, hand-checked at both ends (1 for the highest
// frequency, 8 for the lowest), and read back to the same config: logits
// equal to the HF model's bitwise, and equal again after GGUF → HF.
func TestLlama3RopeScaling(t *testing.T) {
	src := filepath.Join(sharedtest.Path(t, "fixtures/hf/llama"), "policy")
	c, err := hf.LoadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	c.RopeScaling = &hf.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	dir := t.TempDir()
	if err := c.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "model.safetensors"), filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	ref, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.gguf")
	if err := (&Export{Model: dir, Out: out}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	rf, ok := g.Tensor("rope_freqs.weight")
	if !ok {
		t.Fatal("no rope_freqs.weight")
	}
	f, _ := g.Float32(rf)
	g.Close()
	if len(f) != 8 || f[0] != 1 || f[7] != 8 || !(f[6] > 1 && f[6] < 8) {
		t.Fatalf("rope_freqs %v: want 1 first, 8 last, between in the smooth band", f)
	}
	m, err := LoadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Config.RopeScaling; s == nil || *s != *c.RopeScaling {
		t.Fatalf("rope scaling read back as %+v", s)
	}
	ids := [][]int{{1, 5, 9, 33, 2, 7, 300, 12}}
	want, _ := ref.Logits(ids)
	got, _ := m.Logits(ids)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("logits differ from the HF model's")
	}
	back := filepath.Join(t.TempDir(), "hf")
	if err := (&ToHF{Model: out, Out: back}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2, err := model.Load(back)
	if err != nil {
		t.Fatal(err)
	}
	if got2, _ := m2.Logits(ids); !reflect.DeepEqual(got2, want) {
		t.Fatal("logits differ after GGUF → HF")
	}
}
