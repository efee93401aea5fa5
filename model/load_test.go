package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
)

// tinyConfig is a two-layer Llama small enough to save in a test.
func tinyConfig() *hf.Config {
	return &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 32, HiddenSize: 8, IntermediateSize: 12, NumHiddenLayers: 2,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 4, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
}

// saveTiny writes a random model of config c to a new folder.
func saveTiny(t *testing.T, c *hf.Config) string {
	t.Helper()
	m, err := NewRandom(c, 7, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// setLayers rewrites num_hidden_layers in dir's config.json from old to n.
func setLayers(t *testing.T, dir, old, n string) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"num_hidden_layers": `+old, `"num_hidden_layers": `+n, 1)
	if s == string(b) {
		t.Fatalf("config.json has no num_hidden_layers %s", old)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadChecksTensorTable: the checkpoint's tensor table is compared with
// config.json before anything is allocated — a billion layers over a
// two-layer checkpoint fails at once, naming num_hidden_layers; missing
// tensors and wrong shapes fail; more layers than the config, or tensors no
// parameter uses, load with a warning through LoadOptions.Warn.
func TestLoadChecksTensorTable(t *testing.T) {
	c := tinyConfig()
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		err   string // "" when it loads
		warn  string // the one warning, "" for none
	}{
		{"plain", func(t *testing.T) string { return saveTiny(t, c) }, "", ""},
		{"a billion layers", func(t *testing.T) string {
			dir := saveTiny(t, c)
			setLayers(t, dir, "2", "1000000000")
			return dir
		}, "field num_hidden_layers: 1000000000 layers, but the checkpoint holds no tensor of layer 2", ""},
		{"a billion layers written 1e9", func(t *testing.T) string {
			dir := saveTiny(t, c)
			setLayers(t, dir, "2", "1e9")
			return dir
		}, "field num_hidden_layers: want an integer, got 1e9", ""},
		{"more layers than the config", func(t *testing.T) string {
			c3 := *c
			c3.NumHiddenLayers = 3
			dir := saveTiny(t, &c3)
			setLayers(t, dir, "3", "2")
			return dir
		}, "", "holds 1 more layers than config.json's num_hidden_layers 2: their 9 tensors are not used"},
		{"an unused tensor", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "ckpt")
			ts := tensorsOf(t, c)
			ts = append(ts, hf.WriteTensor{Name: "model.rotary_emb.inv_freq", Shape: []int{2}, Data: []float32{1, 0.1}, DType: "F32"})
			if err := hf.SaveCheckpoint(dir, c, ts, 0); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "", "tensors not used by LlamaForCausalLM (1): model.rotary_emb.inv_freq"},
		{"a missing tensor", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "ckpt")
			ts := tensorsOf(t, c)
			ts = ts[:len(ts)-1] // lm_head.weight
			if err := hf.SaveCheckpoint(dir, c, ts, 0); err != nil {
				t.Fatal(err)
			}
			return dir
		}, `no tensor "lm_head.weight" (config.json calls for it)`, ""},
		{"a wrong shape", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "ckpt")
			ts := tensorsOf(t, c)
			ts[0].Shape = []int{16, 16}
			if err := hf.SaveCheckpoint(dir, c, ts, 0); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "tensor model.embed_tokens.weight has shape [16 16], config.json implies [32 8]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			var warnings []string
			m, err := LoadOptions{Warn: func(s string) { warnings = append(warnings, s) }}.Load(dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("error %v, want one naming %s and containing %q", err, dir, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != c.NumHiddenLayers {
				t.Errorf("%d layers, want %d", len(m.Layers), c.NumHiddenLayers)
			}
			switch {
			case tt.warn == "" && len(warnings) > 0:
				t.Errorf("warnings %q, want none", warnings)
			case tt.warn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.warn)):
				t.Errorf("warnings %q, want one containing %q", warnings, tt.warn)
			}
		})
	}
}

// tensorsOf returns the parameters of a random model of c as tensors to
// write.
func tensorsOf(t *testing.T, c *hf.Config) []hf.WriteTensor {
	t.Helper()
	m, err := NewRandom(c, 3, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	var ts []hf.WriteTensor
	for _, p := range m.Params() {
		ts = append(ts, hf.WriteTensor{Name: p.Name, Shape: p.Tensor.Shape, Data: p.Tensor.Data, DType: "F32"})
	}
	return ts
}

// TestLoadOptionsBF16NeedsFrozen: bfloat16 weights are only for frozen
// models.
func TestLoadOptionsBF16NeedsFrozen(t *testing.T) {
	dir := saveTiny(t, tinyConfig())
	if _, err := (LoadOptions{BF16: true}).Load(dir); err == nil || !strings.Contains(err.Error(), "needs Frozen") {
		t.Errorf("error %v, want one saying BF16 needs Frozen", err)
	}
	m, err := LoadOptions{Frozen: true, BF16: true}.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Embed.BF16 == nil || m.Embed.RequiresGrad || m.Norm.BF16 != nil {
		t.Errorf("frozen bf16 load: embed bf16 %v, trainable %v; norm bf16 %v", m.Embed.BF16 != nil, m.Embed.RequiresGrad, m.Norm.BF16 != nil)
	}
}
