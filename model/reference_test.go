package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// TestInvFreqLlama3 checks the llama3 rope rescaling against values computed
// by hand from Llama 3.1's formula (in float64, Python) for head_dim 16,
// θ = 500000, factor 8, low/high frequency factors 1 and 4, original context
// 64: index 0 is a short wavelength (kept), index 1 is in the smoothed band,
// the rest are long (÷ 8).
func TestInvFreqLlama3(t *testing.T) {
	c := &hf.Config{HeadDim: 16, RopeTheta: 500000, RopeScaling: &hf.RopeScaling{
		Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64}}
	want := []float64{1.0, 0.0794030091792082, 0.004700753866357992, 0.0009115830921521386,
		0.00017677669529663688, 3.428102195952591e-05, 6.647869871181236e-06, 1.2891731721515574e-06}
	got, err := InvFreq(c)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if math.Abs(got[i]-w) > 1e-6*w {
			t.Errorf("inv_freq[%d] = %v, want %v", i, got[i], w)
		}
	}
	c.RopeScaling = &hf.RopeScaling{Type: "linear", Factor: 4}
	got, _ = InvFreq(c)
	if w := math.Pow(500000, -2.0/16) / 4; math.Abs(got[1]-w) > 1e-6*w {
		t.Errorf("linear: inv_freq[1] = %v, want %v", got[1], w)
	}
	c.RopeScaling = &hf.RopeScaling{Type: "yarn", Factor: 4}
	if _, err := InvFreq(c); err == nil {
		t.Error("yarn rope scaling: want an error naming it")
	}
}

// naiveLogits is an independent float64 transcription of the Llama forward
// for one unpadded sequence (attention head by head, RoPE by its complex
// rotation formula, Mistral's sliding window as transformers masks it:
// position t sees keys j with t − window < j ≤ t), used as the reference for
// configurations the transformers fixtures do not cover.
func naiveLogits(m *Model, ids []int) [][]float64 {
	c := m.Config
	f64 := func(t *tensor.Tensor) []float64 {
		if t == nil {
			return nil
		}
		out := make([]float64, t.Len())
		for i, v := range t.Data {
			out[i] = float64(v)
		}
		return out
	}
	lin := func(x []float64, l Linear) []float64 {
		w, b := f64(l.W), f64(l.B)
		out, in := l.W.Shape[0], l.W.Shape[1]
		y := make([]float64, out)
		for o := 0; o < out; o++ {
			for i := 0; i < in; i++ {
				y[o] += w[o*in+i] * x[i]
			}
			if b != nil {
				y[o] += b[o]
			}
		}
		return y
	}
	norm := func(x []float64, w *tensor.Tensor) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		r := 1 / math.Sqrt(ss/float64(len(x))+c.RMSNormEps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(w.Data[i]) * v * r
		}
		return y
	}
	inv, _ := InvFreq(c)
	hd := c.HeadDim
	rope := func(x []float64, heads, pos int) {
		for h := 0; h < heads; h++ {
			for i := 0; i < hd/2; i++ {
				z := complex(x[h*hd+i], x[h*hd+i+hd/2]) * complex(math.Cos(float64(pos)*inv[i]), math.Sin(float64(pos)*inv[i]))
				x[h*hd+i], x[h*hd+i+hd/2] = real(z), imag(z)
			}
		}
	}
	emb := f64(m.Embed)
	xs := make([][]float64, len(ids))
	for t, id := range ids {
		xs[t] = append([]float64(nil), emb[id*c.HiddenSize:(id+1)*c.HiddenSize]...)
	}
	for _, l := range m.Layers {
		qs, ks, vs := make([][]float64, len(ids)), make([][]float64, len(ids)), make([][]float64, len(ids))
		for t := range ids {
			h := norm(xs[t], l.InputNorm)
			qs[t], ks[t], vs[t] = lin(h, l.Q), lin(h, l.K), lin(h, l.V)
			rope(qs[t], c.NumAttentionHeads, t)
			rope(ks[t], c.NumKeyValueHeads, t)
		}
		for t := range ids {
			att := make([]float64, c.NumAttentionHeads*hd)
			for h := 0; h < c.NumAttentionHeads; h++ {
				g := h / (c.NumAttentionHeads / c.NumKeyValueHeads)
				s := make([]float64, t+1)
				var mx = math.Inf(-1)
				j0 := 0
				if c.SlidingWindow > 0 {
					j0 = max(0, t-c.SlidingWindow+1)
				}
				for j := 0; j <= t; j++ {
					if j < j0 {
						s[j] = math.Inf(-1)
						continue
					}
					for d := 0; d < hd; d++ {
						s[j] += qs[t][h*hd+d] * ks[j][g*hd+d]
					}
					s[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, s[j])
				}
				var z float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					z += s[j]
				}
				for j := range s {
					for d := 0; d < hd; d++ {
						att[h*hd+d] += s[j] / z * vs[j][g*hd+d]
					}
				}
			}
			o := lin(att, l.O)
			for i := range xs[t] {
				xs[t][i] += o[i]
			}
			h := norm(xs[t], l.PostNorm)
			gate, up := lin(h, l.Gate), lin(h, l.Up)
			for i := range gate {
				gate[i] = gate[i] / (1 + math.Exp(-gate[i])) * up[i]
			}
			d := lin(gate, l.Down)
			for i := range xs[t] {
				xs[t][i] += d[i]
			}
		}
	}
	out := make([][]float64, len(ids))
	for t := range ids {
		out[t] = lin(norm(xs[t], m.Norm), Linear{W: m.LMHead})
	}
	return out
}

