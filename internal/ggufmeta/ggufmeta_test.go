package ggufmeta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// stream builds GGUF bytes by hand, independently of the reader.
type stream struct{ bytes.Buffer }

func (s *stream) u32(v uint32) { binary.Write(&s.Buffer, binary.LittleEndian, v) }
func (s *stream) u64(v uint64) { binary.Write(&s.Buffer, binary.LittleEndian, v) }
func (s *stream) str(v string) { s.u64(uint64(len(v))); s.WriteString(v) }
func (s *stream) key(k string, typ uint32) {
	s.str(k)
	s.u32(typ)
}

// file is a version-3 header with two tensors declared and these entries:
// one of each scalar type, typed arrays, and an array of arrays (which
// Value refuses and Skip reads past).
func file() []byte {
	var s stream
	s.WriteString("GGUF")
	s.u32(3)
	s.u64(2)  // tensors
	s.u64(17) // entries
	s.key("u8", TypeU8)
	s.WriteByte(200)
	s.key("i8", TypeI8)
	s.WriteByte(0xfe)
	s.key("u16", TypeU16)
	s.Write([]byte{0x34, 0x12})
	s.key("i16", TypeI16)
	s.Write([]byte{0xff, 0xff})
	s.key("u32", TypeU32)
	s.u32(4000000000)
	s.key("i32", TypeI32)
	s.u32(math.MaxUint32 - 6) // -7
	s.key("f32", TypeF32)
	s.u32(math.Float32bits(1.5))
	s.key("bool", TypeBool)
	s.WriteByte(1)
	s.key("str", TypeString)
	s.str("héllo")
	s.key("u64", TypeU64)
	s.u64(1 << 40)
	s.key("i64", TypeI64)
	s.u64(math.MaxUint64) // -1
	s.key("f64", TypeF64)
	s.u64(math.Float64bits(-2.25))
	s.key("tok.strs", TypeArray)
	s.u32(TypeString)
	s.u64(2)
	s.str("a")
	s.str("bc")
	s.key("tok.f32s", TypeArray)
	s.u32(TypeF32)
	s.u64(3)
	for _, f := range []float32{0, -1, 3.25} {
		s.u32(math.Float32bits(f))
	}
	s.key("nested", TypeArray)
	s.u32(TypeArray)
	s.u64(2)
	for i := range 2 {
		s.u32(TypeI32)
		s.u64(uint64(i + 1))
		for range i + 1 {
			s.u32(9)
		}
	}
	s.key("tok.i32s", TypeArray)
	s.u32(TypeI32)
	s.u64(2)
	s.u32(1)
	s.u32(math.MaxUint32) // -1
	s.key("last", TypeU8)
	s.WriteByte(7)
	s.WriteString("TENSORS")
	return s.Bytes()
}

func TestHeader(t *testing.T) {
	b := file()
	want := []KV{{"u8", uint8(200)}, {"i8", int8(-2)}, {"u16", uint16(0x1234)}, {"i16", int16(-1)},
		{"u32", uint32(4000000000)}, {"i32", int32(-7)}, {"f32", float32(1.5)}, {"bool", true},
		{"str", "héllo"}, {"u64", uint64(1 << 40)}, {"i64", int64(-1)}, {"f64", -2.25},
		{"tok.strs", []string{"a", "bc"}}, {"tok.f32s", []float32{0, -1, 3.25}},
		{"tok.i32s", []int32{1, -1}}, {"last", uint8(7)}}
	r := NewReader(bytes.NewReader(b), int64(len(b)))
	hd, err := r.Header(func(k string) bool { return k != "nested" })
	if err != nil {
		t.Fatal(err)
	}
	if hd.Version != 3 || hd.TensorCount != 2 || !reflect.DeepEqual(hd.KV, want) {
		t.Fatalf("got version %d, %d tensors, %v\nwant 3, 2, %v", hd.Version, hd.TensorCount, hd.KV, want)
	}
	if rest := string(b[r.Offset():]); rest != "TENSORS" {
		t.Fatalf("reader stopped at %d, before %q; want the tensor directory", r.Offset(), rest)
	}

	// Keeping only some keys skips the others, whatever their type.
	r = NewReader(bytes.NewReader(b), int64(len(b)))
	hd, err = r.Header(func(k string) bool { return strings.HasPrefix(k, "tok.") })
	if err != nil {
		t.Fatal(err)
	}
	if len(hd.KV) != 3 || hd.KV[0].Key != "tok.strs" || hd.KV[2].Key != "tok.i32s" || r.Offset() != int64(len(b)-7) {
		t.Fatalf("kept %v, offset %d", hd.KV, r.Offset())
	}

	// Keeping everything meets the array of arrays, which Value refuses.
	r = NewReader(bytes.NewReader(b), int64(len(b)))
	if _, err := r.Header(nil); err == nil || !strings.Contains(err.Error(), "metadata nested: array of value type 9") {
		t.Fatalf("array of arrays: got %v", err)
	}
}

// TestTruncated cuts the file at every byte: each cut inside the header is
// an error (never a panic), and one that ends inside a value says so.
func TestTruncated(t *testing.T) {
	b := file()
	end := len(b) - len("TENSORS")
	for n := 0; n < end; n++ {
		r := NewReader(bytes.NewReader(b[:n]), int64(n))
		_, err := r.Header(func(k string) bool { return k != "nested" })
		if err == nil {
			t.Fatalf("cut at %d of %d: no error", n, end)
		}
		if n >= 4 && !errors.Is(err, ErrShort) {
			t.Fatalf("cut at %d: %v does not wrap ErrShort", n, err)
		}
	}
}

func TestBadHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(*stream)
		want string
	}{
		{"magic", func(s *stream) { s.WriteString("GGML") }, "bad magic"},
		{"version", func(s *stream) { s.WriteString("GGUF"); s.u32(1) }, "version 1 is not supported"},
		{"counts", func(s *stream) { s.WriteString("GGUF"); s.u32(3); s.u64(1 << 40); s.u64(0) }, "more than the file can hold"},
		{"long string", func(s *stream) { s.WriteString("GGUF"); s.u32(2); s.u64(0); s.u64(1); s.u64(1 << 50) }, "metadata entry 0"},
		{"long array", func(s *stream) {
			s.WriteString("GGUF")
			s.u32(2)
			s.u64(0)
			s.u64(1)
			s.key("a", TypeArray)
			s.u32(TypeU64)
			s.u64(1 << 60)
		}, "longer than the rest of the file"},
		{"unknown type", func(s *stream) { s.WriteString("GGUF"); s.u32(3); s.u64(0); s.u64(1); s.key("x", 99) }, "unknown value type 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, keep := range []func(string) bool{nil, func(string) bool { return false }} {
				var s stream
				tc.make(&s)
				r := NewReader(bytes.NewReader(s.Bytes()), int64(s.Len()))
				if _, err := r.Header(keep); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("keep=%v: got %v, want an error containing %q", keep != nil, err, tc.want)
				}
			}
		})
	}
}
