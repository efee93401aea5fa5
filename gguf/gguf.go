// Package gguf reads and writes GGUF files (llama.cpp's model format,
// version 2 and 3): metadata, tensor directory and tensor data, with the
// ggml tensor types F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K
// dequantised to float32 (types.go), and converts Llama-family models
// between GGUF and Hugging Face checkpoints (model.go).
package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/smaug-dev/smaug/internal/ggufmeta"
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

func (g *File) readHeader() error {
	h := ggufmeta.NewReader(g.f, g.size)
	hd, err := h.Header(nil)
	if err != nil {
		return err
	}
	g.Version = hd.Version
	for _, kv := range hd.KV {
		g.KV = append(g.KV, KV(kv))
	}
	if v, ok := g.Get("general.alignment"); ok {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("metadata general.alignment %v must be a power of two (uint32)", v)
		}
		g.Alignment = uint64(a)
	}
	nt := hd.TensorCount
	seen := map[string]bool{}
	for i := uint64(0); i < nt; i++ {
		var t TensorInfo
		if t.Name, err = h.String(); err != nil {
			return fmt.Errorf("tensor %d: %w", i, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor %s listed twice", t.Name)
		}
		seen[t.Name] = true
		nd, err := h.U32()
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if nd == 0 || nd > 4 {
			return fmt.Errorf("tensor %s: %d dimensions (1 to 4)", t.Name, nd)
		}
		for range nd {
			d, err := h.U64()
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
		typ, err := h.U32()
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		t.Type = Type(typ)
		if t.Offset, err = h.U64(); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		g.Tensors = append(g.Tensors, t)
	}
	g.dataOff = align(h.Offset(), int64(g.Alignment))
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
		put(ggufmeta.TypeArray)
		put(et)
		put(uint64(n))
		for i := 0; i < n; i++ {
			scalar(at(i))
		}
	}
	switch x := v.(type) {
	case uint8:
		put(ggufmeta.TypeU8)
	case int8:
		put(ggufmeta.TypeI8)
	case uint16:
		put(ggufmeta.TypeU16)
	case int16:
		put(ggufmeta.TypeI16)
	case uint32:
		put(ggufmeta.TypeU32)
	case int32:
		put(ggufmeta.TypeI32)
	case float32:
		put(ggufmeta.TypeF32)
	case bool:
		put(ggufmeta.TypeBool)
	case string:
		put(ggufmeta.TypeString)
	case uint64:
		put(ggufmeta.TypeU64)
	case int64:
		put(ggufmeta.TypeI64)
	case float64:
		put(ggufmeta.TypeF64)
	case []string:
		arr(ggufmeta.TypeString, len(x), func(i int) any { return x[i] })
		return nil
	case []float32:
		arr(ggufmeta.TypeF32, len(x), func(i int) any { return x[i] })
		return nil
	case []int32:
		arr(ggufmeta.TypeI32, len(x), func(i int) any { return x[i] })
		return nil
	case []uint32:
		arr(ggufmeta.TypeU32, len(x), func(i int) any { return x[i] })
		return nil
	case []int64:
		arr(ggufmeta.TypeI64, len(x), func(i int) any { return x[i] })
		return nil
	case []uint8:
		arr(ggufmeta.TypeU8, len(x), func(i int) any { return x[i] })
		return nil
	case []bool:
		arr(ggufmeta.TypeBool, len(x), func(i int) any { return x[i] })
		return nil
	default:
		return fmt.Errorf("value of Go type %T has no GGUF type", v)
	}
	scalar(v)
	return nil
}
