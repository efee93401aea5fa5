package dtype

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// refBF16 computes the value of a bfloat16 bit pattern from its fields in
// float64, independently of the bit-shifting implementation.
func refBF16(h uint16) float64 {
	return refFloat(uint64(h>>15), int(h>>7)&0xff, uint64(h&0x7f), 8, 7)
}

// refF16 does the same for IEEE half.
func refF16(h uint16) float64 {
	return refFloat(uint64(h>>15), int(h>>10)&0x1f, uint64(h&0x3ff), 5, 10)
}

func refFloat(sign uint64, exp int, mant uint64, expBits, mantBits int) float64 {
	bias := 1<<(expBits-1) - 1
	maxExp := 1<<expBits - 1
	var v float64
	switch exp {
	case maxExp:
		if mant != 0 {
			return math.NaN()
		}
		v = math.Inf(1)
	case 0:
		v = math.Ldexp(float64(mant), 1-bias-mantBits)
	default:
		v = math.Ldexp(float64(mant|1<<mantBits), exp-bias-mantBits)
	}
	if sign == 1 {
		v = -v
	}
	return v
}

func TestExhaustiveBF16(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := BF16ToF32(h)
		want := refBF16(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("BF16ToF32(%#04x) = %v, want NaN", h, f)
			}
			if got := F32ToBF16(f); got != 0x7fc0 {
				t.Fatalf("F32ToBF16(NaN from %#04x) = %#04x, want 0x7fc0", h, got)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != math.Signbit(want) {
			t.Fatalf("BF16ToF32(%#04x) = %v, want %v", h, f, want)
		}
		if got := F32ToBF16(f); got != h {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, got)
		}
	}
}

func TestExhaustiveF16(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := F16ToF32(h)
		want := refF16(h)
		if math.IsNaN(want) {
			b := math.Float32bits(f)
			if !math.IsNaN(float64(f)) || b&0x1fff != 0 || uint16(b>>13)&0x3ff != h&0x3ff {
				t.Fatalf("F16ToF32(%#04x) = %#08x, want NaN with payload kept", h, b)
			}
			if got, w := F32ToF16(f), h&0x8000|0x7e00; got != w {
				t.Fatalf("F32ToF16(NaN from %#04x) = %#04x, want %#04x", h, got, w)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != math.Signbit(want) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, f, want)
		}
		if got := F32ToF16(f); got != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, got)
		}
	}
}

func TestF32ToBF16Rounding(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"minus two", -2, 0xc000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"tie to even down 1+2^-8", 1 + 1.0/256, 0x3f80},
		{"tie to even up 1+3*2^-8", 1 + 3.0/256, 0x3f82},
		{"just above tie", math.Float32frombits(0x3f808001), 0x3f81},
		{"just below tie", math.Float32frombits(0x3f807fff), 0x3f80},
		{"pi", math.Pi, 0x4049},
		{"0.1", 0.1, 0x3dcd},
		{"max float32 rounds to inf", math.MaxFloat32, 0x7f80},
		{"largest finite bf16", math.Float32frombits(0x7f7f0000), 0x7f7f},
		{"tie below largest stays finite", math.Float32frombits(0x7f7e8000), 0x7f7e},
		{"subnormal tie to even zero", math.Float32frombits(0x00008000), 0x0000},
		{"subnormal tie to even up", math.Float32frombits(0x00018000), 0x0002},
		{"smallest subnormal", math.Float32frombits(1), 0x0000},
		{"+inf", float32(math.Inf(1)), 0x7f80},
		{"-inf", float32(math.Inf(-1)), 0xff80},
		{"nan", float32(math.NaN()), 0x7fc0},
		{"negative nan", math.Float32frombits(0xffc00001), 0x7fc0},
		{"signalling nan", math.Float32frombits(0x7f800001), 0x7fc0},
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.in); got != tt.want {
			t.Errorf("%s: F32ToBF16(%#08x) = %#04x, want %#04x", tt.name, math.Float32bits(tt.in), got, tt.want)
		}
	}
}

func TestF32ToF16Rounding(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"0.1", 0.1, 0x2e66},
		{"1/3", 1.0 / 3, 0x3555},
		{"tie to even down 1+2^-11", 1 + 1.0/2048, 0x3c00},
		{"tie to even up 1+3*2^-11", 1 + 3.0/2048, 0x3c02},
		{"just above tie", math.Float32frombits(0x3f800001 + 0x1000), 0x3c01},
		{"max half", 65504, 0x7bff},
		{"below overflow tie", 65519.996, 0x7bff},
		{"overflow tie to even is inf", 65520, 0x7c00},
		{"large", 1e5, 0x7c00},
		{"smallest normal", 1.0 / 16384, 0x0400},
		{"tie between largest subnormal and smallest normal", float32(1023.5 / (1 << 24)), 0x0400},
		{"largest subnormal", float32(1023.0 / (1 << 24)), 0x03ff},
		{"smallest subnormal 2^-24", float32(1.0 / (1 << 24)), 0x0001},
		{"2^-25 ties to zero", float32(1.0 / (1 << 25)), 0x0000},
		{"just above 2^-25", math.Float32frombits(0x33000001), 0x0001},
		{"1.5*2^-24 ties to even 2", float32(1.5 / (1 << 24)), 0x0002},
		{"2.5*2^-24 ties to even 2", float32(2.5 / (1 << 24)), 0x0002},
		{"negative subnormal", float32(-3.0 / (1 << 24)), 0x8003},
		{"1e-8 underflows", 1e-8, 0x0000},
		{"float32 subnormal", math.Float32frombits(0x00400000), 0x0000},
		{"+inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
		{"nan", float32(math.NaN()), 0x7e00},
		{"negative nan", math.Float32frombits(0xff800001), 0xfe00},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.in); got != tt.want {
			t.Errorf("%s: F32ToF16(%#08x) = %#04x, want %#04x", tt.name, math.Float32bits(tt.in), got, tt.want)
		}
	}
}