// TestVariantsAgainstNaive runs configurations the transformers fixtures do
// not cover — Mistral-Nemo style explicit head_dim (≠ hidden/heads), a
// sliding window of 6 over 20 positions, llama3
// and linear rope scaling, Llama attention_bias and mlp_bias, tied
// embeddings — through the engine and through naiveLogits, and asks for
// 1e-4 relative agreement on the logits at positions past the original
// context (so the rescaled frequencies matter).
func TestVariantsAgainstNaive(t *testing.T) {
	base := hf.Config{Architectures: []string{"MistralForCausalLM"}, ModelType: "mistral",
		VocabSize: 50, HiddenSize: 24, IntermediateSize: 40, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 10, MaxPositionEmbeddings: 256,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	llama3 := base
	llama3.Architectures, llama3.ModelType = []string{"LlamaForCausalLM"}, "llama"
	llama3.HeadDim, llama3.RopeTheta = 8, 500000
	llama3.RopeScaling = &hf.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8}
	linear := llama3
	linear.RopeScaling = &hf.RopeScaling{Type: "linear", Factor: 2}
	linear.QKVBias, linear.OBias, linear.MLPBias, linear.TieWordEmbeddings = true, true, true, true
	window := base
	window.SlidingWindow = 6
	for name, c := range map[string]hf.Config{"mistral_head_dim": base, "mistral_sliding_window": window, "llama3_rope": llama3, "linear_rope_biases_tied": linear} {
		t.Run(name, func(t *testing.T) {
			m, err := NewRandom(&c, 3, 0.3)
			if err != nil {
				t.Fatal(err)
			}
			// Non-trivial norms and biases.
			r := rand.New(rand.NewPCG(9, 9))
			for _, p := range m.Params() {
				if p.Tensor.Shape[0] == p.Tensor.Len() {
					for i := range p.Tensor.Data {
						p.Tensor.Data[i] += float32(0.2 * r.NormFloat64())
					}
				}
			}
			ids := make([]int, 20)
			for i := range ids {
				ids[i] = r.IntN(c.VocabSize)
			}
			got, err := m.Logits([][]int{ids})
			if err != nil {
				t.Fatal(err)
			}
			want := naiveLogits(m, ids)
			var d2, n2 float64
			for i, row := range want {
				for j, w := range row {
					d := float64(got[0][i*c.VocabSize+j]) - w
					d2 += d * d
					n2 += w * w
				}
			}
			rel := math.Sqrt(d2 / n2)
			if rel > 1e-4 {
				t.Errorf("logits relative error %.2e > 1e-4", rel)
			}
			t.Logf("logits relative error %.2e", rel)
		})
	}
}

