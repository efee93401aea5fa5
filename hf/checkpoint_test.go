package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/internal/sharedtest"
)

func openCheckpoint(t *testing.T, dir string) *Checkpoint {
	t.Helper()
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sameTensors checks that two checkpoints hold the same tensors, bit for
// bit.
func sameTensors(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	if g, w := got.Names(), want.Names(); !slices.Equal(g, w) {
		t.Fatalf("names differ:\n got %v\nwant %v", g, w)
	}
	for _, n := range want.Names() {
		a, err := got.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := want.Tensor(n)
		if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
			t.Errorf("tensor %s differs: %s %v vs %s %v", n, a.DType, a.Shape, b.DType, b.Shape)
		}
	}
}

func TestShardedEqualsSingle(t *testing.T) {
	single := openCheckpoint(t, sharedtest.Path(t, "fixtures/hf/llama/policy"))
	sharded := openCheckpoint(t, sharedtest.Path(t, "fixtures/hf/llama/policy_sharded"))
	if len(sharded.files) != 6 {
		t.Errorf("sharded checkpoint mapped %d files, want 6", len(sharded.files))
	}
	if len(single.Names()) != 21 {
		t.Errorf("%d tensors, want 21", len(single.Names()))
	}
	sameTensors(t, sharded, single)
	if !reflect.DeepEqual(typed(sharded.Config), typed(single.Config)) {
		t.Errorf("configs differ")
	}
}

// TestBF16Fixture checks every value of the bf16 checkpoint against
// F32ToBF16 of the float32 one, bit for bit.
func TestBF16Fixture(t *testing.T) {
	single := openCheckpoint(t, sharedtest.Path(t, "fixtures/hf/llama/policy"))
	bf := openCheckpoint(t, sharedtest.Path(t, "fixtures/hf/llama/policy_bf16"))
	if bf.Config.TorchDtype != "bfloat16" {
		t.Errorf("TorchDtype %q", bf.Config.TorchDtype)
	}
	checked := 0
	for _, n := range single.Names() {
		f32, _ := single.Tensor(n)
		b16, err := bf.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		if b16.DType != "BF16" || !slices.Equal(b16.Shape, f32.Shape) {
			t.Fatalf("%s: %s %v", n, b16.DType, b16.Shape)
		}
		vals, _ := f32.Float32()
		for i, v := range vals {
			if got, want := binary.LittleEndian.Uint16(b16.Data[2*i:]), dtype.F32ToBF16(v); got != want {
				t.Fatalf("%s[%d]: file has %#04x, F32ToBF16(%v) = %#04x", n, i, got, v, want)
			}
			checked++
		}
	}
	if checked != 133440 {
		t.Errorf("checked %d values, want 133440", checked)
	}
}

func TestQwen2Tied(t *testing.T) {
	dir := sharedtest.Path(t, "fixtures/hf/qwen2/policy")
	c := openCheckpoint(t, dir)
	if !c.Config.TieWordEmbeddings || !c.Config.QKVBias || c.Config.OBias {
		t.Errorf("config: tie %v qkv bias %v o bias %v", c.Config.TieWordEmbeddings, c.Config.QKVBias, c.Config.OBias)
	}
	if c.Has("lm_head.weight") {
		t.Error("tied checkpoint has lm_head.weight")
	}
	_, err := c.Tensor("lm_head.weight")
	if err == nil || !strings.Contains(err.Error(), `"lm_head.weight"`) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v should name the tensor and %s", err, dir)
	}
	b, err := c.Tensor("model.layers.1.self_attn.k_proj.bias")
	if err != nil || !slices.Equal(b.Shape, []int{32}) {
		t.Errorf("k_proj.bias: %v %v", b, err)
	}
	if len(c.Names()) != 2*12+2 { // 9 weights + 3 biases per layer, embed, norm
		t.Errorf("%d tensors, want 26", len(c.Names()))
	}
}