// TestNearestEven checks on random float32 bit patterns that the encoded
// value is the nearest representable one (comparing in float64 against the
// neighbours), with ties going to the even pattern.
func TestNearestEven(t *testing.T) {
	codecs := []struct {
		name   string
		enc    func(float32) uint16
		ref    func(uint16) float64
		maxFin uint16 // largest finite positive pattern
	}{
		{"bf16", F32ToBF16, refBF16, 0x7f7f},
		{"f16", F32ToF16, refF16, 0x7bff},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range codecs {
		for range 300000 {
			f := math.Float32frombits(rng.Uint32())
			if math.IsNaN(float64(f)) {
				continue
			}
			x := math.Abs(float64(f))
			h := c.enc(f)
			if (h&0x8000 != 0) != math.Signbit(float64(f)) {
				t.Fatalf("%s(%g) = %#04x: sign lost", c.name, f, h)
			}
			mag := h & 0x7fff
			if mag > c.maxFin {
				// Inf: x must be at least halfway past the largest finite value.
				top := c.ref(c.maxFin)
				ulp := top - c.ref(c.maxFin-1)
				if x < top+ulp/2 {
					t.Fatalf("%s(%g) = Inf, but %g is nearer", c.name, f, top)
				}
				continue
			}
			got := c.ref(mag)
			d := math.Abs(x - got)
			for _, nb := range []uint16{mag - 1, mag + 1} {
				if nb > c.maxFin || (mag == 0 && nb == 0xffff) {
					continue
				}
				dn := math.Abs(x - c.ref(nb))
				if dn < d || (dn == d && mag&1 == 1) {
					t.Fatalf("%s(%g) = %#04x (%g), but %#04x (%g) is nearer or even", c.name, f, mag, got, nb, c.ref(nb))
				}
			}
		}
	}
}

func TestBulkLittleEndian(t *testing.T) {
	vals := []float32{1, -2, 0.5}
	tests := []struct {
		name string
		size int
		enc  func([]byte, []float32)
		dec  func([]float32, []byte)
		want []byte
	}{
		{"F32", 4, EncodeF32, DecodeF32, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f}},
		{"BF16", 2, EncodeBF16, DecodeBF16, []byte{0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f}},
		{"F16", 2, EncodeF16, DecodeF16, []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38}},
	}
	for _, tt := range tests {
		buf := make([]byte, tt.size*len(vals))
		tt.enc(buf, vals)
		if !bytes.Equal(buf, tt.want) {
			t.Errorf("Encode%s(%v) = % x, want % x", tt.name, vals, buf, tt.want)
		}
		got := make([]float32, len(vals))
		tt.dec(got, tt.want)
		for i := range vals {
			if got[i] != vals[i] {
				t.Errorf("Decode%s(% x)[%d] = %v, want %v", tt.name, tt.want, i, got[i], vals[i])
			}
		}
	}
}

func TestBulkMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 1000)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	b16 := make([]byte, 2*len(src))
	out := make([]float32, len(src))
	EncodeBF16(b16, src)
	DecodeBF16(out, b16)
	for i, v := range src {
		if out[i] != BF16ToF32(F32ToBF16(v)) {
			t.Fatalf("BF16 bulk [%d]: %v, scalar %v", i, out[i], BF16ToF32(F32ToBF16(v)))
		}
	}
	EncodeF16(b16, src)
	DecodeF16(out, b16)
	for i, v := range src {
		if out[i] != F16ToF32(F32ToF16(v)) {
			t.Fatalf("F16 bulk [%d]: %v, scalar %v", i, out[i], F16ToF32(F32ToF16(v)))
		}
	}
	b32 := make([]byte, 4*len(src))
	EncodeF32(b32, src)
	DecodeF32(out, b32)
	for i, v := range src {
		if out[i] != v {
			t.Fatalf("F32 bulk [%d]: %v, want %v", i, out[i], v)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want DType
		err  bool
	}{
		{"F32", F32, false}, {"f32", F32, false}, {"float32", F32, false},
		{"BF16", BF16, false}, {" bf16 ", BF16, false}, {"bfloat16", BF16, false},
		{"F16", F16, false}, {"Float16", F16, false},
		{"", 0, true}, {"F64", 0, true}, {"int8", 0, true},
	} {
		got, err := Parse(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
		if !c.err {
			b, _ := got.MarshalText()
			var back DType
			if err := back.UnmarshalText(b); err != nil || back != got {
				t.Errorf("%v: text round trip gave %v, %v", got, back, err)
			}
		}
	}
	for d, want := range map[DType][2]string{F32: {"F32", "float32"}, BF16: {"BF16", "bfloat16"}, F16: {"F16", "float16"}} {
		if d.String() != want[0] || d.TorchName() != want[1] {
			t.Errorf("%d: names %s %s, want %v", int(d), d.String(), d.TorchName(), want)
		}
	}
}
