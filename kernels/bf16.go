package kernels

import (
	"fmt"

	"github.com/smaug-dev/smaug/dtype"
)

// SgemmBF16 computes C = bf16(op(A))·op(B) + beta·C, the bfloat16 matrix
// product of torch autocast: A is float32 (activations, gradients), rounded
// to bfloat16 (nearest even) as it is packed; B holds bfloat16 bits (frozen
// weights as safetensors BF16 stores them: the upper halves of float32
// patterns); every product of two bfloat16 values is exact in float32 and
// the sums are float32. op(A) is m×k (transA: A is stored k×m) and op(B)
// k×n (transB: B is stored n×k, a Linear layer's x·Wᵀ); lda, ldb and ldc
// are row strides; beta as in Sgemm.
//
// On CPUs with AVX512-BF16 the product runs on a VDPBF16PS micro-kernel
// (bfloat16 pairs, half the bytes of B moved per FMA). Elsewhere B is
// widened to float32 and A rounded as each panel is packed, and the float32
// micro-kernel computes the same products (summed in another order); no
// float32 copy of B is made. Like Sgemm it spreads over Threads() workers
// and must not be called from inside Parallel workers. It panics on the
// programming errors Sgemm panics on.
func SgemmBF16(transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	checkBF16Args(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		Parallel(m, func(lo, hi int) { scaleRows(beta, c, ldc, lo, hi, 0, n) })
		return
	}
	if bf16Micro.fn != nil {
		gemmBF16(bf16Micro, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmWidenBF16(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// gemmWidenBF16 is SgemmBF16 on the float32 micro-kernel: each kc×nc panel
// of B is widened into a packed float32 panel and each block of A rounded
// to bfloat16 values as it is packed. Work items are row blocks of C, or,
// when C has fewer row blocks than workers, row blocks × column groups.
func gemmWidenBF16(transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := micro.mr, micro.nr
	workers := Threads()
	// Row blocks of at most mcBlock rows, as many as a multiple of the
	// workers so that none idles on the last one.
	mc := roundUp(ceilDiv(m, roundUp(ceilDiv(m, mcBlock), workers)), mr)
	blocks := ceilDiv(m, mc)
	groups := 1
	if blocks < workers {
		groups = ceilDiv(workers, blocks)
	}
	Parallel(blocks, func(lo, hi int) { scaleRows(beta, c, ldc, lo*mc, min(hi*mc, m), 0, n) })
	bufB := getBuf(kcBlock * roundUp(min(n, ncBlock), nr))
	defer putBuf(bufB)
	bp := *bufB
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		slivers := ceilDiv(nc, nr)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			Parallel(slivers, func(lo, hi int) {
				for s := lo; s < hi; s++ {
					packBWiden(bp[s*kc*nr:(s+1)*kc*nr], nr, b, ldb, transB, pc, kc, jc+s*nr, min(nr, nc-s*nr))
				}
			})
			Parallel(blocks*groups, func(lo, hi int) {
				buf := getBuf(mc*kc + mr*nr)
				defer putBuf(buf)
				ap, edge := (*buf)[:mc*kc], (*buf)[mc*kc:]
				packed := -1
				for it := lo; it < hi; it++ {
					blk, g := it/groups, it%groups
					s0, s1 := g*slivers/groups, (g+1)*slivers/groups
					if s0 == s1 {
						continue
					}
					i0 := blk * mc
					rows := min(mc, m-i0)
					if packed != blk {
						packARoundBF16(ap, mr, a, lda, transA, i0, rows, pc, kc)
						packed = blk
					}
					for s := s0; s < s1; s++ {
						bs := bp[s*kc*nr : (s+1)*kc*nr]
						cols := min(nr, nc-s*nr)
						for ir := 0; ir < rows; ir += mr {
							as := ap[ir*kc : (ir+mr)*kc]
							off := (i0+ir)*ldc + jc + s*nr
							if h := min(mr, rows-ir); h < mr || cols < nr {
								clear(edge)
								micro.fn(kc, as, bs, edge, nr)
								for i := range h {
									row := c[off+i*ldc : off+i*ldc+cols]
									for j, v := range edge[i*nr : i*nr+cols] {
										row[j] += v
									}
								}
								continue
							}
							micro.fn(kc, as, bs, c[off:], ldc)
						}
					}
				}
			})
		}
	}
}

// packARoundBF16 copies op(A)[i0:i0+rows, p0:p0+kc], rounded to bfloat16
// values, into ap as mr-tall slivers stored k-major (mr values per k), zero
// below the last row.
func packARoundBF16(ap []float32, mr int, a []float32, lda int, transA bool, i0, rows, p0, kc int) {
	if transA {
		// Each stored row of A (one k) is read once, whole, across the
		// slivers: reading mr values per row per sliver would walk the
		// rows kc times over.
		if rows%mr != 0 {
			clear(ap[(rows/mr)*mr*kc : ceilDiv(rows, mr)*mr*kc])
		}
		for p := range kc {
			src := a[(p0+p)*lda+i0:][:rows]
			for ir := 0; ir < rows; ir += mr {
				d := ap[ir*kc+p*mr:][:min(mr, rows-ir)]
				for i := range d {
					d[i] = roundBF16(src[ir+i])
				}
			}
		}
		return
	}
	for ir := 0; ir < rows; ir += mr {
		dst := ap[ir*kc : (ir+mr)*kc]
		h := min(mr, rows-ir)
		for i := range h {
			for p, v := range a[(i0+ir+i)*lda+p0:][:kc] {
				dst[p*mr+i] = roundBF16(v)
			}
		}
		for i := h; i < mr; i++ {
			for p := range kc {
				dst[p*mr+i] = 0
			}
		}
	}
}

// packBWiden widens op(B)[p0:p0+kc, j0:j0+cols] into the float32 sliver bs,
// stored k-major with nr values per k, zero right of cols.
func packBWiden(bs []float32, nr int, b []uint16, ldb int, transB bool, p0, kc, j0, cols int) {
	if !transB {
		for p := range kc {
			d := bs[p*nr : p*nr+nr]
			for j, h := range b[(p0+p)*ldb+j0:][:cols] {
				d[j] = dtype.BF16ToF32(h)
			}
			clear(d[cols:])
		}
		return
	}
	if cols < nr {
		clear(bs[:kc*nr])
	}
	for j := range cols {
		for p, h := range b[(j0+j)*ldb+p0:][:kc] {
			bs[p*nr+j] = dtype.BF16ToF32(h)
		}
	}
}

// roundBF16 returns v rounded to the nearest bfloat16 value, as float32.
func roundBF16(v float32) float32 { return dtype.BF16ToF32(dtype.F32ToBF16(v)) }

// checkBF16Args panics with a message naming the argument at fault.
func checkBF16Args(transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, c []float32, ldc int) {
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
	if transA {
		checkMatrix(fn, "a", a, k, m, lda, "lda")
	} else {
		checkMatrix(fn, "a", a, m, k, lda, "lda")
	}
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
func gemmBF16(kern bf16Kernel, transA, transB bool, m, n, k int, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
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
					packABF16(ap, mr, a, lda, transA, k, i0, rows, 2*pc, kp)
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

// packABF16 rounds op(A)[i0:i0+rows, p0:p0+2kp] to bfloat16 pairs in
// mr-tall slivers, zero beyond k and below the last row.
func packABF16(ap []uint32, mr int, a []float32, lda int, transA bool, k, i0, rows, p0, kp int) {
	at := func(i, p int) uint16 {
		if transA {
			return dtype.F32ToBF16(a[p*lda+i])
		}
		return dtype.F32ToBF16(a[i*lda+p])
	}
	for ir := 0; ir < rows; ir += mr {
		dst := ap[ir*kp : (ir+mr)*kp]
		h := min(mr, rows-ir)
		for i := range mr {
			for q := range kp {
				var lo, hi uint16
				if i < h {
					if p := p0 + 2*q; p < k {
						lo = at(i0+ir+i, p)
					}
					if p := p0 + 2*q + 1; p < k {
						hi = at(i0+ir+i, p)
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

// BF16Backend names the path SgemmBF16 takes on this CPU: the VDPBF16PS
// micro-kernel (native bfloat16 dot products), or the float32 micro-kernel
// on operands widened as they are packed (no native bfloat16 arithmetic).
func BF16Backend() string {
	if bf16Micro.fn != nil {
		return fmt.Sprintf("%s %dx%d", bf16Micro.name, bf16Micro.mr, bf16Micro.nr)
	}
	return fmt.Sprintf("widened to float32 on %s %dx%d", micro.name, micro.mr, micro.nr)
}
