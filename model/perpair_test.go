package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tensor"
)

// referenceLogProbs is the path LogProbs took before issue 17, kept here as
// the reference: every sequence whole in a right-padded batch (Hidden), the
// whole logits of the scored positions at once (one chunk), summed per item.
func referenceLogProbs(m *Model, tp *tensor.Tape, items []Completion) (*tensor.Tensor, error) {
	seqs := make([][]int, len(items))
	var rows, targets []int
	offsets := []int{0}
	for i, it := range items {
		seqs[i] = append(append([]int(nil), it.Prompt...), it.Completion...)
	}
	h, t, err := m.Hidden(tp, seqs)
	if err != nil {
		return nil, err
	}
	for b, it := range items {
		for j, tok := range it.Completion {
			rows = append(rows, b*t+len(it.Prompt)+j-1)
			targets = append(targets, tok)
		}
		offsets = append(offsets, len(rows))
	}
	tok, _ := tensor.LinearLogSoftmaxGather(tp, h, m.LMHead, rows, targets, len(rows))
	return tensor.SegmentSum(tp, tok, nil, offsets), nil
}

// trainable lists the tensors that receive gradients: the LoRA matrices
// when an adapter is attached, else every parameter.
func trainable(m *Model) []Param {
	if _, ok := m.LoRAConfig(); ok {
		return m.LoRAParams()
	}
	return m.Params()
}

// gradsOf zeroes the trainable gradients, backpropagates Σ seed_i·Seq_i
// and returns the log-probs and a copy of every gradient.
func gradsOf(t *testing.T, m *Model, seed []float32, run func(tp *tensor.Tape) (*tensor.Tensor, error)) ([]float32, map[string][]float32) {
	t.Helper()
	for _, p := range trainable(m) {
		p.Tensor.ZeroGrad()
	}
	tp := tensor.NewTape()
	seq, err := run(tp)
	if err != nil {
		t.Fatal(err)
	}
	tp.Backward(seq, seed)
	out := append([]float32(nil), seq.Data...)
	g := map[string][]float32{}
	for _, p := range trainable(m) {
		g[p.Name] = append([]float32(nil), p.Tensor.Grad...)
	}
	return out, g
}

// checkSameAsReference asks LogProbs, as m is configured, for the
// reference's per-item log-probs (1e-5 relative each) and for its gradient
// of Σ seed_i·logp_i in every trainable tensor (1e-5 relative per tensor),
// and returns the worst errors seen.
func checkSameAsReference(t *testing.T, m *Model, items []Completion) (worstLogp, worstGrad float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(len(items)), 77))
	seed := make([]float32, len(items))
	for i := range seed {
		seed[i] = float32(r.NormFloat64())
	}
	want, wantG := gradsOf(t, m, seed, func(tp *tensor.Tape) (*tensor.Tensor, error) { return referenceLogProbs(m, tp, items) })
	got, gotG := gradsOf(t, m, seed, func(tp *tensor.Tape) (*tensor.Tensor, error) {
		s, err := m.LogProbs(tp, items)
		if err != nil {
			return nil, err
		}
		// Positions run: every sequence but its last token, or, with
		// sharing, each distinct prefix once.
		prefixes, total := map[string]bool{}, 0
		for i, it := range items {
			full := append(append([]int(nil), it.Prompt...), it.Completion...)
			for l := 1; l < len(full); l++ {
				prefixes[fmt.Sprint(i*boolInt(m.NoSharePrefix), full[:l])] = true
			}
			total += len(full)
		}
		want := len(prefixes)
		if m.Padded && m.NoSharePrefix {
			longest := 0
			for _, it := range items {
				longest = max(longest, len(it.Prompt)+len(it.Completion)-1)
			}
			want = len(items) * longest
		}
		if s.Positions != want || s.SeqTokens != total {
			t.Errorf("ran %d of %d positions, want %d of %d", s.Positions, s.SeqTokens, want, total)
		}
		t.Logf("%d of %d positions run", s.Positions, s.SeqTokens)
		return s.Seq, nil
	})
	for i := range want {
		e := math.Abs(float64(got[i]-want[i])) / math.Abs(float64(want[i]))
		worstLogp = max(worstLogp, e)
		if e > 1e-5 {
			t.Errorf("item %d: log-prob %v, reference %v (relative %.1e > 1e-5)", i, got[i], want[i], e)
		}
	}
	for name, w := range wantG {
		e := relErr(gotG[name], w)
		worstGrad = max(worstGrad, e)
		if e > 1e-5 {
			t.Errorf("%s: gradient relative error %.1e > 1e-5", name, e)
		}
	}
	return worstLogp, worstGrad
}

