package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/smaug-dev/smaug/dtype"
)

// Type is a ggml tensor type (ggml.h's enum ggml_type).
type Type uint32

// The tensor types this package reads; F32, F16, BF16 and Q8_0 it also
// writes.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q8_0 Type = 8
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	BF16 Type = 30
)

// QK_K is the super-block size of the k-quants.
const QK_K = 256

type typeInfo struct {
	name      string
	block     int // values per block
	blockSize int // bytes per block
	decode    func(dst []float32, src []byte)
}

var types = map[Type]typeInfo{
	F32:  {"F32", 1, 4, dtype.DecodeF32},
	F16:  {"F16", 1, 2, dtype.DecodeF16},
	BF16: {"BF16", 1, 2, dtype.DecodeBF16},
	Q8_0: {"Q8_0", 32, 34, dequantQ8_0},
	Q4_0: {"Q4_0", 32, 18, dequantQ4_0},
	Q4_K: {"Q4_K", QK_K, 144, dequantQ4_K},
	Q5_K: {"Q5_K", QK_K, 176, dequantQ5_K},
	Q6_K: {"Q6_K", QK_K, 210, dequantQ6_K},
}

// String returns llama.cpp's name of the type ("Q4_K", "type 11" when
// unsupported here).
func (t Type) String() string {
	if i, ok := types[t]; ok {
		return i.name
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// ParseType parses a type name, case-insensitive ("f16", "Q8_0").
func ParseType(s string) (Type, error) {
	for t, i := range types {
		if strings.EqualFold(i.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown GGUF tensor type %q (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)", s)
}

// ByteSize returns the bytes n values of type t take, or an error when the
// type is unsupported or n is not a whole number of blocks.
func (t Type) ByteSize(n int64) (int64, error) {
	i, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("tensor type %s is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)", t)
	}
	if n%int64(i.block) != 0 {
		return 0, fmt.Errorf("%d values are not a whole number of %s blocks of %d", n, t, i.block)
	}
	return n / int64(i.block) * int64(i.blockSize), nil
}

// BlockSize is the number of values in one block of t (1 for float types).
func (t Type) BlockSize() int { return types[t].block }

// Dequantize decodes n values of type t from src.
func Dequantize(t Type, src []byte, n int) ([]float32, error) {
	size, err := t.ByteSize(int64(n))
	if err != nil {
		return nil, err
	}
	if int64(len(src)) != size {
		return nil, fmt.Errorf("%d values of %s take %d bytes, have %d", n, t, size, len(src))
	}
	out := make([]float32, n)
	types[t].decode(out, src)
	return out, nil
}

// Quantize encodes x as type t: F32, F16, BF16 (round to nearest even) or
// Q8_0 (llama.cpp's quantize_row_q8_0_ref).
func Quantize(t Type, x []float32) ([]byte, error) {
	size, err := t.ByteSize(int64(len(x)))
	if err != nil {
		return nil, err
	}
	out := make([]byte, size)
	switch t {
	case F32:
		dtype.EncodeF32(out, x)
	case F16:
		dtype.EncodeF16(out, x)
	case BF16:
		dtype.EncodeBF16(out, x)
	case Q8_0:
		quantQ8_0(out, x)
	default:
		return nil, fmt.Errorf("writing %s tensors is not supported (F32, F16, BF16, Q8_0)", t)
	}
	return out, nil
}

func f16(b []byte) float32 { return dtype.F16ToF32(binary.LittleEndian.Uint16(b)) }

// quantQ8_0 is ggml-quants.c's quantize_row_q8_0_ref: per block of 32,
// d = max|x|/127 stored in half precision, q = roundf(x/d).
func quantQ8_0(dst []byte, x []float32) {
	for b := 0; b < len(x)/32; b++ {
		blk := x[32*b : 32*b+32]
		o := dst[34*b : 34*b+34]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(o, dtype.F32ToF16(d))
		for j, v := range blk {
			o[2+j] = byte(int8(roundf(v * id)))
		}
	}
}

// roundf rounds half away from zero, as C's roundf.
func roundf(v float32) float32 { return float32(math.Round(float64(v))) }

func dequantQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[34*b : 34*b+34]
		d := f16(blk)
		for j := 0; j < 32; j++ {
			dst[32*b+j] = float32(int8(blk[2+j])) * d
		}
	}
}

// dequantQ4_0: d (half), 16 bytes of nibbles; low nibbles are values 0..15,
// high nibbles 16..31, each (q − 8)·d.
func dequantQ4_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[18*b : 18*b+18]
		d := f16(blk)
		for j := 0; j < 16; j++ {
			q := blk[2+j]
			dst[32*b+j] = float32(int(q&0xf)-8) * d
			dst[32*b+j+16] = float32(int(q>>4)-8) * d
		}
	}
}

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j from the 12 packed bytes.
func scaleMinK4(j int, q []byte) (float32, float32) {
	if j < 4 {
		return float32(q[j] & 63), float32(q[j+4] & 63)
	}
	d := q[j+4]&0xf | (q[j-4]>>6)<<4
	m := q[j+4]>>4 | (q[j]>>6)<<4
	return float32(d), float32(m)
}

