package memplan

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tensor"
)

func llama(h, inter, layers, heads, kv, vocab int, tied bool) *hf.Config {
	return &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama", VocabSize: vocab,
		HiddenSize: h, IntermediateSize: inter, NumHiddenLayers: layers, NumAttentionHeads: heads,
		NumKeyValueHeads: kv, HeadDim: h / heads, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5, RopeTheta: 10000,
		HiddenAct: "silu", TieWordEmbeddings: tied}
}

// TestParamCount checks the parameter count the estimate is built on
// against the model package's (an independent count: the tensors a random
// model really allocates), and the LoRA adapter's size against
// AttachLoRA's.
func TestParamCount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       *hf.Config
		targets []string
	}{
		{"small", llama(64, 172, 2, 4, 4, 256, false), []string{"q_proj", "v_proj"}},
		{"gqa tied", llama(96, 256, 3, 6, 2, 300, true), []string{"all-linear"}},
	} {
		m, err := model.NewRandom(tc.c, 1, 0.02)
		if err != nil {
			t.Fatal(err)
		}
		s := shapeOf(tc.c)
		if s.params != m.NumParams() {
			t.Errorf("%s: %d parameters, model counts %d", tc.name, s.params, m.NumParams())
		}
		full := Plan{Model: tc.c, Sequences: 1, SeqLen: 1, CompletionTokens: 1}.Estimate()
		if full.Weights != 4*m.NumParams() || full.Gradients != 4*m.NumParams() || full.Optimizer != 8*m.NumParams() {
			t.Errorf("%s: full fine-tuning weights/grads/AdamW %d/%d/%d, want 4/4/8 × %d", tc.name, full.Weights, full.Gradients, full.Optimizer, m.NumParams())
		}
		if err := m.AttachLoRA(model.LoRAConfig{R: 4, Alpha: 8, Targets: tc.targets}, 1); err != nil {
			t.Fatal(err)
		}
		var adapter int64
		for _, p := range m.LoRAParams() {
			adapter += int64(len(p.Tensor.Data))
		}
		lora := Plan{Model: tc.c, LoRARank: 4, LoRATargets: tc.targets, Sequences: 1, SeqLen: 1, CompletionTokens: 1}.Estimate()
		if lora.Gradients != 4*adapter || lora.Optimizer != 8*adapter || lora.Weights != 4*(s.params+adapter) {
			t.Errorf("%s: LoRA grads/AdamW/weights %d/%d/%d, adapter has %d values", tc.name, lora.Gradients, lora.Optimizer, lora.Weights, adapter)
		}
	}
}

// TestEstimateParts checks the activation and logit terms by hand for one
// shape: h 64, inter 172, kv 64, 2 layers, 4 sequences of 10 tokens, 30
// completion tokens, vocab 256.
func TestEstimateParts(t *testing.T) {
	c := llama(64, 172, 2, 4, 4, 256, false)
	p := Plan{Model: c, Sequences: 4, SeqLen: 10, CompletionTokens: 30}
	// Kept per token and layer: 2 norms, q, k, v, attention, 2 residual
	// sums (h 64 each), gate, up, SwiGLU (172 each).
	perLayer := int64(4*64 + 2*64 + 2*64 + 3*172) // 1028 values a token
	e := p.Estimate()
	// 40 tokens: 2 layers kept, 2 input gradients, one layer's gradients;
	// the embedding and the final norm with their gradients.
	if want := 4*40*(2*perLayer+2*64+perLayer) + 2*4*40*64*2; e.Activations != want {
		t.Errorf("activations %d, want %d", e.Activations, want)
	}
	// One chunk of all 30 rows: forward (x rows, logits) and backward
	// (x rows, dx rows, logits) buffers, and 2 values per row.
	if want := int64(4*30*(64+256) + 4*30*(2*64+256) + 4*30*2); e.Logits != want {
		t.Errorf("logits %d, want %d", e.Logits, want)
	}
	p.LoRARank, p.LoRATargets = 4, []string{"q_proj", "v_proj"}
	lora := p.Estimate()
	if want := 4*40*(2*(perLayer+2*(64+4))+2*64+perLayer+2*(64+4)) + 2*4*40*64*2; lora.Activations != want {
		t.Errorf("LoRA activations %d, want %d", lora.Activations, want)
	}
	if want := e.Logits + 4*30*64; lora.Logits != want {
		t.Errorf("LoRA logits %d, want %d (a row of dX per completion token)", lora.Logits, want)
	}
	p.LoRARank, p.LoRATargets = 0, nil
	p.GradientCheckpointing = true
	if want := 2*4*40*64*2 + 2*4*40*perLayer + 2*4*40*64*2; p.Estimate().Activations != want {
		t.Errorf("checkpointed activations %d, want %d", p.Estimate().Activations, want)
	}
	p.Reference = RefFrozenCopy
	p.BaseBF16 = true
	s := shapeOf(c)
	if got, want := p.Estimate().Reference, 4*(s.params-s.linear)+2*s.linear+4*40*(perLayer+2*64); got != want {
		t.Errorf("bf16 reference copy %d, want %d", got, want)
	}
	if p.Reference = RefCached; p.Estimate().Reference != 0 {
		t.Errorf("cached reference costs %d bytes", p.Estimate().Reference)
	}
}

