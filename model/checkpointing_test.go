package model

import (
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tensor"
)

// TestGradientCheckpointing: with per-layer recomputation the log-probs and
// every gradient are bitwise those of the plain backward — for full
// fine-tuning, and for LoRA with dropout (the recomputation replays the
// same dropout masks).
func TestGradientCheckpointing(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	e := loadExpected(t, root)
	for _, lora := range []bool{false, true} {
		grads := func(ckpt bool) (seq []float32, g map[string][]float32) {
			m := mustLoad(t, filepath.Join(root, "policy"))
			params := m.Params()
			if lora {
				if err := m.AttachLoRA(LoRAConfig{R: 2, Alpha: 4, Dropout: 0.3, Targets: []string{AllLinear}}, 1); err != nil {
					t.Fatal(err)
				}
				for _, p := range m.LoRAParams() { // non-zero B so A gets gradients too
					if p.Tensor.Shape[1] == 2 {
						for i := range p.Tensor.Data {
							p.Tensor.Data[i] = 0.01 * float32(i%7-3)
						}
					}
				}
				m.SetDropoutSeed(5)
				params = m.LoRAParams()
			}
			m.GradientCheckpointing = ckpt
			tp := tensor.NewTape()
			s, err := m.LogProbs(tp, pairBatch(e))
			if err != nil {
				t.Fatal(err)
			}
			seed := make([]float32, s.Seq.Len())
			for i := range seed {
				seed[i] = float32(i) - 2.5
			}
			tp.Backward(s.Seq, seed)
			g = map[string][]float32{}
			for _, p := range params {
				g[p.Name] = p.Tensor.Grad
			}
			return append([]float32(nil), s.Seq.Data...), g
		}
		s0, g0 := grads(false)
		s1, g1 := grads(true)
		for i := range s0 {
			if s0[i] != s1[i] {
				t.Fatalf("lora=%v: log-prob %d: %v checkpointed, %v plain", lora, i, s1[i], s0[i])
			}
		}
		for name, g := range g0 {
			for i := range g {
				if g[i] != g1[name][i] {
					t.Fatalf("lora=%v: %s[%d]: %v checkpointed, %v plain", lora, name, i, g1[name][i], g[i])
				}
			}
		}
	}
}