// dequantQ4_K: d, dmin (half), 12 bytes of scales/mins, 128 bytes of
// nibbles; each 64 values use two sub-blocks (low, then high nibbles).
func dequantQ4_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK_K; b++ {
		blk := src[144*b : 144*b+144]
		d, dmin := f16(blk), f16(blk[2:])
		sc, q := blk[4:16], blk[16:]
		y := dst[QK_K*b:]
		for j, is := 0, 0; j < QK_K; j, is = j+64, is+2 {
			s1, m1 := scaleMinK4(is, sc)
			s2, m2 := scaleMinK4(is+1, sc)
			d1, mm1, d2, mm2 := d*s1, dmin*m1, d*s2, dmin*m2
			for l := 0; l < 32; l++ {
				y[j+l] = d1*float32(q[l]&0xf) - mm1
				y[j+32+l] = d2*float32(q[l]>>4) - mm2
			}
			q = q[32:]
		}
	}
}

// dequantQ5_K: as Q4_K with a fifth bit from 32 bytes of qh.
func dequantQ5_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK_K; b++ {
		blk := src[176*b : 176*b+176]
		d, dmin := f16(blk), f16(blk[2:])
		sc, qh, ql := blk[4:16], blk[16:48], blk[48:]
		y := dst[QK_K*b:]
		u1, u2 := byte(1), byte(2)
		for j, is := 0, 0; j < QK_K; j, is = j+64, is+2 {
			s1, m1 := scaleMinK4(is, sc)
			s2, m2 := scaleMinK4(is+1, sc)
			d1, mm1, d2, mm2 := d*s1, dmin*m1, d*s2, dmin*m2
			for l := 0; l < 32; l++ {
				h1, h2 := 0, 0
				if qh[l]&u1 != 0 {
					h1 = 16
				}
				if qh[l]&u2 != 0 {
					h2 = 16
				}
				y[j+l] = d1*float32(int(ql[l]&0xf)+h1) - mm1
				y[j+32+l] = d2*float32(int(ql[l]>>4)+h2) - mm2
			}
			ql = ql[32:]
			u1 <<= 2
			u2 <<= 2
		}
	}
}

// dequantQ6_K: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8
// scales, d (half); value = d·scale·(q − 32).
func dequantQ6_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK_K; b++ {
		blk := src[210*b : 210*b+210]
		ql, qh, sc := blk[:128], blk[128:192], blk[192:208]
		d := f16(blk[208:])
		y := dst[QK_K*b:]
		for n := 0; n < QK_K; n += 128 {
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(ql[l]&0xf|((qh[l]>>0)&3)<<4) - 32
				q2 := int(ql[l+32]&0xf|((qh[l]>>2)&3)<<4) - 32
				q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
				q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
				y[n+l] = d * float32(int8(sc[is])) * float32(q1)
				y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
			ql, qh, sc = ql[64:], qh[32:], sc[8:]
		}
	}
}
