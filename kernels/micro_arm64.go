package kernels

// neonKernel is the 8×12 NEON (Advanced SIMD) assembly micro-kernel, which
// every arm64 CPU has: 24 of the 32 vector registers accumulate, three hold
// B and two hold the eight A values used by element.
var neonKernel = microKernel{name: "neon", mr: 8, nr: 12, fn: kernel8x12, peak: fmaPeakNEON, peakFlops: 192}

// available lists the micro-kernels this CPU can run, fastest first.
func available() []microKernel { return []microKernel{neonKernel, goKernel} }

// unavailable names no kernel: every arm64 CPU has NEON.
func unavailable() map[string]string { return nil }

// kernel8x12 checks the slice bounds and runs the assembly kernel.
func kernel8x12(kc int, a, b, c []float32, ldc int) {
	_ = a[8*kc-1]
	_ = b[12*kc-1]
	_ = c[7*ldc+11]
	kernel8x12NEON(kc, &a[0], &b[0], &c[0], ldc)
}

// kernel8x12NEON adds the product of the packed 8×kc sliver at a and the
// packed kc×12 sliver at b to the 8×12 block at c (row stride ldc); kc > 0.
//
//go:noescape
func kernel8x12NEON(kc int, a, b, c *float32, ldc int)

// fmaPeakNEON runs n iterations of twenty-four independent 4-wide FMLAs.
//
//go:noescape
func fmaPeakNEON(n int)

// bf16Micro is SgemmBF16's micro-kernel: none on this architecture
// (SgemmBF16 widens to float32).
var bf16Micro bf16Kernel
