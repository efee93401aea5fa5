package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tensor"
)

// expected mirrors the parts of fixtures/hf/*/expected.json used here.
type expected struct {
	Beta    float64 `json:"beta"`
	Lambda  float64 `json:"lambda"`
	Forward struct {
		IDsA []int `json:"ids_a"`
		IDsB []int `json:"ids_b"`
	} `json:"forward"`
	Pairs []struct {
		Prompt   []int `json:"prompt"`
		Chosen   []int `json:"chosen"`
		Rejected []int `json:"rejected"`
	} `json:"pairs"`
	PerPair []struct {
		PolicyChosen       float64   `json:"policy_chosen_logp"`
		PolicyRejected     float64   `json:"policy_rejected_logp"`
		RefChosen          float64   `json:"ref_chosen_logp"`
		RefRejected        float64   `json:"ref_rejected_logp"`
		ChosenTokenLogps   []float64 `json:"chosen_token_logps"`
		RejectedTokenLogps []float64 `json:"rejected_token_logps"`
	} `json:"per_pair"`
	Greedy struct {
		Prompt []int `json:"prompt"`
		Output []int `json:"output"`
	} `json:"greedy"`
}

func loadExpected(t *testing.T, dir string) *expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s/expected.json: %v", dir, err)
	}
	return &e
}

func readTensors(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := hf.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float32{}
	for _, n := range f.Names() {
		ten, _ := f.Tensor(n)
		d, err := ten.Float32()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = d
	}
	return out
}

// relErr is ‖a−b‖/‖b‖ in float64.
func relErr(a []float32, b []float32) float64 {
	var d2, n2 float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		d2 += d * d
		n2 += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d2) / math.Max(math.Sqrt(n2), 1e-30)
}

func mustLoad(t *testing.T, dir string) *Model {
	t.Helper()
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFixtureLogits: policy logits of two sequences, batched together (so the
// shorter one is right-padded), within 1e-4 relative of transformers.
func TestFixtureLogits(t *testing.T) {
	for _, c := range []struct{ fam, dir string }{
		{"llama", "policy"}, {"llama", "policy_sharded"}, {"qwen2", "policy"},
	} {
		t.Run(c.fam+"/"+c.dir, func(t *testing.T) {
			root := sharedtest.Path(t, "fixtures/hf/"+c.fam)
			e := loadExpected(t, root)
			want := readTensors(t, filepath.Join(root, "logits.safetensors"))
			m := mustLoad(t, filepath.Join(root, c.dir))
			got, err := m.Logits([][]int{e.Forward.IDsA, e.Forward.IDsB})
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"logits_a", "logits_b"} {
				r := relErr(got[i], want[name])
				t.Logf("%s: relative error %.2e", name, r)
				if r > 1e-4 {
					t.Errorf("%s: relative error %.2e > 1e-4", name, r)
				}
			}
		})
	}
}

// TestFixtureBF16 loads the bfloat16 copy of the llama policy: every weight
// must equal the float32 weight rounded to bfloat16, and the logits stay
// within bfloat16's precision (2e-2 relative) of the float32 model's.
func TestFixtureBF16(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	e := loadExpected(t, root)
	m16 := mustLoad(t, filepath.Join(root, "policy_bf16"))
	m32 := mustLoad(t, filepath.Join(root, "policy"))
	for _, p := range m32.Params() {
		q, _ := m16.Param(p.Name)
		for i, v := range p.Tensor.Data {
			if r := roundBF16(v); q.Data[i] != r {
				t.Fatalf("%s[%d]: bf16 load %v, f32 rounded %v", p.Name, i, q.Data[i], r)
			}
		}
	}
	want := readTensors(t, filepath.Join(root, "logits.safetensors"))
	got, err := m16.Logits([][]int{e.Forward.IDsA})
	if err != nil {
		t.Fatal(err)
	}
	if r := relErr(got[0], want["logits_a"]); r > 2e-2 {
		t.Errorf("bf16 logits: relative error %.2e > 2e-2", r)
	}
}

// roundBF16 rounds to the nearest bfloat16 (ties to even), written here
// independently of package dtype.
func roundBF16(f float32) float32 {
	b := math.Float32bits(f)
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

// pairBatch lays out the fixture's pairs as chosen completions then rejected.
func pairBatch(e *expected) []Completion {
	var items []Completion
	for _, p := range e.Pairs {
		items = append(items, Completion{p.Prompt, p.Chosen})
	}
	for _, p := range e.Pairs {
		items = append(items, Completion{p.Prompt, p.Rejected})
	}
	return items
}

// TestFixtureLogProbs: per-pair sequence and token log-probs of policy and
// reference within 1e-4 absolute.
func TestFixtureLogProbs(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		t.Run(fam, func(t *testing.T) {
			root := sharedtest.Path(t, "fixtures/hf/"+fam)
			e := loadExpected(t, root)
			n := len(e.Pairs)
			for _, who := range []string{"policy", "ref"} {
				m := mustLoad(t, filepath.Join(root, who))
				s, err := m.LogProbs(nil, pairBatch(e))
				if err != nil {
					t.Fatal(err)
				}
				for i, pp := range e.PerPair {
					wc, wr := pp.PolicyChosen, pp.PolicyRejected
					if who == "ref" {
						wc, wr = pp.RefChosen, pp.RefRejected
					}
					if d := math.Abs(float64(s.Seq.Data[i]) - wc); d > 1e-4 {
						t.Errorf("%s pair %d chosen: %v, want %v", who, i, s.Seq.Data[i], wc)
					}
					if d := math.Abs(float64(s.Seq.Data[n+i]) - wr); d > 1e-4 {
						t.Errorf("%s pair %d rejected: %v, want %v", who, i, s.Seq.Data[n+i], wr)
					}
					if who == "policy" {
						for j, w := range pp.ChosenTokenLogps {
							if d := math.Abs(float64(s.Tokens[i][j]) - w); d > 1e-4 {
								t.Errorf("pair %d chosen token %d: %v, want %v", i, j, s.Tokens[i][j], w)
							}
						}
						for j, w := range pp.RejectedTokenLogps {
							if d := math.Abs(float64(s.Tokens[n+i][j]) - w); d > 1e-4 {
								t.Errorf("pair %d rejected token %d: %v, want %v", i, j, s.Tokens[n+i][j], w)
							}
						}
					}
				}
			}
		})
	}
}

// logSigmoid is log σ(x), written stably.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// TestFixtureGradients backpropagates the mean DPO and DPOP losses (SPEC.md
// §1, written out here) through the policy and compares every parameter's
// gradient with transformers' within 1e-3 relative per tensor.
func TestFixtureGradients(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		for _, loss := range []string{"dpo", "dpop"} {
			t.Run(fam+"/"+loss, func(t *testing.T) {
				root := sharedtest.Path(t, "fixtures/hf/"+fam)
				e := loadExpected(t, root)
				want := readTensors(t, filepath.Join(root, "grads_"+loss+".safetensors"))
				m := mustLoad(t, filepath.Join(root, "policy"))
				tp := tensor.NewTape()
				s, err := m.LogProbs(tp, pairBatch(e))
				if err != nil {
					t.Fatal(err)
				}
				n := len(e.Pairs)
				seed := make([]float32, 2*n)
				for i, pp := range e.PerPair {
					rw := float64(s.Seq.Data[i]) - pp.RefChosen
					rl := float64(s.Seq.Data[n+i]) - pp.RefRejected
					// loss = −log σ(z), z = β(ρw − ρl − λ·max(0, −ρw)); ∂loss/∂z = −σ(−z).
					z, dzdw := e.Beta*(rw-rl), e.Beta
					if loss == "dpop" && rw < 0 {
						z -= e.Beta * e.Lambda * (-rw)
						dzdw += e.Beta * e.Lambda
					}
					dz := -math.Exp(logSigmoid(-z)) / float64(n)
					seed[i] = float32(dz * dzdw)
					seed[n+i] = float32(-dz * e.Beta)
				}
				tp.Backward(s.Seq, seed)
				if len(want) != len(m.Params()) {
					t.Errorf("fixture has %d gradients, model %d parameters", len(want), len(m.Params()))
				}
				worst := 0.0
				defer func() { t.Logf("worst per-tensor relative gradient error %.2e", worst) }()
				for _, p := range m.Params() {
					w, ok := want[p.Name]
					if !ok {
						t.Errorf("no reference gradient for %s", p.Name)
						continue
					}
					r := relErr(p.Tensor.Grad, w)
					worst = math.Max(worst, r)
					if r > 1e-3 {
						t.Errorf("%s: relative gradient error %.2e > 1e-3", p.Name, r)
					}
				}
			})
		}
	}
}

