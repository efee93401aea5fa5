// Package ggufmeta reads the header and metadata section of a GGUF file
// (llama.cpp's model format, versions 2 and 3): the value types, bounds-
// checked little-endian reads and the key/value entries. Package gguf
// (tensors, import and export) and package tokenizer (GGUF vocabularies)
// both read GGUF files through it.
package ggufmeta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Metadata value types (gguf.h's enum gguf_type).
const (
	TypeU8 uint32 = iota
	TypeI8
	TypeU16
	TypeI16
	TypeU32
	TypeI32
	TypeF32
	TypeBool
	TypeString
	TypeArray
	TypeU64
	TypeI64
	TypeF64
)

// KV is one metadata entry. Value holds the Go type of its GGUF type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or a slice of one of them for an array.
type KV struct {
	Key   string
	Value any
}

// Header is what precedes a GGUF file's tensor directory.
type Header struct {
	Version     uint32
	TensorCount uint64
	KV          []KV
}

// ErrShort is wrapped by errors for a file that ends inside a value.
var ErrShort = errors.New("unexpected end of file")

// Reader reads little-endian values, tracking the offset and refusing any
// length that is longer than what is left of the file.
type Reader struct {
	r    *bufio.Reader
	off  int64
	size int64
}

// NewReader reads a GGUF file of size bytes from r, from its first byte.
func NewReader(r io.Reader, size int64) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 1<<20), size: size}
}

// Offset is the number of bytes read so far.
func (h *Reader) Offset() int64 { return h.off }

func (h *Reader) check(n uint64) error {
	if n > uint64(h.size-h.off) {
		return fmt.Errorf("at byte %d: %d bytes asked, %d left: %w", h.off, n, h.size-h.off, ErrShort)
	}
	return nil
}

// Bytes reads the next n bytes.
func (h *Reader) Bytes(n uint64) ([]byte, error) {
	if err := h.check(n); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(h.r, b); err != nil {
		return nil, fmt.Errorf("at byte %d: %w", h.off, ErrShort)
	}
	h.off += int64(n)
	return b, nil
}

func (h *Reader) discard(n uint64) error {
	if err := h.check(n); err != nil {
		return err
	}
	if _, err := h.r.Discard(int(n)); err != nil {
		return fmt.Errorf("at byte %d: %w", h.off, ErrShort)
	}
	h.off += int64(n)
	return nil
}

