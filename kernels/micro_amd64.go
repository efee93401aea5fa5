package kernels

import "golang.org/x/sys/cpu"

// avx2Kernel is the 6×16 AVX2/FMA assembly micro-kernel.
var avx2Kernel = microKernel{name: "avx2-fma", mr: 6, nr: 16, fn: kernel6x16}

// micro is the micro-kernel the pure-Go path uses on this CPU.
var micro = pickMicro()

// pickMicro returns the AVX2 kernel when the CPU and OS support AVX2 and
// FMA, else the portable Go kernel.
func pickMicro() microKernel {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return avx2Kernel
	}
	return goKernel
}

// kernel6x16 checks the slice bounds and runs the assembly kernel.
func kernel6x16(kc int, a, b, c []float32, ldc int) {
	_ = a[6*kc-1]
	_ = b[16*kc-1]
	_ = c[5*ldc+15]
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc)
}

// kernel6x16AVX2 adds the product of the packed 6×kc sliver at a and the
// packed kc×16 sliver at b to the 6×16 block at c (row stride ldc); kc > 0.
//
//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int)
