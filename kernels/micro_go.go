package kernels

// goKernel is the portable micro-kernel: 4×4 tiles in plain Go.
var goKernel = microKernel{name: "go", mr: 4, nr: 4, fn: kernel4x4, peak: fmaPeakGo, peakFlops: 32}

// kernel4x4 adds the product of the packed 4×kc sliver a and the packed
// kc×4 sliver b to the 4×4 block of c with row stride ldc. The sixteen
// accumulators are locals so the compiler can keep them in registers.
func kernel4x4(kc int, a, b, c []float32, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	a, b = a[:4*kc], b[:4*kc]
	for p := range kc {
		av := (*[4]float32)(a[4*p:])
		bv := (*[4]float32)(b[4*p:])
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0 := av[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := av[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := av[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := av[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	r := (*[4]float32)(c[0:])
	r[0], r[1], r[2], r[3] = r[0]+c00, r[1]+c01, r[2]+c02, r[3]+c03
	r = (*[4]float32)(c[ldc:])
	r[0], r[1], r[2], r[3] = r[0]+c10, r[1]+c11, r[2]+c12, r[3]+c13
	r = (*[4]float32)(c[2*ldc:])
	r[0], r[1], r[2], r[3] = r[0]+c20, r[1]+c21, r[2]+c22, r[3]+c23
	r = (*[4]float32)(c[3*ldc:])
	r[0], r[1], r[2], r[3] = r[0]+c30, r[1]+c31, r[2]+c32, r[3]+c33
}
