package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

func runMergeCmd(args ...string) (string, error) {
	cmd := newMergeCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// readF32 reads every tensor of a safetensors file as float32.
func readF32(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := hf.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float32{}
	for _, n := range f.Names() {
		x, _ := f.Tensor(n)
		if out[n], err = x.Float32(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestMergeFixture merges the PEFT fixture adapter into its base end to
// end: the F32 checkpoint reloads and gives PEFT's merge_and_unload logits
// within 1e-4 relative; the base's tokenizer and generation files are
// copied byte for byte; the BF16 checkpoint holds the F32 weights rounded to
// bfloat16 and says so in config.json.
func TestMergeFixture(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama_lora")
	var e struct {
		IDs []int `json:"ids"`
	}
	b, err := os.ReadFile(filepath.Join(root, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	// A base folder with tokenizer files beside the fixture's weights.
	base := filepath.Join(t.TempDir(), "base")
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "model.safetensors", "generation_config.json"} {
		if err := os.Symlink(filepath.Join(root, "base", name), filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	tokCfg := []byte(`{"bos_token": "<s>", "model_max_length": 128}`)
	if err := os.WriteFile(filepath.Join(base, "tokenizer_config.json"), tokCfg, 0o644); err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(root, "adapter")
	dir := t.TempDir()

	f32 := filepath.Join(dir, "merged")
	msg, err := runMergeCmd("--base", base, "--adapter", adapter, "--out", f32)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "merged 14 LoRA adapters") {
		t.Errorf("summary %q does not count the 14 adapted projections", msg)
	}
	m, err := model.Load(f32)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Logits([][]int{e.IDs})
	if err != nil {
		t.Fatal(err)
	}
	want := readF32(t, filepath.Join(root, "logits.safetensors"))["logits_merged"]
	var d2, n2 float64
	for i := range want {
		d := float64(got[0][i]) - float64(want[i])
		d2 += d * d
		n2 += float64(want[i]) * float64(want[i])
	}
	if r := math.Sqrt(d2 / n2); r > 1e-4 {
		t.Errorf("merged checkpoint logits: relative error %.2e > 1e-4", r)
	} else {
		t.Logf("merged checkpoint logits: relative error %.2e", r)
	}
	for _, name := range []string{"tokenizer_config.json", "generation_config.json"} {
		g, err := os.ReadFile(filepath.Join(f32, name))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := os.ReadFile(filepath.Join(base, name))
		if !bytes.Equal(g, w) {
			t.Errorf("%s was not copied from the base", name)
		}
	}
	if _, err := os.Stat(filepath.Join(f32, "tokenizer.json")); err == nil {
		t.Errorf("tokenizer.json appeared though the base has none")
	}

	bf16 := filepath.Join(dir, "merged-bf16")
	if _, err := runMergeCmd("--base", base, "--adapter", adapter, "--out", bf16, "--dtype", "bf16"); err != nil {
		t.Fatal(err)
	}
	cfg, err := hf.LoadConfig(bf16)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TorchDtype != "bfloat16" {
		t.Errorf("config dtype %q, want bfloat16", cfg.TorchDtype)
	}
	st, err := hf.OpenSafetensors(filepath.Join(bf16, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wf32 := readF32(t, filepath.Join(f32, "model.safetensors"))
	for _, n := range st.Names() {
		x, _ := st.Tensor(n)
		if x.DType != "BF16" {
			t.Fatalf("%s stored as %s, want BF16", n, x.DType)
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range wf32[n] {
			// Round to nearest even bfloat16, written out independently.
			bits := math.Float32bits(w)
			bits += 0x7fff + (bits>>16)&1
			if r := math.Float32frombits(bits &^ 0xffff); v[i] != r {
				t.Fatalf("%s[%d] = %v, want %v rounded to bfloat16 (%v)", n, i, v[i], w, r)
			}
		}
	}
}

// TestMergeErrors: a bad flag or an existing --out fails before anything is
// written.
func TestMergeErrors(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama_lora")
	base, adapter := filepath.Join(root, "base"), filepath.Join(root, "adapter")
	exists := t.TempDir()
	fresh := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"out exists", []string{"--base", base, "--adapter", adapter, "--out", exists}, "already exists"},
		{"dtype", []string{"--base", base, "--adapter", adapter, "--out", fresh, "--dtype", "F8"}, `--dtype "F8"`},
		{"shard size", []string{"--base", base, "--adapter", adapter, "--out", fresh, "--max-shard-size", "big"}, "--max-shard-size"},
		{"adapter", []string{"--base", base, "--adapter", base, "--out", fresh}, "adapter_config.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runMergeCmd(c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
			if _, err := os.Stat(fresh); err == nil {
				t.Errorf("a failed merge created %s", fresh)
			}
		})
	}
}

// TestParseByteSize: transformers' units, hand-computed.
func TestParseByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"5GB", 5_000_000_000}, {"500MiB", 500 << 20}, {"0", 0}, {"1.5 kb", 1500}, {"123", 123}, {"2gib", 2 << 30},
	} {
		got, err := parseByteSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "GB", "-1MB", "five"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) succeeded", bad)
		}
	}
}

// TestMergeKeepsTokenizerFiles merges an adapter into a base folder holding
// every kind of tokenizer and template file, chat_template.jinja and a
// named template included: each is copied byte for byte, the merged
// checkpoint loads, and the merged weights are W + scaling·B·A.
func TestMergeKeepsTokenizerFiles(t *testing.T) {
	c := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 16, HiddenSize: 8, IntermediateSize: 12, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 32,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	dir := t.TempDir()
	base, adapter, out := filepath.Join(dir, "base"), filepath.Join(dir, "adapter"), filepath.Join(dir, "merged")
	m, err := model.NewRandom(c, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(base, "F32", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.AttachLoRA(model.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"q_proj"}}, 3); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.LoRAParams() { // B starts at zero: make the update visible
		for i := range p.Tensor.Data {
			p.Tensor.Data[i] = 0.01 * float32(i%7+1)
		}
	}
	if err := m.SaveAdapter(adapter, base); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"tokenizer.json":                           `{"version": "1.0"}`,
		"tokenizer_config.json":                    `{"bos_token": "<s>"}`,
		"special_tokens_map.json":                  `{"bos_token": "<s>"}`,
		"chat_template.jinja":                      "{% for m in messages %}{{ m.content }}{% endfor %}",
		"generation_config.json":                   `{"do_sample": false}`,
		"additional_chat_templates/tool_use.jinja": "{{ tools }}",
	}
	if err := os.Mkdir(filepath.Join(base, "additional_chat_templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(base, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runMergeCmd("--base", base, "--adapter", adapter, "--out", out, "--dtype", "F32"); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(got) != body {
			t.Errorf("%s: got %q, %v; want the base's %q", name, got, err, body)
		}
	}
	merged, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	m.MergeLoRA()
	want, _ := m.Param("model.layers.0.self_attn.q_proj.weight")
	got, _ := merged.Param("model.layers.0.self_attn.q_proj.weight")
	base0, _ := model.Load(base)
	orig, _ := base0.Param("model.layers.0.self_attn.q_proj.weight")
	changed := false
	for i := range want.Data {
		if math.Abs(float64(got.Data[i]-want.Data[i])) > 1e-6 {
			t.Fatalf("merged q_proj[%d] = %v, want %v", i, got.Data[i], want.Data[i])
		}
		changed = changed || got.Data[i] != orig.Data[i]
	}
	if !changed {
		t.Error("the merge left q_proj unchanged")
	}
}
