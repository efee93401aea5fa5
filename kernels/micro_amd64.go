package kernels

import "golang.org/x/sys/cpu"

// avx2Kernel is the 6×16 AVX2/FMA assembly micro-kernel.
var avx2Kernel = microKernel{name: "avx2-fma", mr: 6, nr: 16, fn: kernel6x16, peak: fmaPeakAVX2, peakFlops: 192}

// avx512Kernel is the 12×32 AVX-512F assembly micro-kernel: 24 of the 32
// zmm registers accumulate, two hold B and two broadcast A.
var avx512Kernel = microKernel{name: "avx512", mr: 12, nr: 32, fn: kernel12x32, peak: fmaPeakAVX512, peakFlops: 768}

// available lists the micro-kernels this CPU and OS can run, fastest first.
func available() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, goKernel)
}

// unavailable names the micro-kernels of this architecture that this CPU
// lacks, with the feature missing, for test skip messages.
func unavailable() map[string]string {
	m := map[string]string{}
	if !cpu.X86.HasAVX512F {
		m[avx512Kernel.name] = "AVX-512F (or its OS support)"
	}
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		m[avx2Kernel.name] = "AVX2 and FMA"
	}
	return m
}

// kernel6x16 checks the slice bounds and runs the assembly kernel.
func kernel6x16(kc int, a, b, c []float32, ldc int) {
	_ = a[6*kc-1]
	_ = b[16*kc-1]
	_ = c[5*ldc+15]
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc)
}

// kernel12x32 checks the slice bounds and runs the assembly kernel.
func kernel12x32(kc int, a, b, c []float32, ldc int) {
	_ = a[12*kc-1]
	_ = b[32*kc-1]
	_ = c[11*ldc+31]
	kernel12x32AVX512(kc, &a[0], &b[0], &c[0], ldc)
}

// kernel6x16AVX2 adds the product of the packed 6×kc sliver at a and the
// packed kc×16 sliver at b to the 6×16 block at c (row stride ldc); kc > 0.
//
//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int)

// kernel12x32AVX512 adds the product of the packed 12×kc sliver at a and
// the packed kc×32 sliver at b to the 12×32 block at c; kc > 0.
//
//go:noescape
func kernel12x32AVX512(kc int, a, b, c *float32, ldc int)

// fmaPeakAVX2 runs n iterations of twelve independent 8-wide FMAs.
//
//go:noescape
func fmaPeakAVX2(n int)

// fmaPeakAVX512 runs n iterations of twenty-four independent 16-wide FMAs.
//
//go:noescape
func fmaPeakAVX512(n int)

// avx512BF16Kernel is the 12×32 VDPBF16PS micro-kernel of SgemmBF16.
var avx512BF16Kernel = bf16Kernel{name: "avx512-bf16", mr: 12, nr: 32, fn: kernel12x32BF16Checked}

// bf16Micro is SgemmBF16's micro-kernel: the VDPBF16PS one where the CPU
// has AVX512-BF16, else none (SgemmBF16 widens to float32).
var bf16Micro = func() bf16Kernel {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		return avx512BF16Kernel
	}
	return bf16Kernel{}
}()

// kernel12x32BF16Checked checks the slice bounds and runs the assembly
// kernel.
func kernel12x32BF16Checked(kp int, a, b []uint32, c []float32, ldc int) {
	_ = a[12*kp-1]
	_ = b[32*kp-1]
	_ = c[11*ldc+31]
	kernel12x32BF16(kp, &a[0], &b[0], &c[0], ldc)
}

// kernel12x32BF16 adds the product of the packed 12×2kp bfloat16 sliver at
// a and the packed 2kp×32 sliver at b to the 12×32 block at c; kp > 0.
//
//go:noescape
func kernel12x32BF16(kp int, a, b *uint32, c *float32, ldc int)