// layouts are the LogProbs configurations compared with the reference.
var layouts = []struct {
	name  string
	apply func(m *Model)
}{
	{"packed_unfused", func(m *Model) { m.NoSharePrefix, m.OutputChunk = true, 1<<30 }},
	{"packed_fused_chunk1", func(m *Model) { m.NoSharePrefix, m.OutputChunk = true, 1 }},
	{"shared_unfused", func(m *Model) { m.NoSharePrefix, m.OutputChunk = false, 1<<30 }},
	{"shared_fused_chunk3", func(m *Model) { m.NoSharePrefix, m.OutputChunk = false, 3 }},
	{"shared_fused_default", func(m *Model) { m.NoSharePrefix, m.OutputChunk = false, 0 }},
	{"padded_full_logits", func(m *Model) { m.NoSharePrefix, m.Padded, m.UnfusedOutput = true, true, true }},
	{"padded_fused", func(m *Model) { m.NoSharePrefix, m.Padded, m.UnfusedOutput = true, true, false }},
	{"packed_full_logits", func(m *Model) { m.NoSharePrefix, m.Padded, m.UnfusedOutput = true, false, true }},
	{"shared_full_logits", func(m *Model) { m.NoSharePrefix, m.Padded, m.UnfusedOutput = false, false, true }},
	{"shared_padded_ignored", func(m *Model) { m.NoSharePrefix, m.Padded, m.UnfusedOutput = false, true, false }},
}

// TestPerPairMatchesReferenceFixtures runs the HF fixtures' pairs (Llama,
// Qwen2, and the PEFT LoRA adapter on Llama) through every layout.
func TestPerPairMatchesReferenceFixtures(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2", "llama_lora"} {
		root := sharedtest.Path(t, "fixtures/hf/"+fam)
		var m *Model
		var items []Completion
		if fam == "llama_lora" {
			r, e := loadLoRAFixture(t)
			m, _ = loadWithAdapter(t, r, filepath.Join(r, "adapter"))
			for _, p := range e.Pairs {
				items = append(items, Completion{p.Prompt, p.Chosen})
			}
			for _, p := range e.Pairs {
				items = append(items, Completion{p.Prompt, p.Rejected})
			}
		} else {
			m = mustLoad(t, filepath.Join(root, "policy"))
			items = pairBatch(loadExpected(t, root))
		}
		for _, l := range layouts {
			t.Run(fam+"/"+l.name, func(t *testing.T) {
				l.apply(m)
				lp, g := checkSameAsReference(t, m, items)
				t.Logf("worst relative error: log-probs %.1e, gradients %.1e", lp, g)
			})
		}
	}
}

// edgePairs builds chosen/rejected pairs over a vocabulary of v with the
// edge cases of issue 17: no common completion prefix, completions equal
// but for the last token, prompt-only sharing, one completion a prefix of
// the other, pairs of very different lengths in one batch, and two pairs
// with the same prompt.
func edgePairs(r *rand.Rand, v int) []Completion {
	seq := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = r.IntN(v)
		}
		return s
	}
	cat := func(a ...[]int) []int {
		var out []int
		for _, x := range a {
			out = append(out, x...)
		}
		return out
	}
	var chosen, rejected []Completion
	add := func(p, c, rj []int) {
		chosen = append(chosen, Completion{p, c})
		rejected = append(rejected, Completion{p, rj})
	}
	p1 := seq(5)
	c1 := seq(6)
	r1 := append([]int{(c1[0] + 1) % v}, seq(3)...)
	add(p1, c1, r1) // no common completion prefix
	c2 := seq(9)
	r2 := append(append([]int(nil), c2[:8]...), (c2[8]+1)%v)
	add(seq(3), c2, r2)         // equal but for the last token
	add(seq(1), seq(2), seq(4)) // prompt-only sharing (a one-token prompt)
	c4 := seq(7)
	add(seq(4), c4, c4[:3])                    // rejected is a prefix of chosen
	add(seq(40), cat(seq(30), seq(5)), seq(2)) // very different lengths
	add(p1, seq(3), cat(c1[:2], seq(2)))       // the first pair's prompt again
	return append(chosen, rejected...)
}

