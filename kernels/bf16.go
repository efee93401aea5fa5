package kernels

import (
	"fmt"

	"github.com/smaug-dev/smaug/dtype"
)

// SgemmBF16 computes C = bf16(A)·op(B) + beta·C, the bfloat16 matrix
// product of torch autocast: A is float32 (activations), rounded to
// bfloat16 (nearest even) as it is packed; B holds bfloat16 bits (frozen
// weights as safetensors BF16 stores them: the upper halves of float32
// patterns); every product of two bfloat16 values is exact in float32 and
// the sums are float32. op(A) is m×k row-major with stride lda; transB means
// B is stored n×k (a Linear layer's x·Wᵀ), else k×n; beta as in Sgemm.
//
// On CPUs with AVX512-BF16 the product runs on a VDPBF16PS micro-kernel
// (bfloat16 pairs, half the bytes of B moved per FMA); elsewhere B and A
// are widened (A after rounding) and the float32 path computes the same
// products, summed in another order. Like Sgemm it spreads over Threads()
// workers and must not be called from inside Parallel workers. It panics on
// the programming errors Sgemm panics on.
func SgemmBF16(transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	checkBF16Args(transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		Parallel(m, func(lo, hi int) { scaleRows(beta, c, ldc, lo, hi, 0, n) })
		return
	}
	if bf16Micro.fn != nil {
		gemmBF16(bf16Micro, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Widen: A rounded to bfloat16 values, B as float32, both row-major.
	aw := make([]float32, m*k)
	Parallel(m, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for p, v := range a[i*lda : i*lda+k] {
				aw[i*k+p] = roundBF16(v)
			}
		}
	})
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	bw := make([]float32, br*bc)
	Parallel(br, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for j, h := range b[i*ldb : i*ldb+bc] {
				bw[i*bc+j] = dtype.BF16ToF32(h)
			}
		}
	})
	gemm(true, false, transB, m, n, k, 1, aw, k, bw, bc, beta, c, ldc)
}

// roundBF16 returns v rounded to the nearest bfloat16 value, as float32.
func roundBF16(v float32) float32 { return dtype.BF16ToF32(dtype.F32ToBF16(v)) }

// checkBF16Args panics with a message naming the argument at fault.
func checkBF16Args(transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, c []float32, ldc int) {
	const fn = "SgemmBF16"
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative dimension m=%d n=%d k=%d", fn, m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMatrix(fn, "c", c, m, n, ldc, "ldc")
	if k == 0 {
		return
	}
	checkMatrix(fn, "a", a, m, k, lda, "lda")
	rows, cols := k, n
	if transB {
		rows, cols = n, k
	}
	if ldb < cols {
		panic(fmt.Sprintf("kernels: SgemmBF16: ldb=%d is smaller than the %d columns of b (stored %d×%d)", ldb, cols, rows, cols))
	}
	if need := (rows-1)*ldb + cols; len(b) < need {
		panic(fmt.Sprintf("kernels: SgemmBF16: len(b)=%d, need %d for a %d×%d matrix with ldb=%d", len(b), need, rows, cols, ldb))
	}
}

// bf16Kernel is a bfloat16 micro-kernel: fn adds the product of a packed
// mr×2kp sliver of A and a packed 2kp×nr sliver of B to the mr×nr block of
// C at c (row stride ldc). Both slivers hold pairs of bfloat16 values of
// consecutive k in one uint32 (the lower k in the low half): A stores the
// mr pairs of each k pair side by side, B the nr pairs.
type bf16Kernel struct {
	name   string
	mr, nr int
	fn     func(kp int, a, b []uint32, c []float32, ldc int)
}

// bf16KPairs is the number of k pairs per packed panel (k = 256, as for
// float32): a 32-wide B sliver of pairs is 16 KiB and stays in L1.
const bf16KPairs = 128

// gemmBF16 is SgemmBF16 on the micro-kernel kern, over Threads() workers.
func gemmBF16(kern bf16Kernel, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	kpTotal := ceilDiv(k, 2)
	mc := roundUp(min(mcBlock, ceilDiv(m, max(1, Threads()))), mr)
	blocks := ceilDiv(m, mc)
	Parallel(blocks, func(lo, hi int) { scaleRows(beta, c, ldc, lo*mc, min(hi*mc, m), 0, n) })
	nc := min(n, ncBlock)
	bp := make([]uint32, bf16KPairs*roundUp(nc, nr))
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		slivers := ceilDiv(nc, nr)
		for pc := 0; pc < kpTotal; pc += bf16KPairs {
			kp := min(bf16KPairs, kpTotal-pc)
			Parallel(slivers, func(lo, hi int) {
				for s := lo; s < hi; s++ {
					packBBF16(bp[s*kp*nr:(s+1)*kp*nr], nr, b, ldb, transB, k, 2*pc, kp, jc+s*nr, min(nr, nc-s*nr))
				}
			})
			Parallel(blocks, func(lo, hi int) {
				ap := make([]uint32, mc*kp)
				edge := make([]float32, mr*nr)
				for blk := lo; blk < hi; blk++ {
					i0 := blk * mc
					rows := min(mc, m-i0)
					packABF16(ap, mr, a, lda, k, i0, rows, 2*pc, kp)
					for s := range slivers {
						bs := bp[s*kp*nr : (s+1)*kp*nr]
						cols := min(nr, nc-s*nr)
						for ir := 0; ir < rows; ir += mr {
							as := ap[ir*kp : (ir+mr)*kp]
							off := (i0+ir)*ldc + jc + s*nr
							if h := min(mr, rows-ir); h < mr || cols < nr {
								clear(edge)
								kern.fn(kp, as, bs, edge, nr)
								for i := range h {
									row := c[off+i*ldc : off+i*ldc+cols]
									for j, v := range edge[i*nr : i*nr+cols] {
										row[j] += v
									}
								}
								continue
							}
							kern.fn(kp, as, bs, c[off:], ldc)
						}
					}
				}
			})
		}
	}
}

// packABF16 rounds A[i0:i0+rows, p0:p0+2kp] to bfloat16 pairs in mr-tall
// slivers, zero beyond k and below the last row.
func packABF16(ap []uint32, mr int, a []float32, lda, k, i0, rows, p0, kp int) {
	for ir := 0; ir < rows; ir += mr {
		dst := ap[ir*kp : (ir+mr)*kp]
		h := min(mr, rows-ir)
		for i := range mr {
			for q := range kp {
				var lo, hi uint16
				if i < h {
					row := a[(i0+ir+i)*lda:]
					if p := p0 + 2*q; p < k {
						lo = dtype.F32ToBF16(row[p])
					}
					if p := p0 + 2*q + 1; p < k {
						hi = dtype.F32ToBF16(row[p])
					}
				}
				dst[q*mr+i] = uint32(lo) | uint32(hi)<<16
			}
		}
	}
}

// packBBF16 packs op(B)[p0:p0+2kp, j0:j0+cols] into the sliver bs as pairs,
// zero beyond k and right of cols.
func packBBF16(bs []uint32, nr int, b []uint16, ldb int, transB bool, k, p0, kp, j0, cols int) {
	at := func(p, j int) uint32 {
		if p >= k || j >= cols {
			return 0
		}
		if transB {
			return uint32(b[(j0+j)*ldb+p])
		}
		return uint32(b[p*ldb+j0+j])
	}
	for q := range kp {
		for j := range nr {
			bs[q*nr+j] = at(p0+2*q, j) | at(p0+2*q+1, j)<<16
		}
	}
}
