// Package gguf reads and writes GGUF files (llama.cpp's model format,
// version 2 and 3): metadata, tensor directory and tensor data, with the
// ggml tensor types F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K
// dequantised to float32 (types.go), and converts Llama-family models
// between GGUF and Hugging Face checkpoints (model.go).
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// Metadata value types (gguf.h's enum gguf_type).
const (
	typeU8 uint32 = iota
	typeI8
	typeU16
	typeI16
	typeU32
	typeI32
	typeF32
	typeBool
	typeString
	typeArray
	typeU64
	typeI64
	typeF64
)

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KV is one metadata entry. Value holds the Go type of its GGUF type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or a slice of one of them for an array.
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor. Dims are GGUF's (innermost first): a
// Hugging Face [out, in] matrix has Dims [in, out].
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64 // from the start of the data section
}

// NumElements is the product of the dimensions.
func (t *TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= int64(d)
	}
	return n
}

// Shape returns the dimensions in row-major (PyTorch) order.
func (t *TensorInfo) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(s)-1-i] = int(d)
	}
	return s
}

// File is an open GGUF file.
type File struct {
	Version   uint32
	KV        []KV
	Tensors   []TensorInfo
	Alignment uint64

	path    string
	f       *os.File
	dataOff int64
	size    int64
}

// Open reads the header, metadata and tensor directory of a GGUF file,
// checking every length and tensor extent against the file size; tensor
// data is read on demand.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open gguf: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open gguf: %w", err)
	}
	g := &File{path: path, f: f, size: st.Size(), Alignment: DefaultAlignment}
	if err := g.readHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open gguf %s: %w", path, err)
	}
	return g, nil
}

// Close closes the file.
func (g *File) Close() error { return g.f.Close() }

// Path is the file's path.
func (g *File) Path() string { return g.path }