// TestPerPairMatchesReferenceRandom runs the edge-case pairs through random
// models — Llama with GQA, Mistral with a sliding window shorter than the
// sequences, Qwen2 biases with tied embeddings, each also with a LoRA
// adapter on every linear layer — in every layout.
func TestPerPairMatchesReferenceRandom(t *testing.T) {
	base := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 61, HiddenSize: 16, IntermediateSize: 24, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 128,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	mistral := base
	mistral.Architectures, mistral.ModelType, mistral.SlidingWindow = []string{"MistralForCausalLM"}, "mistral", 7
	qwen := base
	qwen.Architectures, qwen.ModelType, qwen.QKVBias, qwen.TieWordEmbeddings = []string{"Qwen2ForCausalLM"}, "qwen2", true, true
	for _, c := range []hf.Config{base, mistral, qwen} {
		for _, lora := range []bool{false, true} {
			m, err := NewRandom(&c, 11, 0.3)
			if err != nil {
				t.Fatal(err)
			}
			if lora {
				if err := m.AttachLoRA(LoRAConfig{R: 2, Alpha: 4, Targets: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}, 5); err != nil {
					t.Fatal(err)
				}
				// PEFT starts B at zero; give it values so every path matters.
				r := rand.New(rand.NewPCG(1, 1))
				for _, p := range m.LoRAParams() {
					for i := range p.Tensor.Data {
						p.Tensor.Data[i] = float32(0.2 * r.NormFloat64())
					}
				}
			}
			items := edgePairs(rand.New(rand.NewPCG(4, 4)), c.VocabSize)
			for _, l := range layouts {
				t.Run(fmt.Sprintf("%s/lora=%v/%s", c.ModelType, lora, l.name), func(t *testing.T) {
					l.apply(m)
					lp, g := checkSameAsReference(t, m, items)
					t.Logf("worst relative error: log-probs %.1e, gradients %.1e", lp, g)
				})
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTokenBatches fills batches by a token budget and checks each against
// LogProbs itself: every batch but a lone oversized example runs at most
// budget positions, and adding the next example to any batch would exceed
// it (batches are maximal), with and without prefix sharing.
func TestTokenBatches(t *testing.T) {
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 61, HiddenSize: 8, IntermediateSize: 8, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 4, MaxPositionEmbeddings: 128,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	m, err := NewRandom(&c, 1, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	// 12 pairs (chosen, rejected) of edgePairs' kinds, twice over.
	all := append(edgePairs(rand.New(rand.NewPCG(6, 6)), c.VocabSize), edgePairs(rand.New(rand.NewPCG(7, 7)), c.VocabSize)...)
	var pairs [][]Completion
	for h := 0; h < len(all); h += 12 {
		for i := 0; i < 6; i++ {
			pairs = append(pairs, []Completion{all[h+i], all[h+6+i]})
		}
	}
	positions := func(idx []int) int {
		var items []Completion
		for _, i := range idx {
			items = append(items, pairs[i]...)
		}
		s, err := m.LogProbs(nil, items)
		if err != nil {
			t.Fatal(err)
		}
		return s.Positions
	}
	for _, share := range []bool{true, false} {
		m.NoSharePrefix = !share
		for _, budget := range []int{1, 40, 90, 1000} {
			batches := m.TokenBatches(len(pairs), func(i int) []Completion { return pairs[i] }, budget)
			next := 0
			for b, idx := range batches {
				for _, i := range idx {
					if i != next {
						t.Fatalf("share %v budget %d: batch %d holds %v, want examples in order from %d", share, budget, b, idx, next)
					}
					next++
				}
				if p := positions(idx); p > budget && len(idx) > 1 {
					t.Errorf("share %v budget %d: batch %v runs %d positions", share, budget, idx, p)
				}
				if b+1 < len(batches) {
					if p := positions(append(append([]int(nil), idx...), next)); p <= budget {
						t.Errorf("share %v budget %d: batch %v could take example %d (%d positions)", share, budget, idx, next, p)
					}
				}
			}
			if next != len(pairs) {
				t.Errorf("share %v budget %d: %d of %d examples batched", share, budget, next, len(pairs))
			}
		}
	}
}