// TestKVCacheMatchesFullForward: feeding a sequence in pieces through the
// KV cache gives the same last-position logits as one full forward.
func TestKVCacheMatchesFullForward(t *testing.T) {
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 40, HiddenSize: 16, IntermediateSize: 24, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 1, HeadDim: 4, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	m, err := NewRandom(&c, 1, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{3, 9, 27, 1, 0, 39, 12, 12, 5}
	full, _ := m.Logits([][]int{ids})
	cache := m.NewKVCache()
	var last []float32
	for _, piece := range [][]int{ids[:4], ids[4:5], ids[5:8], ids[8:]} {
		if last, err = m.Forward(cache, piece); err != nil {
			t.Fatal(err)
		}
	}
	want := full[0][(len(ids)-1)*c.VocabSize:]
	for i := range want {
		if math.Abs(float64(last[i]-want[i])) > 1e-5 {
			t.Fatalf("logit %d: cached %v, full %v", i, last[i], want[i])
		}
	}
}

// TestSlidingWindowDecoding feeds a sequence more than three windows long
// through the KV cache in pieces of several sizes (the cache keeps only the
// window's rows) and compares every position's logits with naiveLogits
// (1e-4 relative per row); then greedy generation past the window must pick,
// at every step, the argmax of the reference on the text so far.
func TestSlidingWindowDecoding(t *testing.T) {
	c := hf.Config{Architectures: []string{"MistralForCausalLM"}, ModelType: "mistral",
		VocabSize: 40, HiddenSize: 16, IntermediateSize: 24, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1, SlidingWindow: 4}
	m, err := NewRandom(&c, 5, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 3))
	ids := make([]int, 15)
	for i := range ids {
		ids[i] = r.IntN(c.VocabSize)
	}
	want := naiveLogits(m, ids)
	cache := m.NewKVCache()
	pos, worst := 0, 0.0
	for _, n := range []int{3, 1, 5, 1, 1, 4} {
		last, err := m.Forward(cache, ids[pos:pos+n])
		if err != nil {
			t.Fatal(err)
		}
		pos += n
		if rows := len(cache.layers[0].k) / cache.layers[0].dim; rows > c.SlidingWindow-1+n {
			t.Errorf("after position %d the cache holds %d rows, more than window−1+%d", pos, rows, n)
		}
		rel := relErr64(last, want[pos-1])
		if rel > 1e-4 {
			t.Errorf("position %d: cached logits relative error %.2e > 1e-4", pos-1, rel)
		}
		worst = max(worst, rel)
	}
	t.Logf("worst cached logits relative error %.2e", worst)
	prompt := ids[:3]
	gen, err := m.Generate(prompt, GenerateOptions{MaxNewTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	seq := append([]int(nil), prompt...)
	for k, tok := range gen {
		ref := naiveLogits(m, seq)
		row := ref[len(seq)-1]
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		if tok != best {
			t.Fatalf("generated token %d (position %d) is %d, the reference's argmax is %d", k, len(seq), tok, best)
		}
		seq = append(seq, tok)
	}
}

// relErr64 is ‖got−want‖/‖want‖ against a float64 reference.
func relErr64(got []float32, want []float64) float64 {
	var d2, n2 float64
	for i, w := range want {
		d := float64(got[i]) - w
		d2 += d * d
		n2 += w * w
	}
	return math.Sqrt(d2 / n2)
}
