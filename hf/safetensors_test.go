package hf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/fuzzlimit"
	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// rawFile assembles a safetensors file from a header string and a data
// buffer of dataLen bytes (byte i holds i).
func rawFile(header string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	for i := range dataLen {
		b = append(b, byte(i))
	}
	return b
}

const validHeader = `{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"e":{"dtype":"F16","shape":[0,3],"data_offsets":[12,12]}}`

func TestParseHeaderValid(t *testing.T) {
	h, err := ParseHeader(rawFile(validHeader, 12))
	if err != nil {
		t.Fatal(err)
	}
	want := []TensorInfo{
		{Name: "a", DType: "BF16", Shape: []int{2}, Begin: 0, End: 4},
		{Name: "b", DType: "F32", Shape: []int{2}, Begin: 4, End: 12},
		{Name: "e", DType: "F16", Shape: []int{0, 3}, Begin: 12, End: 12},
	}
	if len(h.Tensors) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(h.Tensors), len(want))
	}
	for i, w := range want {
		g := h.Tensors[i]
		if g.Name != w.Name || g.DType != w.DType || g.Begin != w.Begin || g.End != w.End || !slicesEqual(g.Shape, w.Shape) {
			t.Errorf("tensor %d = %+v, want %+v", i, g, w)
		}
	}
	if h.DataOffset != 8+len(validHeader) || h.Metadata["format"] != "pt" {
		t.Errorf("DataOffset %d metadata %v", h.DataOffset, h.Metadata)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// corruptCases are invalid files with a fragment their error must contain.
var corruptCases = []struct {
	name string
	data []byte
	want string
}{
	{"empty file", nil, "too small"},
	{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "too small"},
	{"header length past end", func() []byte {
		b := rawFile(validHeader, 12)
		binary.LittleEndian.PutUint64(b, uint64(len(b)))
		return b
	}(), "exceeds"},
	{"huge header length", func() []byte {
		b := rawFile(validHeader, 12)
		binary.LittleEndian.PutUint64(b, 1<<63)
		return b
	}(), "limit"},
	{"truncated data", rawFile(validHeader, 11), `tensor "b"`},
	{"extra trailing data", rawFile(validHeader, 13), "data buffer holds 13"},
	{"truncated header", rawFile(validHeader, 12)[:50], "exceeds"},
	{"not an object", rawFile(`["a"]   `, 0), "start with '{'"},
	{"invalid JSON", rawFile(`{"a":{"dtype":"F32",}}`, 0), "JSON"},
	{"invalid UTF-8", rawFile("{\"\xff\":{}}", 0), "UTF-8"},
	{"trailing garbage", rawFile(`{} x`, 0), "JSON"},
	{"second object", rawFile(`{} {}`, 0), "after the closing brace"},
	{"unknown dtype", rawFile(`{"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, 4), `tensor "w": unknown dtype "F12"`},
	{"negative dim", rawFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), `tensor "w": shape [-1]`},
	{"fractional dim", rawFile(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), "not a non-negative integer"},
	{"shape overflow", rawFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "overflows"},
	{"shape null", rawFile(`{"w":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, 4), "shape null"},
	{"missing offsets", rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, 4), `missing field "data_offsets"`},
	{"three offsets", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4), "[begin, end]"},
	{"begin after end", rawFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4), "begin after end"},
	{"size mismatch", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), `tensor "w": data_offsets [0,4] hold 4 bytes, but F32 [2] needs 8`},
	{"out of range", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[100,104]}}`, 4), `tensor "w" data_offsets [100,104] leave bytes [0,100)`},
	{"end past buffer", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), `past the 4-byte data buffer`},
	{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), `tensor "b" data_offsets [4,12] overlap tensor "a"`},
	{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), "leave bytes [4,8)"},
	{"duplicate name", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `"a" appears twice`},
	{"metadata not strings", rawFile(`{"__metadata__":{"format":1}}`, 0), "__metadata__"},
	{"tensor not object", rawFile(`{"w":[1]}`, 0), `tensor "w": must be an object`},
	{"dtype not string", rawFile(`{"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 4), "dtype 4 is not a string"},
}

func TestParseHeaderCorrupt(t *testing.T) {
	for _, tc := range corruptCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.data)
			if err == nil {
				t.Fatalf("ParseHeader accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestOpenSafetensorsCorruptNamesFile(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range corruptCases {
		path := filepath.Join(dir, "case"+string(rune('a'+i))+".safetensors")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := OpenSafetensors(path)
		if err == nil {
			f.Close()
			t.Fatalf("%s: opened", tc.name)
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q should name %s and contain %q", tc.name, err, path, tc.want)
		}
	}
	if _, err := OpenSafetensors(filepath.Join(dir, "missing.safetensors")); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing file: error %v", err)
	}
}

func TestOpenSafetensorsSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, rawFile(validHeader, 12), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.Names(), ","); got != "a,b,e" {
		t.Errorf("Names = %s", got)
	}
	b, ok := f.Tensor("b")
	if !ok || !bytes.Equal(b.Data, []byte{4, 5, 6, 7, 8, 9, 10, 11}) || b.NumElements() != 2 {
		t.Fatalf("tensor b = %+v", b)
	}
	e, _ := f.Tensor("e")
	if e.NumElements() != 0 || len(e.Data) != 0 {
		t.Errorf("empty tensor e = %+v", e)
	}
	if _, ok := f.Tensor("zz"); ok {
		t.Error("found a tensor that is not there")
	}
	if got := f.Metadata(); len(got) != 1 || got["format"] != "pt" {
		t.Errorf("Metadata = %v", got)
	}
	// BF16 bytes {0,1,2,3} are 0x0100 and 0x0302: hand-computed values.
	a, _ := f.Tensor("a")
	vals, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0x1p-125, 0x1.04p-121}; vals[0] != want[0] || vals[1] != want[1] {
		t.Errorf("a.Float32() = %v, want %v", vals, want)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTensorFloat32(t *testing.T) {
	tests := []struct {
		name  string
		dtype string
		data  []byte
		want  []float32
		err   string
	}{
		{"F32", "F32", []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}, []float32{1, -2}, ""},
		{"BF16", "BF16", []byte{0x80, 0x3f, 0x00, 0xc0}, []float32{1, -2}, ""},
		{"F16", "F16", []byte{0x00, 0x3c, 0x00, 0xc0}, []float32{1, -2}, ""},
		{"F64", "F64", []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0}, []float32{1, -2}, ""},
		{"I32 refused", "I32", make([]byte, 8), nil, "cannot convert dtype I32"},
		{"short data", "F32", make([]byte, 7), nil, "7 bytes do not hold F32"},
	}
	for _, tt := range tests {
		tensor := &Tensor{Name: "w", DType: tt.dtype, Shape: []int{2}, Data: tt.data}
		got, err := tensor.Float32()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `"w"`) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != 2 || got[0] != tt.want[0] || got[1] != tt.want[1] {
			t.Errorf("%s: Float32() = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// TestFixtureIsMapped checks the llama fixture's header against its config
// and index, and that the file is memory-mapped rather than read.
func TestFixtureIsMapped(t *testing.T) {
	path := sharedtest.Path(t, "fixtures/hf/llama/policy/model.safetensors")
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := f.Names()
	if len(names) != 21 { // 2 layers × 9 + embed_tokens + norm + lm_head
		t.Errorf("%d tensors, want 21", len(names))
	}
	total := 0
	for _, n := range names {
		tensor, _ := f.Tensor(n)
		total += tensor.NumElements()
	}
	if total != 133440 { // metadata.total_parameters of policy_sharded's index
		t.Errorf("total parameters %d, want 133440", total)
	}
	shapes := map[string][]int{
		"model.embed_tokens.weight":              {320, 64},
		"model.layers.1.self_attn.k_proj.weight": {32, 64},
		"model.layers.0.mlp.down_proj.weight":    {64, 176},
		"model.norm.weight":                      {64},
	}
	for n, want := range shapes {
		tensor, ok := f.Tensor(n)
		if !ok || !slicesEqual(tensor.Shape, want) {
			t.Errorf("%s shape = %v, want %v", n, tensor.Shape, want)
		}
	}
	if runtime.GOOS == "linux" {
		maps, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		real, err := filepath.EvalSymlinks(path) // the kernel lists the resolved path
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(maps, []byte(real)) {
			t.Errorf("%s is not in /proc/self/maps: not memory-mapped", real)
		}
	}
}

// FuzzParseHeader checks that ParseHeader never panics and that what it
// accepts is self-consistent.
func FuzzParseHeader(f *testing.F) {
	f.Add(rawFile(validHeader, 12))
	f.Add(rawFile(`{}`, 0))
	f.Add(rawFile(`{"__metadata__":null}`, 0))
	f.Add(rawFile(`{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, 8))
	for _, tc := range corruptCases {
		f.Add(tc.data)
	}
	fuzzlimit.Set(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var h *Header
		var err error
		// A header of a few kilobytes must not make the parser allocate more.
		fuzzlimit.Run(t, 64<<20, string(data), func() { h, err = ParseHeader(data) })
		if err != nil {
			return
		}
		pos := 0
		for _, ti := range h.Tensors {
			size, ok := DTypeSize(ti.DType)
			tensor := Tensor{Shape: ti.Shape}
			if !ok || ti.Begin != pos || ti.End-ti.Begin != tensor.NumElements()*size {
				t.Fatalf("accepted inconsistent tensor %+v", ti)
			}
			pos = ti.End
		}
		if h.DataOffset+pos != len(data) {
			t.Fatalf("accepted a data buffer of %d bytes covering %d", len(data)-h.DataOffset, pos)
		}
	})
}
