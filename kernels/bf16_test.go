package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/dtype"
	"golang.org/x/sys/cpu"
)

// bf16Model is the Go model of the VDPBF16PS micro-kernel: per k pair,
// acc += a.hi·b.hi then acc += a.lo·b.lo, as Intel defines the instruction.
// Products of two bfloat16 values are exact in float32, so each step rounds
// once, as the hardware does (denormals, which it flushes, do not occur in
// the tests).
func bf16Model(mr, nr int) bf16Kernel {
	return bf16Kernel{name: fmt.Sprintf("model-bf16-%dx%d", mr, nr), mr: mr, nr: nr, fn: func(kp int, a, b []uint32, c []float32, ldc int) {
		acc := make([]float32, mr*nr)
		for q := range kp {
			for i := range mr {
				alo, ahi := bf16Pair(a[q*mr+i])
				for j := range nr {
					blo, bhi := bf16Pair(b[q*nr+j])
					v := acc[i*nr+j] + float32(ahi*bhi)
					acc[i*nr+j] = v + float32(alo*blo)
				}
			}
		}
		for i := range mr {
			for j := range nr {
				c[i*ldc+j] += acc[i*nr+j]
			}
		}
	}}
}

// bf16Pair returns the low and high bfloat16 values of a packed pair.
func bf16Pair(x uint32) (lo, hi float32) {
	return math.Float32frombits(x << 16), math.Float32frombits(x &^ 0xffff)
}

// bf16Matrix returns rows×cols random bfloat16 values in [-1, 1) with row
// stride ld (gaps hold NaN bits, 0x7FC0).
func bf16Matrix(rng *rand.Rand, rows, cols, ld int) []uint16 {
	x := make([]uint16, max(rows*ld, 1))
	for i := range x {
		x[i] = 0x7fc0
	}
	for i := range rows {
		for j := range cols {
			x[i*ld+j] = dtype.F32ToBF16(2*rng.Float32() - 1)
		}
	}
	return x
}

// TestSgemmBF16 checks SgemmBF16 (on this CPU's path), the widening driver
// on the float32 micro-kernel (always), the VDPBF16PS driver with the Go
// model of its kernel (always) and with the assembly kernel (where the CPU
// has AVX512-BF16) on odd sizes, both layouts of A and of B, padded strides
// and three betas, against two float64 references: with A rounded to
// bfloat16 (what is computed: every product exact, so only float32
// summation differs — within 1e-5 of Σ|a·b|, about 170 float32 ulps of the
// scale, far above the √k·2⁻²⁴ typical of k ≤ 300) and with A unrounded
// (within the bfloat16 rounding bound: 2⁻⁸ of Σ|a·b| more).
func TestSgemmBF16(t *testing.T) {
	type gemmFn = func(transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int)
	type path struct {
		name string
		run  gemmFn
		skip string
	}
	viaKernel := func(kern bf16Kernel) gemmFn {
		return func(transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
			gemmBF16(kern, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
		}
	}
	paths := []path{
		{name: "SgemmBF16", run: SgemmBF16},
		{name: "widen-" + micro.name, run: gemmWidenBF16},
		{name: "model-bf16", run: viaKernel(bf16Model(12, 32))},
		{name: "avx512-bf16", run: viaKernel(avx512BF16KernelOrZero())},
	}
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16) {
		paths[3].skip = "this CPU lacks AVX512-BF16; its Go model runs instead"
	}
	sizes := []int{1, 3, 17, 65, 130}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			if p.skip != "" {
				t.Skip(p.skip)
			}
			rng := rand.New(rand.NewPCG(21, 22))
			count := 0
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, m := range sizes {
						for _, n := range sizes {
							for _, k := range []int{1, 2, 17, 65, 300} {
								beta := []float32{0, 1, -0.5}[count%3]
								pad := count % 3
								count++
								checkBF16(t, p.run, tA, tB, m, n, k, beta, pad, rng)
							}
						}
					}
					checkBF16(t, p.run, tA, tB, 3, 4100, 5, 1, 1, rng)   // two nc panels
					checkBF16(t, p.run, tA, tB, 300, 40, 600, 0, 2, rng) // several row blocks and k panels
				}
			}
		})
	}
}

