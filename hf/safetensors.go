package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/smaug-dev/smaug/dtype"
)

// maxHeaderSize is the largest JSON header accepted, as in the Rust crate.
const maxHeaderSize = 100_000_000

// dtypeSizes maps the safetensors dtype names to their size in bytes.
var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8, "C64": 8,
}

// DTypeSize returns the size in bytes of one element of the safetensors
// dtype name (such as "F32" or "BF16"), and false for an unknown name.
func DTypeSize(name string) (int, bool) {
	n, ok := dtypeSizes[name]
	return n, ok
}

// TensorInfo describes one tensor in a safetensors header.
type TensorInfo struct {
	Name  string
	DType string
	Shape []int
	// Begin and End are the byte offsets of the tensor's data relative to
	// the start of the data buffer (Header.DataOffset in the file).
	Begin, End int
}

// Header is a parsed and validated safetensors header.
type Header struct {
	// Tensors in the order of their data in the file.
	Tensors []TensorInfo
	// Metadata is the "__metadata__" object, nil when absent.
	Metadata map[string]string
	// DataOffset is where the data buffer starts in the file: 8 plus the
	// header length.
	DataOffset int
}

// ParseHeader parses and validates the safetensors header of data, the whole
// file's bytes. It is as strict as the Rust safetensors crate: the header
// length must fit the file, the header must be UTF-8 JSON starting with '{',
// every dtype known, shapes non-negative integers whose byte size does not
// overflow, each tensor's data_offsets must hold exactly its bytes, and the
// tensors must tile the data buffer without gap or overlap up to the end of
// the file. Errors name the tensor and the offending values. ParseHeader
// never panics, whatever data holds.
func ParseHeader(data []byte) (*Header, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, too small for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, maxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after the length field (truncated file?)", n, len(data)-8)
	}
	hdr := data[8 : 8+n]
	if !utf8.Valid(hdr) {
		return nil, errors.New("header is not valid UTF-8")
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, errors.New("header does not start with '{'")
	}
	h := &Header{DataOffset: 8 + int(n)}
	if err := h.decodeJSON(hdr); err != nil {
		return nil, err
	}
	if err := h.checkLayout(len(data) - h.DataOffset); err != nil {
		return nil, err
	}
	return h, nil
}

// decodeJSON fills h.Tensors (in header order) and h.Metadata from the JSON
// header, rejecting duplicate names.
func (h *Header) decodeJSON(hdr []byte) error {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{', checked above
		return fmt.Errorf("header JSON: %w", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("header JSON at byte %d: %w", dec.InputOffset(), err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("header JSON at byte %d: expected a tensor name", dec.InputOffset())
		}
		if seen[name] {
			return fmt.Errorf("header: tensor %q appears twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("header JSON, value of %q: %w", name, err)
		}
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &h.Metadata); err != nil {
				return fmt.Errorf("header: __metadata__ must be an object of strings: %w", err)
			}
			continue
		}
		ti, err := decodeTensorInfo(name, raw)
		if err != nil {
			return fmt.Errorf("header: tensor %q: %w", name, err)
		}
		h.Tensors = append(h.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("header JSON at byte %d: %w", dec.InputOffset(), err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("header JSON at byte %d: %w", dec.InputOffset(), err)
		}
		return fmt.Errorf("header JSON: unexpected %v after the closing brace", tok)
	}
	return nil
}

// decodeTensorInfo decodes {"dtype":..., "shape":[...], "data_offsets":[b,e]},
// matching field names exactly and checking the byte count.
func decodeTensorInfo(name string, raw json.RawMessage) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return ti, errors.New("must be an object with dtype, shape and data_offsets")
	}
	for _, f := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := fields[f]; !ok {
			return ti, fmt.Errorf("missing field %q", f)
		}
	}
	if err := json.Unmarshal(fields["dtype"], &ti.DType); err != nil {
		return ti, fmt.Errorf("dtype %s is not a string", fields["dtype"])
	}
	size, ok := dtypeSizes[ti.DType]
	if !ok {
		return ti, fmt.Errorf("unknown dtype %q", ti.DType)
	}
	shape, err := decodeUints(fields["shape"])
	if err != nil {
		return ti, fmt.Errorf("shape %s: %w", fields["shape"], err)
	}
	offs, err := decodeUints(fields["data_offsets"])
	if err != nil {
		return ti, fmt.Errorf("data_offsets %s: %w", fields["data_offsets"], err)
	}
	if len(offs) != 2 {
		return ti, fmt.Errorf("data_offsets %s must be [begin, end]", fields["data_offsets"])
	}
	nbytes := uint64(size)
	for _, d := range shape {
		hi, lo := bits.Mul64(nbytes, d)
		if hi != 0 || lo > math.MaxInt {
			return ti, fmt.Errorf("shape %v: byte size overflows", shape)
		}
		nbytes = lo
		ti.Shape = append(ti.Shape, int(d))
	}
	if ti.Shape == nil {
		ti.Shape = []int{}
	}
	if offs[0] > offs[1] {
		return ti, fmt.Errorf("data_offsets [%d,%d]: begin after end", offs[0], offs[1])
	}
	if offs[1] > math.MaxInt {
		return ti, fmt.Errorf("data_offsets [%d,%d] out of range", offs[0], offs[1])
	}
	if offs[1]-offs[0] != nbytes {
		return ti, fmt.Errorf("data_offsets [%d,%d] hold %d bytes, but %s %v needs %d",
			offs[0], offs[1], offs[1]-offs[0], ti.DType, ti.Shape, nbytes)
	}
	ti.Begin, ti.End = int(offs[0]), int(offs[1])
	return ti, nil
}

