package llama2c

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tokenizer"
)

// export writes w in the given llama2.c format, following export.py's
// legacy_export, version1_export and version2_export (quantize_q80:
// scale = max|w|/127, q = round(w/scale)).
func export(t *testing.T, w *Weights, version, group int) []byte {
	t.Helper()
	var b bytes.Buffer
	put := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	c := w.Config
	f32 := func(x []float32) { put(x) }
	q8 := func(x []float32) {
		q := make([]int8, len(x))
		s := make([]float32, len(x)/group)
		for g := range s {
			var mx float32
			for _, v := range x[g*group : (g+1)*group] {
				mx = max(mx, float32(math.Abs(float64(v))))
			}
			s[g] = mx / 127
			for i := g * group; i < (g+1)*group; i++ {
				q[i] = int8(math.RoundToEven(float64(x[i] / s[g])))
			}
		}
		put(q)
		put(s)
	}
	all := func(write func([]float32), xs [][]float32) {
		for _, x := range xs {
			write(x)
		}
	}
	vocab := int32(c.VocabSize)
	if version == 0 {
		if !c.SharedClassifier {
			vocab = -vocab
		}
		put([]int32{int32(c.Dim), int32(c.HiddenDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.SeqLen)})
		f32(w.Embed)
		all(f32, w.AttnNorm)
		all(f32, w.WQ)
		all(f32, w.WK)
		all(f32, w.WV)
		all(f32, w.WO)
		all(f32, w.FFNNorm)
		all(f32, w.W1)
		all(f32, w.W2)
		all(f32, w.W3)
		f32(w.FinalNorm)
		f32(make([]float32, c.SeqLen*c.HeadDim()))
		if !c.SharedClassifier {
			f32(w.Classifier)
		}
		return b.Bytes()
	}
	put(uint32(Magic))
	put(int32(version))
	put([]int32{int32(c.Dim), int32(c.HiddenDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.SeqLen)})
	shared := uint8(0)
	if c.SharedClassifier {
		shared = 1
	}
	put(shared)
	if version == 2 {
		put(int32(group))
	}
	b.Write(make([]byte, 256-b.Len()))
	all(f32, w.AttnNorm)
	all(f32, w.FFNNorm)
	f32(w.FinalNorm)
	mat := f32
	if version == 2 {
		mat = q8
	}
	mat(w.Embed)
	for _, xs := range [][][]float32{w.WQ, w.WK, w.WV, w.WO, w.W1, w.W2, w.W3} {
		all(mat, xs)
	}
	if !c.SharedClassifier {
		mat(w.Classifier)
	}
	return b.Bytes()
}