// TestFixtureGreedy: 16 greedy tokens with the KV cache equal transformers'.
func TestFixtureGreedy(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		t.Run(fam, func(t *testing.T) {
			root := sharedtest.Path(t, "fixtures/hf/"+fam)
			e := loadExpected(t, root)
			m := mustLoad(t, filepath.Join(root, "policy"))
			got, err := m.Generate(e.Greedy.Prompt, GenerateOptions{MaxNewTokens: len(e.Greedy.Output)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(e.Greedy.Output) {
				t.Fatalf("got %d tokens, want %d", len(got), len(e.Greedy.Output))
			}
			for i := range got {
				if got[i] != e.Greedy.Output[i] {
					t.Fatalf("greedy tokens %v, want %v", got, e.Greedy.Output)
				}
			}
		})
	}
}

// TestPaddingInvariance: a sequence's log-probs do not depend on the batch
// it is scored in (alone, or right-padded beside a longer one), within 1e-5.
func TestPaddingInvariance(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	e := loadExpected(t, root)
	m := mustLoad(t, filepath.Join(root, "policy"))
	short := Completion{e.Pairs[0].Prompt, e.Pairs[0].Chosen}
	long := Completion{e.Forward.IDsA[:4], e.Forward.IDsA[4:]}
	alone, err := m.LogProbs(nil, []Completion{short})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]Completion{{short, long}, {long, short, long}} {
		s, err := m.LogProbs(nil, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range batch {
			if &c.Completion[0] != &short.Completion[0] {
				continue
			}
			for j, v := range s.Tokens[i] {
				if d := math.Abs(float64(v - alone.Tokens[0][j])); d > 1e-5 {
					t.Errorf("token %d: %v in a batch of %d, %v alone", j, v, len(batch), alone.Tokens[0][j])
				}
			}
		}
	}
}
