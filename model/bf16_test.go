package model

import (
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tensor"
)

// TestLoadFrozenBF16 holds the fixture policy's matrices in bfloat16:
// loaded from the BF16 checkpoint they are the checkpoint's bits and the
// logits equal the float32-held model's bit for bit; loaded from the F32
// checkpoint they are its values rounded to nearest even (checked with the
// independent roundBF16). Norm weights stay float32; nothing is trainable.
// Only the BF16 checkpoint stays mapped (read in place).
func TestLoadFrozenBF16(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	e := loadExpected(t, root)
	dir := filepath.Join(root, "policy_bf16")
	m32 := mustLoad(t, dir)
	m16, err := LoadFrozen(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m16.Params() {
		matrix := len(p.Tensor.Shape) == 2
		if p.Tensor.RequiresGrad || matrix != (p.Tensor.BF16 != nil) || matrix != (p.Tensor.Data == nil) {
			t.Errorf("%s: RequiresGrad %v, bf16 %v, float32 %v", p.Name, p.Tensor.RequiresGrad, p.Tensor.BF16 != nil, p.Tensor.Data != nil)
		}
	}
	if m16.mapped == nil {
		t.Errorf("a BF16 checkpoint loaded with bf16: its matrices should read the mapped file in place")
	}
	defer m16.Close()
	if m16.NumParams() != m32.NumParams() {
		t.Errorf("NumParams %d, want %d", m16.NumParams(), m32.NumParams())
	}
	seqs := [][]int{e.Forward.IDsA, e.Forward.IDsB}
	want, err := m32.Logits(seqs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m16.Logits(seqs)
	if err != nil {
		t.Fatal(err)
	}
	for s := range want {
		for i := range want[s] {
			if got[s][i] != want[s][i] {
				t.Fatalf("sequence %d logit %d: bf16-held %v, float32-held %v", s, i, got[s][i], want[s][i])
			}
		}
	}

	f32 := mustLoad(t, filepath.Join(root, "policy"))
	r16, err := LoadFrozen(filepath.Join(root, "policy"), true)
	if err != nil {
		t.Fatal(err)
	}
	if r16.mapped != nil {
		t.Errorf("an F32 checkpoint rounded to bf16 keeps its file mapped")
	}
	for _, p := range f32.Params() {
		q, _ := r16.Param(p.Name)
		if q.BF16 == nil {
			continue
		}
		for i, v := range q.Float32() {
			if r := roundBF16(p.Tensor.Data[i]); v != r {
				t.Fatalf("%s[%d]: %v, want %v rounded to %v", p.Name, i, v, p.Tensor.Data[i], r)
			}
		}
	}
}

// TestLoRAOnBF16Base trains the PEFT fixture's adapter on a base held in
// bfloat16 (LoadFrozen) and on a float32 base holding the same rounded
// values: policy log-probs and every LoRA gradient must be equal bit for
// bit, with and without gradient checkpointing. HoldFrozenBF16 on a
// float32-loaded model must give the same bits as LoadFrozen.
func TestLoRAOnBF16Base(t *testing.T) {
	root, e := loadLoRAFixture(t)
	var items []Completion
	for _, p := range e.Pairs {
		items = append(items, Completion{p.Prompt, p.Chosen}, Completion{p.Prompt, p.Rejected})
	}
	adapter := filepath.Join(root, "adapter")

	rounded := mustLoad(t, filepath.Join(root, "base"))
	for _, p := range rounded.Params() {
		if len(p.Tensor.Shape) == 2 {
			for i, v := range p.Tensor.Data {
				p.Tensor.Data[i] = roundBF16(v)
			}
		}
	}
	if _, err := LoadAdapter(rounded, adapter); err != nil {
		t.Fatal(err)
	}
	frozen, err := LoadFrozen(filepath.Join(root, "base"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAdapter(frozen, adapter); err != nil {
		t.Fatal(err)
	}
	held, _ := loadWithAdapter(t, root, adapter)
	held.HoldFrozenBF16()
	for _, p := range held.Params() {
		q, _ := frozen.Param(p.Name)
		for i := range p.Tensor.BF16 {
			if p.Tensor.BF16[i] != q.BF16[i] {
				t.Fatalf("%s[%d]: HoldFrozenBF16 %#04x, LoadFrozen %#04x", p.Name, i, p.Tensor.BF16[i], q.BF16[i])
			}
		}
		if (p.Tensor.BF16 == nil) != (q.BF16 == nil) {
			t.Fatalf("%s: HoldFrozenBF16 and LoadFrozen disagree on the storage", p.Name)
		}
	}

	run := func(m *Model, ckpt bool) (seq []float32, grads map[string][]float32) {
		m.GradientCheckpointing = ckpt
		m.ZeroGrad()
		tp := tensor.NewTape()
		s, err := m.LogProbs(tp, items)
		if err != nil {
			t.Fatal(err)
		}
		seed := make([]float32, len(items))
		for i := range seed {
			seed[i] = float32(i%3) - 1
		}
		tp.Backward(s.Seq, seed)
		grads = map[string][]float32{}
		for _, p := range m.LoRAParams() {
			grads[p.Name] = append([]float32(nil), p.Tensor.Grad...)
		}
		return append([]float32(nil), s.Seq.Data...), grads
	}
	for _, ckpt := range []bool{false, true} {
		ws, wg := run(rounded, ckpt)
		gs, gg := run(frozen, ckpt)
		for i := range ws {
			if gs[i] != ws[i] {
				t.Fatalf("checkpointing %v: log-prob %d: bf16 base %v, float32 base %v", ckpt, i, gs[i], ws[i])
			}
		}
		for name, w := range wg {
			for i := range w {
				if gg[name][i] != w[i] {
					t.Fatalf("checkpointing %v: %s[%d]: bf16 base %v, float32 base %v", ckpt, name, i, gg[name][i], w[i])
				}
			}
		}
	}
}