func TestSaveCheckpointRoundTrip(t *testing.T) {
	src := openCheckpoint(t, sharedtest.Path(t, "fixtures/hf/llama/policy"))
	ts := readAll(t, filepath.Join(src.Dir, SafetensorsFile), "F32")
	dir := filepath.Join(t.TempDir(), "out")

	// Sharded, into a new folder.
	if err := SaveCheckpoint(dir, src.Config, ts, 100_000); err != nil {
		t.Fatal(err)
	}
	got := openCheckpoint(t, dir)
	sameTensors(t, got, src)
	if len(got.files) != 6 { // 533,760 bytes greedily packed into ≤100,000-byte shards
		t.Errorf("%d shards, want 6", len(got.files))
	}
	if !reflect.DeepEqual(typed(got.Config), typed(src.Config)) {
		t.Errorf("config changed:\n%+v\n%+v", typed(got.Config), typed(src.Config))
	}
	var index struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, SafetensorsIndexFile))
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	if index.Metadata["total_size"] != 533760 || index.Metadata["total_parameters"] != 133440 || len(index.WeightMap) != 21 {
		t.Errorf("index metadata %v, %d weights", index.Metadata, len(index.WeightMap))
	}
	gen, _ := os.ReadFile(filepath.Join(dir, GenerationConfigFile))
	var g map[string]any
	if err := json.Unmarshal(gen, &g); err != nil || g["bos_token_id"] != 1.0 || g["eos_token_id"] != 2.0 {
		t.Errorf("generation_config %s: %v", gen, err)
	}
	cfgWant, _ := os.ReadFile(filepath.Join(src.Dir, ConfigFile))
	if cfgGot, _ := os.ReadFile(filepath.Join(dir, ConfigFile)); !bytes.Equal(cfgGot, cfgWant) {
		t.Errorf("config.json differs from the source's:\n%s", cfgGot)
	}

	// Single file over the existing sharded folder: stale shards go.
	if err := SaveCheckpoint(dir, src.Config, ts, 0); err != nil {
		t.Fatal(err)
	}
	sameTensors(t, openCheckpoint(t, dir), src)
	want := []string{ConfigFile, GenerationConfigFile, SafetensorsFile}
	if names := dirNames(t, dir); !slices.Equal(names, want) {
		t.Errorf("folder holds %v, want %v", names, want)
	}

	// Sharded again, in bf16, over the single file.
	for i := range ts {
		ts[i].DType = "BF16"
	}
	if err := SaveCheckpoint(dir, src.Config, ts, 200_000); err != nil {
		t.Fatal(err)
	}
	bf := openCheckpoint(t, dir)
	ref := openCheckpoint(t, sharedtest.Path(t, "fixtures/hf/llama/policy_bf16"))
	sameTensors(t, bf, ref)
	if names := dirNames(t, dir); slices.Contains(names, SafetensorsFile) || len(names) != 3+2 {
		t.Errorf("folder holds %v, want config, generation config, index and 2 shards", names)
	}
	if names := dirNames(t, filepath.Dir(dir)); len(names) != 1 {
		t.Errorf("temporary folders left: %v", names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestSinglePreferredOverIndex: like transformers, model.safetensors wins
// over an index in the same folder.
func TestSinglePreferredOverIndex(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := os.ReadFile(sharedtest.Path(t, "fixtures/hf/llama/policy/config.json"))
	os.WriteFile(filepath.Join(dir, ConfigFile), cfg, 0o644)
	if err := WriteSafetensors(filepath.Join(dir, SafetensorsFile), []WriteTensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(filepath.Join(dir, "s.safetensors"), []WriteTensor{{Name: "a", Shape: []int{1}, Data: []float32{2}}}, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, SafetensorsIndexFile), []byte(`{"weight_map": {"a": "s.safetensors"}}`), 0o644)
	c := openCheckpoint(t, dir)
	a, err := c.Tensor("a")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := a.Float32(); v[0] != 1 {
		t.Errorf("a = %v, want 1 from model.safetensors", v)
	}
}

func TestOpenCheckpointErrors(t *testing.T) {
	cfgPath := sharedtest.Path(t, "fixtures/hf/llama/policy/config.json")
	cfgData, _ := os.ReadFile(cfgPath)
	one := []WriteTensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}
	tests := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"no config", func(dir string) {}, "config.json"},
		{"no weights", func(dir string) {}, "no model.safetensors or model.safetensors.index.json"},
		{"escaping shard name", func(dir string) {
			os.WriteFile(filepath.Join(dir, SafetensorsIndexFile), []byte(`{"weight_map": {"a": "../x.safetensors"}}`), 0o644)
		}, `shard "../x.safetensors" is not a file name`},
		{"missing shard", func(dir string) {
			os.WriteFile(filepath.Join(dir, SafetensorsIndexFile), []byte(`{"weight_map": {"a": "s1.safetensors"}}`), 0o644)
		}, "s1.safetensors"},
		{"tensor not in its shard", func(dir string) {
			WriteSafetensors(filepath.Join(dir, "s1.safetensors"), one, nil)
			os.WriteFile(filepath.Join(dir, SafetensorsIndexFile), []byte(`{"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}}`), 0o644)
		}, `tensor "b" in s1.safetensors`},
		{"empty weight map", func(dir string) {
			os.WriteFile(filepath.Join(dir, SafetensorsIndexFile), []byte(`{"metadata": {}}`), 0o644)
		}, "weight_map: missing or empty"},
		{"bad index JSON", func(dir string) {
			os.WriteFile(filepath.Join(dir, SafetensorsIndexFile), []byte("{\n\"weight_map\": [}"), 0o644)
		}, "line 2"},
		{"corrupt weights", func(dir string) {
			os.WriteFile(filepath.Join(dir, SafetensorsFile), []byte("12345678"), 0o644)
		}, "header length"},
	}
	for i, tt := range tests {
		dir := filepath.Join(t.TempDir(), "m")
		os.Mkdir(dir, 0o755)
		if i > 0 {
			os.WriteFile(filepath.Join(dir, ConfigFile), cfgData, 0o644)
		}
		tt.setup(dir)
		c, err := OpenCheckpoint(dir)
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %q should name %s and contain %q", tt.name, err, dir, tt.want)
		}
	}
}

func TestSaveCheckpointErrors(t *testing.T) {
	cfg, err := LoadConfig(sharedtest.Path(t, "fixtures/hf/llama/policy"))
	if err != nil {
		t.Fatal(err)
	}
	bad := *cfg
	bad.NumKeyValueHeads = 3
	parent := t.TempDir()
	dir := filepath.Join(parent, "m")
	ok := []WriteTensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}
	if err := SaveCheckpoint(dir, &bad, ok, 0); err == nil || !strings.Contains(err.Error(), "num_key_value_heads") {
		t.Errorf("invalid config: %v", err)
	}
	if err := SaveCheckpoint(dir, cfg, []WriteTensor{{Name: "a", Shape: []int{2}, Data: []float32{1}}}, 0); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("bad tensor: %v", err)
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("failed saves left %v", names)
	}
}
