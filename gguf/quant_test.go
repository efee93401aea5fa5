package gguf

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
)

// synthetic is test-quantize-fns.cpp's generate_data, 0.1 + 2·cosf(i +
// offset), evaluated as C does (cosf in float, the sum in double).
func synthetic(n int, offset float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		c := float32(math.Cos(float64(float32(i) + offset)))
		x[i] = float32(0.1 + float64(2*c))
	}
	return x
}

// rmse is test-quantize-fns.cpp's array_rmse: sqrt(Σ(a−b)²)/n.
func rmse(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s) / float64(len(a))
}

// TestDequantizeReferenceBlocks quantises llama.cpp's synthetic test data
// (4096 values) with ports of ggml-quants.c's reference quantisers and
// dequantises it: the error stays under test-quantize-fns.cpp's
// MAX_QUANTIZATION_TOTAL_ERROR (0.002) for every type, and every value is
// within the block's quantisation step.
func TestDequantizeReferenceBlocks(t *testing.T) {
	x := synthetic(32*128, 0)
	for _, tc := range []struct {
		typ   Type
		quant func([]float32) []byte
	}{
		{Q8_0, func(x []float32) []byte { b, _ := Quantize(Q8_0, x); return b }},
		{Q4_0, refQ4_0},
		{Q4_K, func(x []float32) []byte { return refK45(x, 15) }},
		{Q5_K, func(x []float32) []byte { return refK45(x, 31) }},
		{Q6_K, refQ6_K},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			b := tc.quant(x)
			got, err := Dequantize(tc.typ, b, len(x))
			if err != nil {
				t.Fatal(err)
			}
			e := rmse(x, got)
			t.Logf("%s: rmse %.2e (llama.cpp bound 2e-3), %d bytes for %d values", tc.typ, e, len(b), len(x))
			if e > 0.002 {
				t.Errorf("total quantisation error %.3g > 0.002", e)
			}
			// The range of x is [-1.9, 2.1]; the coarsest step (Q4_0,
			// 2.1/8) bounds every value's error.
			for i := range x {
				if d := math.Abs(float64(x[i] - got[i])); d > 2.1/8 {
					t.Fatalf("value %d: %v for %v", i, got[i], x[i])
				}
			}
		})
	}
}

func h(f float32) []byte {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, dtype.F32ToF16(f))
	return b
}