// decodeUints decodes a JSON array of non-negative integers.
func decodeUints(raw json.RawMessage) ([]uint64, error) {
	var nums []json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&nums); err != nil || nums == nil {
		return nil, errors.New("must be an array of non-negative integers")
	}
	out := make([]uint64, len(nums))
	for i, n := range nums {
		v, err := strconv.ParseUint(n.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("element %d (%s) is not a non-negative integer", i, n)
		}
		out[i] = v
	}
	return out, nil
}

// checkLayout sorts h.Tensors by offset and checks that they cover the data
// buffer of bufLen bytes contiguously.
func (h *Header) checkLayout(bufLen int) error {
	slices.SortStableFunc(h.Tensors, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			return a.Begin - b.Begin
		}
		if a.End != b.End {
			return a.End - b.End
		}
		return strings.Compare(a.Name, b.Name)
	})
	pos, prev := 0, ""
	for _, t := range h.Tensors {
		switch {
		case t.Begin < pos:
			return fmt.Errorf("tensor %q data_offsets [%d,%d] overlap tensor %q, which ends at %d", t.Name, t.Begin, t.End, prev, pos)
		case t.Begin > pos:
			return fmt.Errorf("tensor %q data_offsets [%d,%d] leave bytes [%d,%d) of the data buffer unused", t.Name, t.Begin, t.End, pos, t.Begin)
		}
		if t.End > bufLen {
			return fmt.Errorf("tensor %q data_offsets [%d,%d] end past the %d-byte data buffer (truncated file?)", t.Name, t.Begin, t.End, bufLen)
		}
		pos, prev = t.End, t.Name
	}
	if pos != bufLen {
		return fmt.Errorf("tensors cover %d bytes, but the data buffer holds %d", pos, bufLen)
	}
	return nil
}

// Tensor is one tensor of a safetensors file.
type Tensor struct {
	Name  string
	DType string // safetensors dtype name: "F32", "BF16", "F16", ...
	Shape []int
	// Data holds the raw little-endian bytes. For tensors from
	// OpenSafetensors it is a read-only view of the memory-mapped file:
	// writing to it faults, and it is invalid after the file is closed.
	Data []byte
}

// NumElements returns the number of elements: the product of Shape (1 for a
// scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 returns the tensor's values converted to a new float32 slice. It
// handles F32, BF16, F16 and F64 (rounded to nearest float32).
func (t *Tensor) Float32() ([]float32, error) {
	n := t.NumElements()
	size, ok := dtypeSizes[t.DType]
	if !ok || len(t.Data) != n*size {
		return nil, fmt.Errorf("tensor %q: %d bytes do not hold %s %v", t.Name, len(t.Data), t.DType, t.Shape)
	}
	out := make([]float32, n)
	switch t.DType {
	case "F32":
		dtype.DecodeF32(out, t.Data)
	case "BF16":
		dtype.DecodeBF16(out, t.Data)
	case "F16":
		dtype.DecodeF16(out, t.Data)
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q: cannot convert dtype %s to float32", t.Name, t.DType)
	}
	return out, nil
}

// File is one safetensors file, memory-mapped read-only. Its tensors' Data
// slices point into the mapping, so they must not be used after Close.
type File struct {
	path    string
	data    []byte
	header  *Header
	index   map[string]int
	release func() error
}

// OpenSafetensors memory-maps the safetensors file at path and validates its
// header (see ParseHeader). Tensor data is not read until it is used.
func OpenSafetensors(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("open safetensors %s: %w", path, err)
	}
	if st.Size() > math.MaxInt {
		return nil, fmt.Errorf("open safetensors %s: %d bytes is too large to map", path, st.Size())
	}
	data, release, err := mapFile(fd, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("open safetensors %s: %w", path, err)
	}
	h, err := ParseHeader(data)
	if err != nil {
		release()
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f := &File{path: path, data: data, header: h, index: make(map[string]int, len(h.Tensors)), release: release}
	for i, t := range h.Tensors {
		f.index[t.Name] = i
	}
	return f, nil
}

// Path returns the path the file was opened from.
func (f *File) Path() string { return f.path }

// Header returns the parsed header. It must not be modified.
func (f *File) Header() *Header { return f.header }

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.header.Tensors))
	for _, t := range f.header.Tensors {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

// Tensor returns the named tensor, its Data a view of the mapped file, and
// false when the file has no such tensor.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	ti := f.header.Tensors[i]
	b, e := f.header.DataOffset+ti.Begin, f.header.DataOffset+ti.End
	return &Tensor{Name: ti.Name, DType: ti.DType, Shape: slices.Clone(ti.Shape), Data: f.data[b:e:e]}, true
}

// Metadata returns a copy of the header's "__metadata__" map (nil when
// absent).
func (f *File) Metadata() map[string]string {
	if f.header.Metadata == nil {
		return nil
	}
	m := make(map[string]string, len(f.header.Metadata))
	for k, v := range f.header.Metadata {
		m[k] = v
	}
	return m
}

// Close unmaps the file. Tensor data obtained from it must no longer be
// used. Closing twice is harmless.
func (f *File) Close() error {
	if f.release == nil {
		return nil
	}
	err := f.release()
	f.release, f.data = nil, nil
	if err != nil {
		return fmt.Errorf("close safetensors %s: %w", f.path, err)
	}
	return nil
}
