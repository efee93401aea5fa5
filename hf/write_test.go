package hf

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// readAll returns every tensor of a safetensors file as WriteTensors.
func readAll(t *testing.T, path, as string) []WriteTensor {
	t.Helper()
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []WriteTensor
	for _, n := range f.Names() {
		tensor, _ := f.Tensor(n)
		v, err := tensor.Float32()
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, WriteTensor{Name: n, Shape: tensor.Shape, Data: v, DType: as})
	}
	return ts
}

// TestWriteMatchesRustWriter rewrites the fixtures' tensors and compares
// the result byte for byte with the files the Rust safetensors writer
// produced (through transformers and PEFT). The BF16 case also checks that
// F32ToBF16 rounds as torch does.
func TestWriteMatchesRustWriter(t *testing.T) {
	tests := []struct{ from, as, want string }{
		{"fixtures/hf/llama/policy/model.safetensors", "F32", "fixtures/hf/llama/policy/model.safetensors"},
		{"fixtures/hf/llama/policy/model.safetensors", "BF16", "fixtures/hf/llama/policy_bf16/model.safetensors"},
		{"fixtures/hf/qwen2/policy/model.safetensors", "", "fixtures/hf/qwen2/policy/model.safetensors"},
		{"fixtures/hf/llama_lora/adapter/adapter_model.safetensors", "F32", "fixtures/hf/llama_lora/adapter/adapter_model.safetensors"},
		{"fixtures/hf/llama/policy_sharded/model-00003-of-00006.safetensors", "F32", "fixtures/hf/llama/policy_sharded/model-00003-of-00006.safetensors"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		ts := readAll(t, sharedtest.Path(t, tt.from), tt.as)
		out := filepath.Join(dir, "out.safetensors")
		if err := WriteSafetensors(out, ts, nil); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		want, err := os.ReadFile(sharedtest.Path(t, tt.want))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			n := binary.LittleEndian.Uint64(want)
			t.Errorf("%s as %q: %d bytes differ from %s (%d bytes); header:\n%s", tt.from, tt.as, len(got), tt.want, len(want), got[8:8+n])
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	vals := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 100)
		}
		return v
	}
	ts := []WriteTensor{
		{Name: "z.half", Shape: []int{3, 5}, Data: vals(15), DType: "F16"},
		{Name: "b.brain", Shape: []int{7}, Data: vals(7), DType: "BF16"},
		{Name: "a.single", Shape: []int{2, 2, 3}, Data: vals(12)},
		{Name: "c.scalar", Shape: []int{}, Data: vals(1), DType: "F32"},
		{Name: "d.empty", Shape: []int{0, 4}, Data: nil, DType: "BF16"},
	}
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	meta := map[string]string{"note": "a<b&c"}
	if err := WriteSafetensors(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 || !bytes.Contains(raw[8:8+n], []byte(`{"__metadata__":{"format":"pt","note":"a<b&c"},"a.single"`)) {
		t.Errorf("header %q: want padding to 8 and metadata first", raw[8:8+n])
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Data order as the Rust writer: F32 by name, then BF16, then F16.
	var order []string
	for _, ti := range f.Header().Tensors {
		order = append(order, ti.Name)
	}
	if got := strings.Join(order, ","); got != "a.single,c.scalar,b.brain,d.empty,z.half" {
		t.Errorf("data order %s", got)
	}
	for _, w := range ts {
		tensor, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("%s missing", w.Name)
		}
		wantDType := w.storedDType()
		if tensor.DType != wantDType || !slicesEqual(tensor.Shape, w.Shape) {
			t.Errorf("%s: %s %v, want %s %v", w.Name, tensor.DType, tensor.Shape, wantDType, w.Shape)
		}
		got, err := tensor.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range w.Data {
			want := v
			switch wantDType {
			case "BF16":
				want = dtype.BF16ToF32(dtype.F32ToBF16(v))
			case "F16":
				want = dtype.F16ToF32(dtype.F32ToF16(v))
			}
			if got[i] != want {
				t.Errorf("%s[%d] = %v, want %v", w.Name, i, got[i], want)
			}
		}
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	tests := []struct {
		name string
		ts   []WriteTensor
		want string
	}{
		{"duplicate", []WriteTensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, `"a" given twice`},
		{"shape mismatch", []WriteTensor{{Name: "w", Shape: []int{2, 2}, Data: []float32{1}}}, `tensor "w": shape [2 2] holds 4 elements, data has 1`},
		{"negative dim", []WriteTensor{{Name: "w", Shape: []int{-1}, Data: nil}}, "negative dimension"},
		{"bad dtype", []WriteTensor{{Name: "w", Shape: []int{1}, Data: []float32{1}, DType: "I8"}}, `cannot write dtype "I8"`},
		{"metadata name", []WriteTensor{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}}, "invalid name"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		path := filepath.Join(dir, "x.safetensors")
		err := WriteSafetensors(path, tt.ts, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want %q naming the file", tt.name, err, tt.want)
		}
	}
	if err := WriteSafetensors(filepath.Join(dir, "no", "such", "dir.safetensors"), nil, nil); err == nil {
		t.Error("wrote into a missing folder")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left files behind: %v", entries)
	}
}