// TestSuggestions: a full fine-tuning run with a frozen reference copy
// that does not fit gets each change alone, cheaper than the run, those
// that fit first, and a combination.
func TestSuggestions(t *testing.T) {
	c := llama(576, 1536, 30, 9, 3, 49152, true)
	p := Plan{Model: c, Reference: RefFrozenCopy, Sequences: 8, PerExample: 2, SeqLen: 512, CompletionTokens: 8 * 400}
	e := p.Estimate()
	avail := e.Total() * 6 / 10
	sug := p.Suggestions(avail)
	if len(sug) < 5 {
		t.Fatalf("%d suggestions: %+v", len(sug), sug)
	}
	seenMiss, seen := false, map[string]bool{}
	for _, s := range sug {
		t.Logf("fits %v %s: %s", s.Fits, s.Change, s.Estimate)
		if s.Estimate.Total() >= e.Total() {
			t.Errorf("%s: %s is not cheaper than %s", s.Change, GiB(s.Estimate.Total()), GiB(e.Total()))
		}
		if s.Fits != (s.Estimate.Total() <= avail) {
			t.Errorf("%s: Fits %v with %d of %d", s.Change, s.Fits, s.Estimate.Total(), avail)
		}
		if !s.Fits {
			seenMiss = true
		} else if seenMiss {
			t.Errorf("%s fits but comes after one that does not", s.Change)
		}
		seen[strings.Fields(s.Change)[0]] = true
	}
	for _, w := range []string{"frozen", "cached", "gradient", "micro-batch", "LoRA", "all"} {
		if !seen[w] {
			t.Errorf("no suggestion starting %q", w)
		}
	}
	// With 8 sequences of 8,192 tokens LoRA's activations (its A and B
	// outputs, 30 layers × 1,600 values a token) cost more than the
	// gradients and AdamW moments it saves: left out.
	long := p
	long.SeqLen, long.CompletionTokens = 8192, 8*8000
	for _, s := range long.Suggestions(long.Estimate().Total() * 6 / 10) {
		if strings.HasPrefix(s.Change, "LoRA") {
			t.Errorf("LoRA suggested on 8 × 8,192 tokens though it costs more: %s", s.Estimate)
		}
	}

	// A 70B Llama on a 24 GiB machine: nothing fits; LoRA comes with the
	// largest saving, and the combination is listed.
	big := Plan{Model: llama(8192, 28672, 80, 64, 8, 32000, false), Reference: RefCached, Sequences: 8, PerExample: 2, SeqLen: 1024, CompletionTokens: 8 * 512}
	sug = big.Suggestions(24 << 30)
	var lora, all *Suggestion
	for i, s := range sug {
		t.Logf("70B: fits %v %s: %s", s.Fits, s.Change, s.Estimate)
		if s.Fits {
			t.Errorf("%s fits 70B into 24 GiB", s.Change)
		}
		switch strings.Fields(s.Change)[0] {
		case "LoRA":
			lora = &sug[i]
		case "all":
			all = &sug[i]
		}
	}
	if lora == nil || all == nil || all.Plan.Sequences != 2 || !all.Plan.BaseBF16 || all.Plan.LoRARank != 16 {
		t.Fatalf("70B suggestions: %+v", sug)
	}
	if w := big.Estimate().Weights; w < 4*68e9 || w > 4*70e9 {
		t.Errorf("70B F32 weights %s", GiB(w))
	}
}

// TestActivationsMatchTape checks the activation term against what the
// engine really holds: the most the training tape's arenas handed out at
// once (Tape.ArenaPeakBytes) over a policy forward and backward
// (model.LogProbs, then Tape.Backward) on a random model of smaug bench's
// small shape, 4 sequences of 1 + 255 tokens, full and LoRA, with and
// without gradient checkpointing. The arenas
// also hold the output layer's per-token values (the term's share of
// Logits that is not its chunk buffers) and a few per-row values the term
// leaves out (norms' and attention's statistics): within 5%.
func TestActivationsMatchTape(t *testing.T) {
	c := llama(256, 688, 4, 4, 4, 4096, false)
	c.MaxPositionEmbeddings = 256
	const seqs, seqLen = 4, 256
	r := rand.New(rand.NewPCG(1, 2))
	items := make([]model.Completion, seqs)
	for i := range items {
		ids := make([]int, seqLen)
		for j := range ids {
			ids[j] = r.IntN(c.VocabSize)
		}
		items[i] = model.Completion{Prompt: ids[:1], Completion: ids[1:]}
	}
	for _, tc := range []struct{ lora, ckpt bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		lora := tc.lora
		m, err := model.NewRandom(c, 1, 0.02)
		if err != nil {
			t.Fatal(err)
		}
		m.GradientCheckpointing = tc.ckpt
		p := Plan{Model: c, Sequences: seqs, SeqLen: seqLen, CompletionTokens: seqs * (seqLen - 1), GradientCheckpointing: tc.ckpt}
		perToken := int64(2) // log-prob and log-sum-exp
		if lora {
			p.LoRARank, p.LoRATargets = 16, []string{"q_proj", "k_proj", "v_proj", "o_proj"}
			if err := m.AttachLoRA(model.LoRAConfig{R: p.LoRARank, Alpha: 32, Targets: p.LoRATargets}, 1); err != nil {
				t.Fatal(err)
			}
			perToken += int64(c.HiddenSize) // dX row of the frozen output layer
		}
		tp := tensor.NewTape()
		s, err := m.LogProbs(tp, items)
		if err != nil {
			t.Fatal(err)
		}
		seed := make([]float32, s.Seq.Len())
		for i := range seed {
			seed[i] = 1
		}
		tp.Backward(s.Seq, seed)
		got, want := tp.ArenaPeakBytes(), p.Estimate().Activations+4*int64(p.CompletionTokens)*perToken
		t.Logf("%+v: tape arenas' peak %.1f MiB, estimate %.1f MiB", tc, float64(got)/(1<<20), float64(want)/(1<<20))
		if d := float64(got-want) / float64(want); d < -0.05 || d > 0.05 {
			t.Errorf("%+v: tape arenas' peak %d bytes, estimate %d (%+.1f%%)", tc, got, want, 100*d)
		}
	}
}