func stories(t *testing.T) *Weights {
	w, err := ReadCheckpoint(sharedtest.Path(t, "models/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if w.Config != want {
		t.Fatalf("header %+v, want %+v (PROVENANCE.txt)", w.Config, want)
	}
	return w
}

// flat lists every tensor of w in one order, for comparisons.
func flat(w *Weights) [][]float32 {
	out := [][]float32{w.Embed, w.FinalNorm, w.Classifier}
	for _, xs := range [][][]float32{w.AttnNorm, w.FFNNorm, w.WQ, w.WK, w.WV, w.WO, w.W1, w.W2, w.W3} {
		out = append(out, xs...)
	}
	return out
}

// TestVersions: the stories model exported as each format (version 0 with
// a separate classifier, version 1 shared and separate, version 2 in int8
// groups of 64) reads back to the same weights: exactly for float32, within
// half a quantisation step (max|w|/127/2 per group, plus float32 rounding)
// for version 2.
func TestVersions(t *testing.T) {
	base := stories(t)
	sep := *base
	sep.SharedClassifier = false
	sep.Classifier = make([]float32, len(base.Embed))
	for i, v := range base.Embed {
		sep.Classifier[i] = -v / 2
	}
	for _, tc := range []struct {
		name           string
		w              *Weights
		version, group int
	}{
		{"v0-separate", &sep, 0, 0},
		{"v1-shared", base, 1, 0},
		{"v1-separate", &sep, 1, 0},
		{"v2-shared", base, 2, 64},
		{"v2-separate", &sep, 2, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.bin")
			if err := os.WriteFile(path, export(t, tc.w, tc.version, tc.group), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			wantCfg := tc.w.Config
			wantCfg.Version, wantCfg.GroupSize = tc.version, tc.group
			if got.Config != wantCfg {
				t.Fatalf("config %+v, want %+v", got.Config, wantCfg)
			}
			g, w := flat(got), flat(tc.w)
			for i := range w {
				if len(g[i]) != len(w[i]) {
					t.Fatalf("tensor %d: %d values, want %d", i, len(g[i]), len(w[i]))
				}
				for j := range w[i] {
					tol := 0.0
					if tc.version == 2 && len(w[i]) > tc.w.Dim {
						grp := w[i][j/tc.group*tc.group : (j/tc.group+1)*tc.group]
						var mx float64
						for _, v := range grp {
							mx = math.Max(mx, math.Abs(float64(v)))
						}
						tol = mx/127/2 + 1e-6*mx
					}
					if d := math.Abs(float64(g[i][j] - w[i][j])); d > tol {
						t.Fatalf("tensor %d value %d: %v, want %v (tolerance %g)", i, j, g[i][j], w[i][j], tol)
					}
				}
			}
		})
	}
}

// TestTruncatedAndBadHeaders: files that do not match their header are
// refused with the sizes named.
func TestTruncatedAndBadHeaders(t *testing.T) {
	good := export(t, stories(t), 1, 0)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", good[:len(good)-4]},
		{"extra", append(append([]byte{}, good...), 0, 0, 0, 0)},
		{"version 3", func() []byte { b := append([]byte{}, good...); b[4] = 3; return b }()},
		{"zero heads", func() []byte { b := append([]byte{}, good...); binary.LittleEndian.PutUint32(b[20:], 0); return b }()},
	} {
		path := filepath.Join(t.TempDir(), "m.bin")
		os.WriteFile(path, tc.data, 0o644)
		if _, err := ReadCheckpoint(path); err == nil {
			t.Errorf("%s: no error", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// runcEncode is llama2.c run.c's encode: a dummy-prefix space, one token per
// UTF-8 character (bytes + 3 when absent), then repeatedly the merge of the
// adjacent pair whose concatenation has the highest score (leftmost first).
func runcEncode(v *Vocab, text string) []int {
	lookup := map[string]int{}
	for i, s := range v.Tokens {
		if _, ok := lookup[s]; !ok {
			lookup[s] = i
		}
	}
	toks := []int{1}
	if text != "" {
		toks = append(toks, lookup[" "])
	}
	for _, r := range text {
		s := string(r)
		if id, ok := lookup[s]; ok {
			toks = append(toks, id)
			continue
		}
		for _, b := range []byte(s) {
			toks = append(toks, int(b)+3)
		}
	}
	for {
		best, at, id := float32(-1e10), -1, -1
		for i := 1; i+1 < len(toks); i++ {
			if j, ok := lookup[v.Tokens[toks[i]]+v.Tokens[toks[i+1]]]; ok && v.Scores[j] > best {
				best, at, id = v.Scores[j], i, j
			}
		}
		if at < 0 {
			return toks
		}
		toks = append(append(toks[:at:at], id), toks[at+2:]...)
	}
}

// TestTokenizerMatchesRunC: the converted tokenizer.json encodes as run.c's
// encode does (with BOS), and decodes back to the text.
func TestTokenizerMatchesRunC(t *testing.T) {
	v, err := ReadVocab(sharedtest.Path(t, "models/stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) != 512 {
		t.Fatalf("%d tokens, want 512", len(v.Tokens))
	}
	b, err := v.TokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	os.WriteFile(path, b, 0o644)
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"Once upon a time, there was a little girl named Lily.",
		"Lily's mom said, \"Lily, let's go to the park.\"",
		"two  spaces and\na newline",
		"héllo wörld 日本 🙂",
		"x",
	} {
		want := runcEncode(v, s)
		got := tok.Encode(s, true)
		if len(got) != len(want) {
			t.Errorf("%q: %v, run.c %v", s, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%q: %v, run.c %v", s, got, want)
				break
			}
		}
		if d := tok.Decode(got, true); d != s {
			t.Errorf("decode(encode(%q)) = %q", s, d)
		}
	}
}