// Get returns the metadata value of key.
func (g *File) Get(key string) (any, bool) {
	for _, kv := range g.KV {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Tensor returns the directory entry of the named tensor.
func (g *File) Tensor(name string) (*TensorInfo, bool) {
	for i := range g.Tensors {
		if g.Tensors[i].Name == name {
			return &g.Tensors[i], true
		}
	}
	return nil, false
}

// Raw returns a tensor's stored bytes.
func (g *File) Raw(t *TensorInfo) ([]byte, error) {
	size, err := t.Type.ByteSize(t.NumElements())
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	b := make([]byte, size)
	if _, err := g.f.ReadAt(b, g.dataOff+int64(t.Offset)); err != nil {
		return nil, fmt.Errorf("read %s: tensor %s: %w", g.path, t.Name, err)
	}
	return b, nil
}

// Float32 returns a tensor's values, dequantised.
func (g *File) Float32(t *TensorInfo) ([]float32, error) {
	b, err := g.Raw(t)
	if err != nil {
		return nil, err
	}
	out, err := Dequantize(t.Type, b, int(t.NumElements()))
	if err != nil {
		return nil, fmt.Errorf("read %s: tensor %s: %w", g.path, t.Name, err)
	}
	return out, nil
}

// hdr reads little-endian values, tracking the offset and what is left.
type hdr struct {
	r    *bufio.Reader
	off  int64
	size int64
}

var errShort = errors.New("unexpected end of file")

func (h *hdr) read(n uint64) ([]byte, error) {
	if n > uint64(h.size-h.off) {
		return nil, fmt.Errorf("at byte %d: %d bytes asked, %d left: %w", h.off, n, h.size-h.off, errShort)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(h.r, b); err != nil {
		return nil, fmt.Errorf("at byte %d: %w", h.off, err)
	}
	h.off += int64(n)
	return b, nil
}

func (h *hdr) u32() (uint32, error) {
	b, err := h.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (h *hdr) u64() (uint64, error) {
	b, err := h.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (h *hdr) str() (string, error) {
	n, err := h.u64()
	if err != nil {
		return "", err
	}
	b, err := h.read(n)
	return string(b), err
}

var scalarSize = map[uint32]uint64{typeU8: 1, typeI8: 1, typeU16: 2, typeI16: 2, typeU32: 4, typeI32: 4,
	typeF32: 4, typeBool: 1, typeU64: 8, typeI64: 8, typeF64: 8}

func (h *hdr) scalar(typ uint32) (any, error) {
	if typ == typeString {
		return h.str()
	}
	n, ok := scalarSize[typ]
	if !ok {
		return nil, fmt.Errorf("unknown value type %d", typ)
	}
	b, err := h.read(n)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch typ {
	case typeU8:
		return b[0], nil
	case typeI8:
		return int8(b[0]), nil
	case typeU16:
		return le.Uint16(b), nil
	case typeI16:
		return int16(le.Uint16(b)), nil
	case typeU32:
		return le.Uint32(b), nil
	case typeI32:
		return int32(le.Uint32(b)), nil
	case typeF32:
		return math.Float32frombits(le.Uint32(b)), nil
	case typeBool:
		return b[0] != 0, nil
	case typeU64:
		return le.Uint64(b), nil
	case typeI64:
		return int64(le.Uint64(b)), nil
	default:
		return math.Float64frombits(le.Uint64(b)), nil
	}
}

// array reads n values of type typ into a typed slice.
func array[T any](h *hdr, typ uint32, n uint64) (any, error) {
	// Each element takes at least one byte: bound n by what is left.
	if n > uint64(h.size-h.off) {
		return nil, fmt.Errorf("array of %d values is longer than the rest of the file", n)
	}
	out := make([]T, n)
	for i := range out {
		v, err := h.scalar(typ)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v.(T)
	}
	return out, nil
}

func (h *hdr) value(typ uint32) (any, error) {
	if typ != typeArray {
		return h.scalar(typ)
	}
	et, err := h.u32()
	if err != nil {
		return nil, err
	}
	n, err := h.u64()
	if err != nil {
		return nil, err
	}
	switch et {
	case typeU8:
		return array[uint8](h, et, n)
	case typeI8:
		return array[int8](h, et, n)
	case typeU16:
		return array[uint16](h, et, n)
	case typeI16:
		return array[int16](h, et, n)
	case typeU32:
		return array[uint32](h, et, n)
	case typeI32:
		return array[int32](h, et, n)
	case typeF32:
		return array[float32](h, et, n)
	case typeBool:
		return array[bool](h, et, n)
	case typeString:
		return array[string](h, et, n)
	case typeU64:
		return array[uint64](h, et, n)
	case typeI64:
		return array[int64](h, et, n)
	case typeF64:
		return array[float64](h, et, n)
	}
	return nil, fmt.Errorf("array of value type %d is not supported", et)
}

func (g *File) readHeader() error {
	h := &hdr{r: bufio.NewReaderSize(g.f, 1<<20), size: g.size}
	magic, err := h.read(4)
	if err != nil || string(magic) != "GGUF" {
		return errors.New("not a GGUF file (bad magic)")
	}
	if g.Version, err = h.u32(); err != nil {
		return err
	}
	if g.Version < 2 || g.Version > 3 {
		return fmt.Errorf("GGUF version %d is not supported (2 and 3 are)", g.Version)
	}
	nt, err := h.u64()
	if err != nil {
		return err
	}
	nkv, err := h.u64()
	if err != nil {
		return err
	}
	if nt > uint64(g.size) || nkv > uint64(g.size) {
		return fmt.Errorf("header claims %d tensors and %d metadata entries, more than the file can hold", nt, nkv)
	}
	for i := uint64(0); i < nkv; i++ {
		key, err := h.str()
		if err != nil {
			return fmt.Errorf("metadata entry %d: %w", i, err)
		}
		typ, err := h.u32()
		if err != nil {
			return fmt.Errorf("metadata %s: %w", key, err)
		}
		v, err := h.value(typ)
		if err != nil {
			return fmt.Errorf("metadata %s: %w", key, err)
		}
		g.KV = append(g.KV, KV{key, v})
		if key == "general.alignment" {
			a, ok := v.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return fmt.Errorf("metadata general.alignment %v must be a power of two (uint32)", v)
			}
			g.Alignment = uint64(a)
		}
	}
	seen := map[string]bool{}
	for i := uint64(0); i < nt; i++ {
		var t TensorInfo
		if t.Name, err = h.str(); err != nil {
			return fmt.Errorf("tensor %d: %w", i, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor %s listed twice", t.Name)
		}
		seen[t.Name] = true
		nd, err := h.u32()
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if nd == 0 || nd > 4 {
			return fmt.Errorf("tensor %s: %d dimensions (1 to 4)", t.Name, nd)
		}
		for range nd {
			d, err := h.u64()
			if err != nil {
				return fmt.Errorf("tensor %s: %w", t.Name, err)
			}
			if d == 0 || d > uint64(g.size)*256 {
				return fmt.Errorf("tensor %s: dimension %d is impossible in a file of %d bytes", t.Name, d, g.size)
			}
			t.Dims = append(t.Dims, d)
		}
		n := uint64(1)
		for _, d := range t.Dims {
			if n *= d; n > uint64(g.size)*256 {
				return fmt.Errorf("tensor %s: %v values are impossible in a file of %d bytes", t.Name, t.Dims, g.size)
			}
		}
		typ, err := h.u32()
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		t.Type = Type(typ)
		if t.Offset, err = h.u64(); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		g.Tensors = append(g.Tensors, t)
	}
	g.dataOff = align(h.off, int64(g.Alignment))
	for i := range g.Tensors {
		t := &g.Tensors[i]
		if t.Offset%g.Alignment != 0 {
			return fmt.Errorf("tensor %s: offset %d is not aligned to %d", t.Name, t.Offset, g.Alignment)
		}
		size, err := t.Type.ByteSize(t.NumElements())
		if err != nil {
			continue // unsupported types are refused when read
		}
		if end := g.dataOff + int64(t.Offset) + size; end > g.size || end < 0 {
			return fmt.Errorf("tensor %s: data ends at byte %d, past the end of the file (%d bytes)", t.Name, end, g.size)
		}
	}
	return nil
}

func align(n, a int64) int64 { return (n + a - 1) / a * a }

// WriteTensor is one tensor to write: its row-major shape and its bytes,
// already encoded as Type (see Quantize) in Data, or produced by Encode
// when the data section is written (one tensor in memory at a time).
type WriteTensor struct {
	Name   string
	Shape  []int
	Type   Type
	Data   []byte
	Encode func() ([]byte, error)
}

// Write writes a GGUF version 3 file: the metadata in the given order, the
// tensor directory, and the data, each tensor aligned to DefaultAlignment
// (or general.alignment when kv sets it).
func Write(w io.Writer, kv []KV, ts []WriteTensor) error {
	cw := &counter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	pos := func() int64 { return cw.n + int64(bw.Buffered()) }
	le := binary.LittleEndian
	put := func(v any) { binary.Write(bw, le, v) }
	str := func(s string) { put(uint64(len(s))); bw.WriteString(s) }
	alignment := uint64(DefaultAlignment)
	bw.WriteString("GGUF")
	put(uint32(3))
	put(uint64(len(ts)))
	put(uint64(len(kv)))
	for _, e := range kv {
		str(e.Key)
		if err := writeValue(bw, e.Value, put, str); err != nil {
			return fmt.Errorf("metadata %s: %w", e.Key, err)
		}
		if e.Key == "general.alignment" {
			a, _ := e.Value.(uint32)
			if a == 0 || a&(a-1) != 0 {
				return fmt.Errorf("metadata general.alignment %v must be a power of two (uint32)", e.Value)
			}
			alignment = uint64(a)
		}
	}
	var off uint64
	offsets := make([]uint64, len(ts))
	sizes := make([]int64, len(ts))
	names := map[string]bool{}
	for i, t := range ts {
		if names[t.Name] {
			return fmt.Errorf("tensor %s given twice", t.Name)
		}
		names[t.Name] = true
		n := int64(1)
		for _, d := range t.Shape {
			n *= int64(d)
		}
		size, err := t.Type.ByteSize(n)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if t.Encode == nil && size != int64(len(t.Data)) {
			return fmt.Errorf("tensor %s: %d bytes, shape %v of %s takes %d", t.Name, len(t.Data), t.Shape, t.Type, size)
		}
		sizes[i] = size
		str(t.Name)
		put(uint32(len(t.Shape)))
		for _, d := range slices.Backward(t.Shape) {
			put(uint64(d))
		}
		put(uint32(t.Type))
		put(off)
		offsets[i] = off
		off = uint64(align(int64(off)+size, int64(alignment)))
	}
	pad := func(to int64) { bw.Write(make([]byte, to-pos())) }
	pad(align(pos(), int64(alignment)))
	start := pos()
	for i, t := range ts {
		pad(start + int64(offsets[i]))
		data := t.Data
		if t.Encode != nil {
			var err error
			if data, err = t.Encode(); err != nil {
				return fmt.Errorf("tensor %s: %w", t.Name, err)
			}
			if int64(len(data)) != sizes[i] {
				return fmt.Errorf("tensor %s: encoded %d bytes, shape %v of %s takes %d", t.Name, len(data), t.Shape, t.Type, sizes[i])
			}
		}
		if _, err := bw.Write(data); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return cw.err
}

// counter counts the bytes written through it and keeps the first error.
type counter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// writeValue writes a metadata value's type and payload.
func writeValue(bw *bufio.Writer, v any, put func(any), str func(string)) error {
	scalar := func(v any) {
		if s, ok := v.(string); ok {
			str(s)
			return
		}
		if b, ok := v.(bool); ok {
			if b {
				put(uint8(1))
			} else {
				put(uint8(0))
			}
			return
		}
		put(v)
	}
	arr := func(et uint32, n int, at func(i int) any) {
		put(typeArray)
		put(et)
		put(uint64(n))
		for i := 0; i < n; i++ {
			scalar(at(i))
		}
	}
	switch x := v.(type) {
	case uint8:
		put(typeU8)
	case int8:
		put(typeI8)
	case uint16:
		put(typeU16)
	case int16:
		put(typeI16)
	case uint32:
		put(typeU32)
	case int32:
		put(typeI32)
	case float32:
		put(typeF32)
	case bool:
		put(typeBool)
	case string:
		put(typeString)
	case uint64:
		put(typeU64)
	case int64:
		put(typeI64)
	case float64:
		put(typeF64)
	case []string:
		arr(typeString, len(x), func(i int) any { return x[i] })
		return nil
	case []float32:
		arr(typeF32, len(x), func(i int) any { return x[i] })
		return nil
	case []int32:
		arr(typeI32, len(x), func(i int) any { return x[i] })
		return nil
	case []uint32:
		arr(typeU32, len(x), func(i int) any { return x[i] })
		return nil
	case []int64:
		arr(typeI64, len(x), func(i int) any { return x[i] })
		return nil
	case []uint8:
		arr(typeU8, len(x), func(i int) any { return x[i] })
		return nil
	case []bool:
		arr(typeBool, len(x), func(i int) any { return x[i] })
		return nil
	default:
		return fmt.Errorf("value of Go type %T has no GGUF type", v)
	}
	scalar(v)
	return nil
}