// U32 reads a uint32.
func (h *Reader) U32() (uint32, error) {
	b, err := h.Bytes(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// U64 reads a uint64.
func (h *Reader) U64() (uint64, error) {
	b, err := h.Bytes(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// String reads a GGUF string (a uint64 length, then the bytes).
func (h *Reader) String() (string, error) {
	n, err := h.U64()
	if err != nil {
		return "", err
	}
	b, err := h.Bytes(n)
	return string(b), err
}

// scalarSize is the stored size of each fixed-size type.
var scalarSize = map[uint32]uint64{TypeU8: 1, TypeI8: 1, TypeU16: 2, TypeI16: 2, TypeU32: 4, TypeI32: 4,
	TypeF32: 4, TypeBool: 1, TypeU64: 8, TypeI64: 8, TypeF64: 8}

func (h *Reader) scalar(typ uint32) (any, error) {
	if typ == TypeString {
		return h.String()
	}
	n, ok := scalarSize[typ]
	if !ok {
		return nil, fmt.Errorf("unknown value type %d", typ)
	}
	b, err := h.Bytes(n)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch typ {
	case TypeU8:
		return b[0], nil
	case TypeI8:
		return int8(b[0]), nil
	case TypeU16:
		return le.Uint16(b), nil
	case TypeI16:
		return int16(le.Uint16(b)), nil
	case TypeU32:
		return le.Uint32(b), nil
	case TypeI32:
		return int32(le.Uint32(b)), nil
	case TypeF32:
		return math.Float32frombits(le.Uint32(b)), nil
	case TypeBool:
		return b[0] != 0, nil
	case TypeU64:
		return le.Uint64(b), nil
	case TypeI64:
		return int64(le.Uint64(b)), nil
	default:
		return math.Float64frombits(le.Uint64(b)), nil
	}
}

// array reads n values of type typ into a typed slice.
func array[T any](h *Reader, typ uint32, n uint64) (any, error) {
	// Each element takes at least one byte: bound n by what is left.
	if n > uint64(h.size-h.off) {
		return nil, fmt.Errorf("array of %d values is longer than the rest of the file: %w", n, ErrShort)
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

// Value reads one value of type typ as the Go type KV documents. Arrays of
// arrays are refused.
func (h *Reader) Value(typ uint32) (any, error) {
	if typ != TypeArray {
		return h.scalar(typ)
	}
	et, n, err := h.arrayHead()
	if err != nil {
		return nil, err
	}
	switch et {
	case TypeU8:
		return array[uint8](h, et, n)
	case TypeI8:
		return array[int8](h, et, n)
	case TypeU16:
		return array[uint16](h, et, n)
	case TypeI16:
		return array[int16](h, et, n)
	case TypeU32:
		return array[uint32](h, et, n)
	case TypeI32:
		return array[int32](h, et, n)
	case TypeF32:
		return array[float32](h, et, n)
	case TypeBool:
		return array[bool](h, et, n)
	case TypeString:
		return array[string](h, et, n)
	case TypeU64:
		return array[uint64](h, et, n)
	case TypeI64:
		return array[int64](h, et, n)
	case TypeF64:
		return array[float64](h, et, n)
	}
	return nil, fmt.Errorf("array of value type %d is not supported", et)
}

func (h *Reader) arrayHead() (et uint32, n uint64, err error) {
	if et, err = h.U32(); err != nil {
		return 0, 0, err
	}
	n, err = h.U64()
	return et, n, err
}

// Skip reads a value of type typ and drops it without keeping its bytes
// (arrays of arrays included), for entries the caller does not need.
func (h *Reader) Skip(typ uint32) error {
	switch typ {
	case TypeString:
		n, err := h.U64()
		if err != nil {
			return err
		}
		return h.discard(n)
	case TypeArray:
		et, n, err := h.arrayHead()
		if err != nil {
			return err
		}
		if size, ok := scalarSize[et]; ok {
			if n > uint64(h.size-h.off)/size {
				return fmt.Errorf("array of %d values is longer than the rest of the file: %w", n, ErrShort)
			}
			return h.discard(n * size)
		}
		if et != TypeString && et != TypeArray {
			return fmt.Errorf("unknown array element type %d", et)
		}
		// Strings and arrays take at least 8 and 12 bytes each.
		if n > uint64(h.size-h.off)/8 {
			return fmt.Errorf("array of %d values is longer than the rest of the file: %w", n, ErrShort)
		}
		for i := uint64(0); i < n; i++ {
			if err := h.Skip(et); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	}
	size, ok := scalarSize[typ]
	if !ok {
		return fmt.Errorf("unknown value type %d", typ)
	}
	return h.discard(size)
}

// Header reads the magic, the version (2 or 3), the tensor and entry counts
// and the metadata section. Entries for which keep returns false are read
// and dropped (keep nil keeps every entry). The reader is left at the start
// of the tensor directory.
func (h *Reader) Header(keep func(key string) bool) (Header, error) {
	var hd Header
	magic, err := h.Bytes(4)
	if err != nil || string(magic) != "GGUF" {
		return hd, errors.New("not a GGUF file (bad magic)")
	}
	if hd.Version, err = h.U32(); err != nil {
		return hd, fmt.Errorf("header: %w", err)
	}
	if hd.Version < 2 || hd.Version > 3 {
		return hd, fmt.Errorf("GGUF version %d is not supported (2 and 3 are)", hd.Version)
	}
	if hd.TensorCount, err = h.U64(); err != nil {
		return hd, fmt.Errorf("header: %w", err)
	}
	nkv, err := h.U64()
	if err != nil {
		return hd, fmt.Errorf("header: %w", err)
	}
	if hd.TensorCount > uint64(h.size) || nkv > uint64(h.size) {
		return hd, fmt.Errorf("header claims %d tensors and %d metadata entries, more than the file can hold", hd.TensorCount, nkv)
	}
	for i := uint64(0); i < nkv; i++ {
		key, err := h.String()
		if err != nil {
			return hd, fmt.Errorf("metadata entry %d: %w", i, err)
		}
		typ, err := h.U32()
		if err != nil {
			return hd, fmt.Errorf("metadata %s: %w", key, err)
		}
		if keep != nil && !keep(key) {
			if err := h.Skip(typ); err != nil {
				return hd, fmt.Errorf("metadata %s: %w", key, err)
			}
			continue
		}
		v, err := h.Value(typ)
		if err != nil {
			return hd, fmt.Errorf("metadata %s: %w", key, err)
		}
		hd.KV = append(hd.KV, KV{key, v})
	}
	return hd, nil
}
