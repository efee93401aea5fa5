package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/dtype"
)

// WriteTensor is a float32 tensor to write, stored as DType.
type WriteTensor struct {
	Name  string
	Shape []int
	Data  []float32 // row-major, len = product of Shape
	// DType is the stored type: "F32" (the default when empty), "BF16" or
	// "F16"; BF16 and F16 round to nearest even.
	DType string
}

// writeRank orders dtypes in a file as the Rust writer does: larger
// alignment first, then by name.
var writeRank = map[string]int{"F32": 2, "BF16": 1, "F16": 0}

// storedDType returns t's dtype with the default applied.
func (t *WriteTensor) storedDType() string {
	if t.DType == "" {
		return "F32"
	}
	return t.DType
}

// byteSize returns the stored size of t in bytes.
func (t *WriteTensor) byteSize() int64 {
	return int64(len(t.Data)) * int64(dtypeSizes[t.storedDType()])
}

// checkWriteTensors validates names, dtypes and shapes before anything is
// written.
func checkWriteTensors(ts []WriteTensor) error {
	seen := make(map[string]bool, len(ts))
	for i := range ts {
		t := &ts[i]
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("tensor %d: invalid name %q", i, t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if _, ok := writeRank[t.storedDType()]; !ok {
			return fmt.Errorf("tensor %q: cannot write dtype %q (F32, BF16 or F16)", t.Name, t.DType)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %v holds %d elements, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
	}
	return nil
}

// WriteSafetensors writes ts to path as a safetensors file, atomically
// (a temporary file renamed into place), byte for byte as the Rust
// safetensors writer lays it out: tensors ordered by dtype (F32, BF16, F16)
// then name, a compact JSON header padded with spaces to a multiple of 8
// bytes. metadata becomes "__metadata__"; "format": "pt" is added when
// missing, as transformers requires it.
func WriteSafetensors(path string, ts []WriteTensor, metadata map[string]string) error {
	if err := checkWriteTensors(ts); err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	order := make([]*WriteTensor, len(ts))
	for i := range ts {
		order[i] = &ts[i]
	}
	slices.SortFunc(order, func(a, b *WriteTensor) int {
		if ra, rb := writeRank[a.storedDType()], writeRank[b.storedDType()]; ra != rb {
			return rb - ra
		}
		return strings.Compare(a.Name, b.Name)
	})
	header := safetensorsHeader(order, metadata)
	return atomicfile.Write(path, func(w io.Writer) error {
		var n [8]byte
		for i := range n {
			n[i] = byte(uint64(len(header)) >> (8 * i))
		}
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		return writeTensorData(w, order)
	})
}

// safetensorsHeader returns the JSON header for tensors in data order,
// padded with spaces to a multiple of 8 bytes.
func safetensorsHeader(order []*WriteTensor, metadata map[string]string) []byte {
	meta := maps.Clone(metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	if _, ok := meta["format"]; !ok {
		meta["format"] = "pt"
	}
	var b bytes.Buffer
	b.WriteString(`{"__metadata__":{`)
	for i, k := range slices.Sorted(maps.Keys(meta)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		b.Write(jsonString(meta[k]))
	}
	b.WriteByte('}')
	var off int64
	for _, t := range order {
		b.WriteByte(',')
		b.Write(jsonString(t.Name))
		b.WriteString(`:{"dtype":"`)
		b.WriteString(t.storedDType())
		b.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := off + t.byteSize()
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// jsonString encodes s as a JSON string without HTML escaping, as
// serde_json does.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// writeTensorData encodes the tensors' values in chunks.
func writeTensorData(w io.Writer, order []*WriteTensor) error {
	const chunk = 1 << 16
	buf := make([]byte, 4*chunk)
	for _, t := range order {
		for i := 0; i < len(t.Data); i += chunk {
			src := t.Data[i:min(i+chunk, len(t.Data))]
			var n int
			switch t.storedDType() {
			case "F32":
				n = 4 * len(src)
				dtype.EncodeF32(buf, src)
			case "BF16":
				n = 2 * len(src)
				dtype.EncodeBF16(buf, src)
			case "F16":
				n = 2 * len(src)
				dtype.EncodeF16(buf, src)
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
	}
	return nil
}