// avx512BF16KernelOrZero returns the assembly kernel on amd64 (it is only
// called where the CPU has it).
func avx512BF16KernelOrZero() bf16Kernel { return bf16Micro }

// checkBF16 runs one product and compares it with both references.
func checkBF16(t *testing.T, run func(bool, bool, int, int, int, []float32, int, []uint16, int, float32, []float32, int), transA, transB bool, m, n, k int, beta float32, pad int, rng *rand.Rand) {
	t.Helper()
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+pad, bc+pad, n+pad
	a := matrix(rng, ar, ac, lda)
	b := bf16Matrix(rng, br, bc, ldb)
	c := matrix(rng, m, n, ldc)
	bw := make([]float32, len(b))
	for i, h := range b {
		bw[i] = dtype.BF16ToF32(h)
	}
	aRounded := make([]float32, len(a))
	for i, v := range a {
		aRounded[i] = roundBF16(v)
	}
	want, scale := naiveGemm(transA, transB, m, n, k, 1, aRounded, lda, bw, ldb, beta, c, ldc)
	exact, _ := naiveGemm(transA, transB, m, n, k, 1, a, lda, bw, ldb, beta, c, ldc)
	run(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
	bad := 0
	for i := range m {
		for j := range ldc {
			got := float64(c[i*ldc+j])
			if j >= n {
				if !math.IsNaN(got) {
					t.Fatalf("tA=%v tB=%v m=%d n=%d k=%d: gap C[%d][%d] written", transA, transB, m, n, k, i, j)
				}
				continue
			}
			w, e, s := want[i*n+j], exact[i*n+j], scale[i*n+j]
			if d := math.Abs(got - w); !(d <= 1e-5*s+1e-30) && bad < 5 {
				t.Errorf("tA=%v tB=%v m=%d n=%d k=%d beta=%g: C[%d][%d] = %g, want %g (rounded A)", transA, transB, m, n, k, beta, i, j, got, w)
				bad++
			}
			if d := math.Abs(got - e); !(d <= (1.0/256+1e-5)*s+1e-30) && bad < 5 {
				t.Errorf("tA=%v tB=%v m=%d n=%d k=%d: C[%d][%d] = %g, unrounded %g: beyond the bfloat16 bound", transA, transB, m, n, k, i, j, got, e)
				bad++
			}
		}
	}
}

// TestBF16KernelMatchesModel runs the VDPBF16PS kernel and its model on the
// same packed slivers; both round once per step in the same order, so they
// must agree exactly.
func TestBF16KernelMatchesModel(t *testing.T) {
	if bf16Micro.fn == nil {
		t.Skip("this CPU lacks AVX512-BF16 (or is not amd64); the model is tested through TestSgemmBF16")
	}
	model := bf16Model(bf16Micro.mr, bf16Micro.nr)
	rng := rand.New(rand.NewPCG(23, 24))
	for _, kp := range []int{1, 5, 128} {
		a := make([]uint32, bf16Micro.mr*kp)
		b := make([]uint32, bf16Micro.nr*kp)
		for i := range a {
			a[i] = uint32(dtype.F32ToBF16(2*rng.Float32()-1)) | uint32(dtype.F32ToBF16(2*rng.Float32()-1))<<16
		}
		for i := range b {
			b[i] = uint32(dtype.F32ToBF16(2*rng.Float32()-1)) | uint32(dtype.F32ToBF16(2*rng.Float32()-1))<<16
		}
		ldc := bf16Micro.nr + 1
		c := matrix(rng, bf16Micro.mr, bf16Micro.nr, ldc)
		want := append([]float32(nil), c...)
		bf16Micro.fn(kp, a, b, c, ldc)
		model.fn(kp, a, b, want, ldc)
		for i := range bf16Micro.mr * ldc {
			if i%ldc < bf16Micro.nr && c[i] != want[i] {
				t.Fatalf("kp=%d: C[%d][%d] = %g, model %g", kp, i/ldc, i%ldc, c[i], want[i])
			}
		}
	}
}

// TestBF16Encoding assembles every VDPBF16PS that bf16_amd64.s spells out
// as BYTEs with the GNU assembler and compares the bytes (skipped where no
// GNU assembler for x86-64 is installed).
func TestBF16Encoding(t *testing.T) {
	as, err := exec.LookPath("as")
	if err != nil {
		t.Skip("no GNU assembler (as) to check the encodings against")
	}
	src, err := os.ReadFile("bf16_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`// VDPBF16PS Z(\d+), Z(\d+), Z(\d+)\n\s*((?:BYTE \$0x[0-9A-F]{2};? ?)+)`)
	var intel []string
	var want []byte
	for _, mm := range re.FindAllStringSubmatch(string(src), -1) {
		// Go order (src2, src1, dst); Intel order is dst, src1, src2.
		intel = append(intel, fmt.Sprintf("vdpbf16ps zmm%s, zmm%s, zmm%s", mm[3], mm[2], mm[1]))
		for _, f := range strings.Fields(strings.ReplaceAll(mm[4], ";", " ")) {
			if v, ok := strings.CutPrefix(f, "$0x"); ok {
				x, err := strconv.ParseUint(v, 16, 8)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, byte(x))
			}
		}
	}
	if len(intel) != 24 {
		t.Fatalf("found %d encoded VDPBF16PS, want 24", len(intel))
	}
	dir := t.TempDir()
	s := filepath.Join(dir, "x.s")
	if err := os.WriteFile(s, []byte(".intel_syntax noprefix\n"+strings.Join(intel, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "x.o")
	if out, err := exec.Command(as, "--64", "-o", obj, s).CombinedOutput(); err != nil {
		t.Skipf("%s cannot assemble AVX512-BF16 here: %v %s", as, err, out)
	}
	bin := filepath.Join(dir, "x.bin")
	if out, err := exec.Command("objcopy", "-O", "binary", "-j", ".text", obj, bin).CombinedOutput(); err != nil {
		t.Skipf("objcopy: %v %s", err, out)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("encodings differ from GNU as:\n got % x\nwant % x", want, got)
	}
}

// BenchmarkSgemmBF16 reports GFLOP/s of the three products of a Linear
// layer on LLM shapes (2048 tokens, 576 hidden, 1536 MLP): Sgemm on
// float32 weights against SgemmBF16 on the same weights in bfloat16 (this
// CPU's bfloat16 path), for the forward x·Wᵀ, the input gradient dY·W and
// the weight gradient dYᵀ·X.
func BenchmarkSgemmBF16(b *testing.B) {
	const tok, hid, mlp = 2048, 576, 1536
	rng := rand.New(rand.NewPCG(7, 8))
	w := matrix(rng, mlp, hid, hid)
	wb := make([]uint16, len(w))
	for i, v := range w {
		wb[i] = dtype.F32ToBF16(v)
	}
	x, dy := matrix(rng, tok, hid, hid), matrix(rng, tok, mlp, mlp)
	xb := make([]uint16, len(x))
	for i, v := range x {
		xb[i] = dtype.F32ToBF16(v)
	}
	y, dx, dw := make([]float32, tok*mlp), make([]float32, tok*hid), make([]float32, mlp*hid)
	Sgemm(false, false, 8, 8, 8, 1, x, 8, w, 8, 0, y, 8) // the first product calibrates (see calibrate.go): not timed
	for _, p := range []struct {
		name string
		f32  func()
		bf16 func()
	}{
		{"forward", func() { Sgemm(false, true, tok, mlp, hid, 1, x, hid, w, hid, 0, y, mlp) },
			func() { SgemmBF16(false, true, tok, mlp, hid, x, hid, wb, hid, 0, y, mlp) }},
		{"dX", func() { Sgemm(false, false, tok, hid, mlp, 1, dy, mlp, w, hid, 0, dx, hid) },
			func() { SgemmBF16(false, false, tok, hid, mlp, dy, mlp, wb, hid, 0, dx, hid) }},
		{"dW", func() { Sgemm(true, false, mlp, hid, tok, 1, dy, mlp, x, hid, 0, dw, hid) },
			func() { SgemmBF16(true, false, mlp, hid, tok, dy, mlp, xb, hid, 0, dw, hid) }},
	} {
		for _, dt := range []string{"f32", "bf16"} {
			b.Run(p.name+"/"+dt, func(b *testing.B) {
				f := p.f32
				if dt == "bf16" {
					f = p.bf16
				}
				for b.Loop() {
					f()
				}
				b.ReportMetric(2*float64(tok)*float64(hid)*float64(mlp)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