// TestDequantizeHandBlocks decodes one hand-built block of each type and
// compares with values worked out by hand from the block layouts of
// ggml-common.h.
func TestDequantizeHandBlocks(t *testing.T) {
	t.Run("Q8_0", func(t *testing.T) {
		b := h(0.25)
		for j := 0; j < 32; j++ {
			b = append(b, byte(int8(j-16)))
		}
		got, _ := Dequantize(Q8_0, b, 32)
		for j, v := range got {
			if want := float32(j-16) * 0.25; v != want {
				t.Fatalf("value %d = %v, want %v", j, v, want)
			}
		}
	})
	t.Run("Q4_0", func(t *testing.T) {
		b := h(0.5)
		for j := 0; j < 16; j++ {
			b = append(b, byte(j)|byte(15-j)<<4)
		}
		got, _ := Dequantize(Q4_0, b, 32)
		for j := 0; j < 16; j++ {
			// low nibble j → (j−8)/2 at j; high nibble 15−j → (7−j)/2 at 16+j
			if got[j] != float32(j-8)/2 || got[16+j] != float32(7-j)/2 {
				t.Fatalf("values %d, %d = %v, %v", j, 16+j, got[j], got[16+j])
			}
		}
	})
	// Q4_K and Q5_K: d = 1, dmin = 0.5; sub-block scales 1..8 with sub-block 7
	// using 6 bits (scale 40 = 0b101000, min 33 = 0b100001).
	var ls, lm [8]uint8
	for j := range ls {
		ls[j], lm[j] = uint8(j+1), uint8(j)
	}
	ls[7], lm[7] = 40, 33
	sc := packScalesK4(ls, lm)
	// hand check of the packing: byte 11 holds the low nibbles of scale 40
	// (8) and min 33 (1); bytes 3 and 7 carry their top two bits (2 and 2).
	if sc[11] != 0x18 || sc[3]>>6 != 2 || sc[7]>>6 != 2 {
		t.Fatalf("packed scales % x", sc)
	}
	qval := func(i int) int { return i % 16 } // value index → 4-bit quant
	t.Run("Q4_K", func(t *testing.T) {
		b := append(append(h(1), h(0.5)...), sc...)
		for j := 0; j < QK_K; j += 64 {
			for l := 0; l < 32; l++ {
				b = append(b, byte(qval(j+l))|byte(qval(j+32+l))<<4)
			}
		}
		got, _ := Dequantize(Q4_K, b, QK_K)
		for i, v := range got {
			s := i / 32
			if want := float32(ls[s])*float32(qval(i)) - 0.5*float32(lm[s]); v != want {
				t.Fatalf("value %d = %v, want %v", i, v, want)
			}
		}
	})
	t.Run("Q5_K", func(t *testing.T) {
		b := append(append(h(1), h(0.5)...), sc...)
		// fifth bit set on every odd value
		qh := make([]byte, 32)
		for l := 0; l < 32; l++ {
			if l%2 == 1 {
				qh[l] = 0xff
			}
		}
		b = append(b, qh...)
		for j := 0; j < QK_K; j += 64 {
			for l := 0; l < 32; l++ {
				b = append(b, byte(qval(j+l))|byte(qval(j+32+l))<<4)
			}
		}
		got, _ := Dequantize(Q5_K, b, QK_K)
		for i, v := range got {
			s, q := i/32, qval(i)
			if (i%32)%2 == 1 {
				q += 16
			}
			if want := float32(ls[s])*float32(q) - 0.5*float32(lm[s]); v != want {
				t.Fatalf("value %d = %v, want %v", i, v, want)
			}
		}
	})
	t.Run("Q6_K", func(t *testing.T) {
		// value i has the 6-bit quant i mod 64 and sub-block i/16 the
		// scale i/16 − 8: value = d·scale·(q − 32), d = 1/8.
		L := make([]uint8, QK_K)
		for i := range L {
			L[i] = uint8(i % 64)
		}
		b := make([]byte, 210)
		ql, qh := b[:128], b[128:192]
		for j := 0; j < QK_K; j += 128 {
			for l := 0; l < 32; l++ {
				ql[l] = L[j+l]&0xf | (L[j+l+64]&0xf)<<4
				ql[l+32] = L[j+l+32]&0xf | (L[j+l+96]&0xf)<<4
				qh[l] = L[j+l]>>4 | (L[j+l+32]>>4)<<2 | (L[j+l+64]>>4)<<4 | (L[j+l+96]>>4)<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
		for s := 0; s < 16; s++ {
			b[192+s] = byte(int8(s - 8))
		}
		copy(b[208:], h(0.125))
		got, _ := Dequantize(Q6_K, b, QK_K)
		for i, v := range got {
			if want := 0.125 * float32(i/16-8) * float32(i%64-32); v != want {
				t.Fatalf("value %d = %v, want %v", i, v, want)
			}
		}
	})
}

// TestQuantizeFloats: F16 and BF16 encode by rounding to nearest even and
// decode exactly; sizes are checked.
func TestQuantizeFloats(t *testing.T) {
	x := []float32{1, -2.5, 1.0009765625 + 1.0/4096, 65504, 3.0e-5}
	for _, typ := range []Type{F32, F16, BF16} {
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Dequantize(typ, b, len(x))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			want := v
			switch typ {
			case F16:
				want = dtype.F16ToF32(dtype.F32ToF16(v))
			case BF16:
				want = dtype.BF16ToF32(dtype.F32ToBF16(v))
			}
			if got[i] != want {
				t.Errorf("%s value %d: %v, want %v", typ, i, got[i], want)
			}
		}
	}
	if _, err := Quantize(Q8_0, make([]float32, 31)); err == nil {
		t.Error("31 values quantised as Q8_0")
	}
	if _, err := Dequantize(Q4_K, make([]byte, 143), 256); err == nil {
		t.Error("short Q4_K block accepted")
	}
}

func sha256Of(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func float32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// ggmlInput is the harness's input: integer arithmetic and one correctly
// rounded division, so C and Go produce the same floats (libm's cosf is
// not correctly rounded everywhere).
func ggmlInput() []float32 {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32((i*7919)%2001-1000) / 500 * float32(1+(i/256)%4)
	}
	return x
}

// TestAgainstGGML pins the quantiser ports and the dequantisers to ggml
// itself: the sha256 of the blocks ggml's quantize_row_*_ref made from
// ggmlInput, and of ggml's dequantize_row_* of them, recorded once by
// compiling ggml (ggml-org/ggml, August 2026) around a small C harness. The
// ports reproduce ggml's blocks byte for byte and the dequantisers its
// floats bit for bit.
func TestAgainstGGML(t *testing.T) {
	x := ggmlInput()
	if h := sha256Of(float32Bytes(x)); h != "8cda78d954c5cb63f7ef52602b87f3c3161e148aa718accbf36aa1f0814c5d41" {
		t.Fatalf("input differs from the harness's (sha256 %s)", h)
	}
	for _, tc := range []struct {
		typ         Type
		quant       func([]float32) []byte
		blocks, deq string
	}{
		{Q8_0, func(x []float32) []byte { b, _ := Quantize(Q8_0, x); return b },
			"91a9291159048a0ac5193327ae3d53b990ee3565f88b0c8a1f4413fabe08c204", "d8834b5d91042f666e56d0dbc04f251b0f36643c67c121a5276ed50fb6174356"},
		{Q4_0, refQ4_0,
			"4c3971157def513d7e4cc208466ffd6f3071f3c5609128f7edd291894f251b35", "8dfbb41c7441e1c62e524558e1045f303fefd0c047f907799b86ba1fc4f2609e"},
		{Q4_K, func(x []float32) []byte { return refK45(x, 15) },
			"13039cd33b944260a7621063446862c940da68873265848796d596f4a5799ff0", "4a67a9423e7cbf80e84995cb7ce3a3ad062463c259b287213bdeaf0e1c41ffbc"},
		{Q5_K, func(x []float32) []byte { return refK45(x, 31) },
			"a1893cdb99732a43f68e67f9438a541d4e52041870f093e72c12d673c002cd1f", "e16480b139719b978f63b30da470a9a55ed6cd51e98ac17aa989dfc65947f855"},
		{Q6_K, refQ6_K,
			"f9e42368b57133d14eb6d951954d2208790533aac51c8bd7474c075fb7e053ed", "594f527a3d866848b14922ea4b5f7b4c236082795b33c62775acd2437d7c3df1"},
	} {
		b := tc.quant(x)
		if h := sha256Of(b); h != tc.blocks {
			t.Errorf("%s: blocks differ from ggml's (sha256 %s)", tc.typ, h)
		}
		y, err := Dequantize(tc.typ, b, len(x))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256Of(float32Bytes(y)); h != tc.deq {
			t.Errorf("%s: dequantised values differ from ggml's (sha256 %s)", tc.typ, h)
		}
	}
}
