package model_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/llama2c"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tensor"
)

// TestComputeBF16AccuracyStories measures BF16 compute on a real pretrained
// model, ../shared's stories260K (converted from llama2.c): four pieces of
// its own greedy story (a prompt of BOS and 8 tokens, 40 completion tokens
// each) scored with F32 and BF16 compute, every parameter trainable, as
// model's TestComputeBF16Accuracy does on the random fixtures, and scored
// by the model held in bfloat16 (LoadFrozen) with BF16 compute, the LoRA
// base's path, against float32 throughout. Bounds as there: log-probs within 2% relative, gradient relative error within 5%,
// cosine ≥ 0.998; the measured values are in the README.
func TestComputeBF16AccuracyStories(t *testing.T) {
	dir := sharedtest.Path(t, "models/stories260K")
	out := filepath.Join(t.TempDir(), "hf")
	c := &llama2c.Conversion{Model: filepath.Join(dir, "stories260K.bin"), Out: out}
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	const pieces, prompt, completion = 4, 8, 40
	story, err := m.Generate([]int{1}, model.GenerateOptions{MaxNewTokens: pieces * (prompt + completion)})
	if err != nil {
		t.Fatal(err)
	}
	var items []model.Completion
	for i := range pieces {
		p := story[i*(prompt+completion):]
		if len(p) < prompt+completion {
			t.Fatalf("the greedy story has %d tokens, want %d", len(story), pieces*(prompt+completion))
		}
		items = append(items, model.Completion{Prompt: append([]int{1}, p[:prompt]...), Completion: p[prompt : prompt+completion]})
	}
	seed := []float32{1, -0.5, 0.25, 2}
	run := func(compute dtype.DType) (seq, grad []float64) {
		m.ComputeDType = compute
		m.ZeroGrad()
		tp := tensor.NewTape()
		s, err := m.LogProbs(tp, items)
		if err != nil {
			t.Fatal(err)
		}
		tp.Backward(s.Seq, seed)
		for _, v := range s.Seq.Data {
			seq = append(seq, float64(v))
		}
		for _, p := range m.Params() {
			for _, g := range p.Tensor.Grad {
				grad = append(grad, float64(g))
			}
		}
		return seq, grad
	}
	s32, g32 := run(dtype.F32)
	s16, g16 := run(dtype.BF16)
	var maxAbs, maxRel, d2, n32, n16, dot float64
	for i := range s32 {
		d := math.Abs(s16[i] - s32[i])
		maxAbs, maxRel = max(maxAbs, d), max(maxRel, d/math.Abs(s32[i]))
	}
	for i := range g32 {
		d2 += (g16[i] - g32[i]) * (g16[i] - g32[i])
		n32 += g32[i] * g32[i]
		n16 += g16[i] * g16[i]
		dot += g16[i] * g32[i]
	}
	gradRel, cosine := math.Sqrt(d2/n32), dot/math.Sqrt(n16*n32)
	frozen, err := model.LoadFrozen(out, true)
	if err != nil {
		t.Fatal(err)
	}
	frozen.ComputeDType = dtype.BF16
	sb, err := frozen.LogProbs(nil, items)
	if err != nil {
		t.Fatal(err)
	}
	var baseAbs, baseRel float64
	for i, v := range sb.Seq.Data {
		d := math.Abs(float64(v) - s32[i])
		baseAbs, baseRel = max(baseAbs, d), max(baseRel, d/math.Abs(s32[i]))
	}
	t.Logf("stories260K held in bfloat16, BF16 compute, against float32: log-prob max |diff| %.2e, max relative %.2e", baseAbs, baseRel)
	if !(baseRel <= 0.02) {
		t.Errorf("bfloat16 weights and compute: relative log-prob difference %.2e > 0.02", baseRel)
	}
	t.Logf("stories260K: %d sequences (log-probs %.4g … %.4g): log-prob max |diff| %.2e, max relative %.2e; gradient relative error %.2e, cosine %.6f",
		len(items), s32[0], s32[len(s32)-1], maxAbs, maxRel, gradRel, cosine)
	if maxAbs == 0 {
		t.Errorf("BF16 compute gave the float32 log-probs bitwise: nothing was rounded")
	}
	if !(maxRel <= 0.02 && gradRel <= 0.05 && cosine >= 0.998) {
		t.Errorf("beyond the stated bounds (relative log-prob 0.02, gradient relative error 0.05, cosine 0.998)")
	}
}
