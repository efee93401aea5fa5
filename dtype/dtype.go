// Package dtype owns the conversions between float32 and the 16-bit
// floating-point formats found in checkpoints (bfloat16 and IEEE 754 half),
// one value at a time and in little-endian bulk.
//
// Encoding from float32 rounds to nearest, ties to even, as PyTorch does.
// NaN stays NaN: like PyTorch's scalar conversions, F32ToBF16 gives the
// canonical quiet NaN 0x7FC0 and F32ToF16 gives a quiet NaN (0x7E00) with the
// sign kept. Decoding to float32 is exact for every bit pattern.
//
// [DType] names a storage format, and [Parse] is the one parser of dtype
// names (F32, BF16, F16, or torch's float32, bfloat16, float16).
package dtype

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// BF16ToF32 returns the float32 value of the bfloat16 bit pattern h. The
// conversion is exact (bfloat16 is the top half of a float32).
func BF16ToF32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// F32ToBF16 returns the bfloat16 bit pattern nearest to f, ties to even.
// Values beyond the bfloat16 range round to ±Inf; NaN becomes 0x7FC0.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	// Adding 0x7FFF plus the lowest kept bit rounds half to even; a carry
	// out of the mantissa correctly bumps the exponent (up to Inf).
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToF32 returns the float32 value of the IEEE 754 half-precision bit
// pattern h, including subnormals, infinities and NaN payloads. The
// conversion is exact.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN: keep the payload.
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal half: mant·2⁻²⁴. Normalise so the leading 1 sits at bit 10.
	e := uint32(127 - 14)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 returns the IEEE 754 half-precision bit pattern nearest to f, ties
// to even. Magnitudes of 65520 and above become ±Inf, magnitudes below the
// smallest half subnormal (2⁻²⁴) round to ±0 or to it, and NaN becomes a quiet
// NaN with the sign of f.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		// Normal half: drop 13 mantissa bits with round-half-even. A carry
		// out of the mantissa increments the exponent, up to Inf (0x7C00).
		h := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	// Subnormal (or zero) half: the value is m·2^(exp-150) with the implicit
	// bit restored, and a half subnormal is k·2⁻²⁴, so k = m >> (126-exp).
	if exp == 0 {
		return sign // float32 subnormals are far below 2⁻²⁵
	}
	m := mant | 0x800000
	shift := uint(126 - exp) // ≥ 14 here
	if shift > 24 {
		return sign // below 2⁻²⁵: rounds to zero
	}
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && h&1 == 1) {
		h++ // may carry into the smallest normal, 0x0400, which is right
	}
	return sign | uint16(h)
}

// DecodeBF16 converts len(dst) little-endian bfloat16 values from src into
// dst. It panics if src holds fewer than 2·len(dst) bytes.
func DecodeBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// DecodeF16 converts len(dst) little-endian IEEE half values from src into
// dst. It panics if src holds fewer than 2·len(dst) bytes.
func DecodeF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// DecodeF32 converts len(dst) little-endian float32 values from src into dst.
// It panics if src holds fewer than 4·len(dst) bytes.
func DecodeF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// EncodeBF16 writes src as little-endian bfloat16 (round to nearest even)
// into dst. It panics if dst holds fewer than 2·len(src) bytes.
func EncodeBF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	}
}

// EncodeF16 writes src as little-endian IEEE half (round to nearest even)
// into dst. It panics if dst holds fewer than 2·len(src) bytes.
func EncodeF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}

// EncodeF32 writes src as little-endian float32 into dst. It panics if dst
// holds fewer than 4·len(src) bytes.
func EncodeF32(dst []byte, src []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// DType names a storage format of floating-point weights. The zero value is
// F32.
type DType int

// The storage formats, by safetensors name.
const (
	F32  DType = iota // IEEE 754 single precision (float32)
	BF16              // bfloat16, the top half of a float32
	F16               // IEEE 754 half precision (float16)
)

// dtypeNames lists each DType's safetensors name and its torch name.
var dtypeNames = [...]struct{ safetensors, torch string }{
	F32:  {"F32", "float32"},
	BF16: {"BF16", "bfloat16"},
	F16:  {"F16", "float16"},
}

// String returns the safetensors name: "F32", "BF16" or "F16".
func (d DType) String() string {
	if d < 0 || int(d) >= len(dtypeNames) {
		return fmt.Sprintf("DType(%d)", int(d))
	}
	return dtypeNames[d].safetensors
}

// TorchName returns the name config.json's torch_dtype uses: "float32",
// "bfloat16" or "float16".
func (d DType) TorchName() string {
	if d < 0 || int(d) >= len(dtypeNames) {
		return d.String()
	}
	return dtypeNames[d].torch
}

// Parse reads a dtype name, either the safetensors name (F32, BF16, F16) or
// the torch name (float32, bfloat16, float16), in any case. It is the one
// parser of dtype names: every command and config file goes through it.
func Parse(s string) (DType, error) {
	t := strings.TrimSpace(s)
	for d, n := range dtypeNames {
		if strings.EqualFold(t, n.safetensors) || strings.EqualFold(t, n.torch) {
			return DType(d), nil
		}
	}
	return 0, fmt.Errorf("dtype %q: want F32, BF16 or F16", s)
}

// Set parses s into d (the flag.Value and pflag.Value method).
func (d *DType) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Type names the value kind in command-line help (pflag.Value).
func (d *DType) Type() string { return "dtype" }

// MarshalText writes the safetensors name, so a DType reads back through
// UnmarshalText from YAML and JSON.
func (d DType) MarshalText() ([]byte, error) {
	if d < 0 || int(d) >= len(dtypeNames) {
		return nil, fmt.Errorf("marshal %v: not a dtype", d)
	}
	return []byte(d.String()), nil
}

// UnmarshalText parses a dtype name (see Parse).
func (d *DType) UnmarshalText(b []byte) error { return d.Set(string(b)) }
