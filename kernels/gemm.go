package kernels

import (
	"math/bits"
	"sync"
)

// Blocking of the pure-Go path, in elements. A packed mc×kc block of A
// (144·256·4 B = 144 KiB) stays in L2 while one kc×nr sliver of B
// (256·16·4 B = 16 KiB) stays in L1; a kc×nc panel of B goes to L3.
const (
	kcBlock = 256
	mcBlock = 144 // a multiple of every micro-kernel's mr
	ncBlock = 4096

	// parallelMin is the m·n·k below which Sgemm stays on one goroutine:
	// such products take ~10 µs on one core, about what waking the other
	// workers and the two barriers per panel cost.
	parallelMin = 64 * 64 * 64
)

// microKernel is a register-blocked inner loop of the pure-Go path: fn adds
// the product of a packed mr×kc sliver of A and a packed kc×nr sliver of B
// to the mr×nr block of C at c with row stride ldc. peak runs n iterations
// of a register-only loop of the same instructions doing peakFlops each.
type microKernel struct {
	name      string
	mr, nr    int
	fn        func(kc int, a, b, c []float32, ldc int)
	peak      func(n int)
	peakFlops int
}

// maxTile bounds mr·nr over all micro-kernels (edge-tile scratch size).
const maxTile = 12 * 32

// gemm is the pure-Go Sgemm on validated arguments with m, n > 0. With par
// it spreads the work over Threads() goroutines, else it runs inline.
func gemm(par, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	workers := 1
	if par && m*n*max(k, 1) >= parallelMin {
		workers = Threads()
	}
	if k == 0 || alpha == 0 {
		if workers > 1 {
			Parallel(m, func(lo, hi int) { scaleRows(beta, c, ldc, lo, hi, 0, n) })
		} else {
			scaleRows(beta, c, ldc, 0, m, 0, n)
		}
		return
	}
	g := &gemmJob{transA: transA, transB: transB, m: m, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc}
	mr, nr := micro.mr, micro.nr

	// Split C into rowBlocks × colGroups work items: row blocks of at most
	// mcBlock rows, as many as a multiple of the workers when C is tall
	// enough, else one column group of B slivers per worker.
	g.rowBlocks, g.colGroups = ceilDiv(m, mcBlock), 1
	if workers > 1 {
		if m >= 4*mr*workers {
			g.rowBlocks = roundUp(g.rowBlocks, workers)
		} else {
			g.colGroups = workers
		}
	}
	g.mc = roundUp(ceilDiv(m, g.rowBlocks), mr)
	g.rowBlocks = ceilDiv(m, g.mc)
	items := g.rowBlocks * g.colGroups

	bufB := getBuf(kcBlock * roundUp(min(n, ncBlock), nr))
	defer putBuf(bufB)
	g.bp = *bufB
	for g.jc = 0; g.jc < n; g.jc += ncBlock {
		g.nc = min(ncBlock, n-g.jc)
		slivers := ceilDiv(g.nc, nr)
		for g.pc = 0; g.pc < k; g.pc += kcBlock {
			g.kc = min(kcBlock, k-g.pc)
			if workers > 1 {
				Parallel(slivers, g.pack)
				Parallel(items, g.compute)
			} else {
				g.pack(0, slivers)
				g.compute(0, items)
			}
		}
	}
}

// gemmJob holds one pure-Go product and the panel of B being worked on.
type gemmJob struct {
	transA, transB bool
	m              int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	mc                   int // rows per row block, a multiple of mr
	rowBlocks, colGroups int // work items are rowBlocks × colGroups

	bp     []float32 // packed panel op(B)[pc:pc+kc, jc:jc+nc]
	jc, nc int
	pc, kc int
}

// pack packs B slivers lo..hi-1 of the current panel into bp. A row-major
// B is read row by row across all the slivers (one sequential run per row
// of the panel, measured 3–12% faster end to end than sliver by sliver on
// AVX2: a sliver's rows lie a whole row of B apart, often on other pages).
func (g *gemmJob) pack(lo, hi int) {
	nr := micro.nr
	if !g.transB {
		for p := range g.kc {
			src := g.b[(g.pc+p)*g.ldb+g.jc:]
			for s := lo; s < hi; s++ {
				cols := min(nr, g.nc-s*nr)
				d := g.bp[s*g.kc*nr+p*nr:][:nr]
				copy(d, src[s*nr:s*nr+cols])
				clear(d[cols:])
			}
		}
		return
	}
	for s := lo; s < hi; s++ {
		packB(g.bp[s*g.kc*nr:(s+1)*g.kc*nr], g.b, g.ldb, g.transB, g.pc, g.kc, g.jc+s*nr, min(nr, g.nc-s*nr))
	}
}

// compute runs work items lo..hi-1 on the current panel: item it covers row
// block it/colGroups and column group it%colGroups of C. On the first panel
// of k it applies beta to that part of C first.
func (g *gemmJob) compute(lo, hi int) {
	nr := micro.nr
	slivers := ceilDiv(g.nc, nr)
	buf := getBuf(g.mc*g.kc + maxTile)
	defer putBuf(buf)
	ap, edge := (*buf)[:g.mc*g.kc], (*buf)[g.mc*g.kc:]
	packed := -1
	for it := lo; it < hi; it++ {
		r, cg := it/g.colGroups, it%g.colGroups
		s0, s1 := cg*slivers/g.colGroups, (cg+1)*slivers/g.colGroups
		if s0 == s1 {
			continue
		}
		i0 := r * g.mc
		rows := min(g.mc, g.m-i0)
		if g.pc == 0 {
			scaleRows(g.beta, g.c, g.ldc, i0, i0+rows, g.jc+s0*nr, g.jc+min(s1*nr, g.nc))
		}
		if packed != r {
			packA(ap, g.a, g.lda, g.transA, g.alpha, i0, rows, g.pc, g.kc)
			packed = r
		}
		macroKernel(g.kc, ap, rows, g.bp, s0, s1, g.nc, g.c, g.ldc, i0, g.jc, edge)
	}
}

// macroKernel adds the product of the packed rows×kc block ap and the packed
// B slivers s0..s1-1 (of a panel nc columns wide) to C at row i0, column j0.
// Partial tiles at the edges of C go through the scratch tile edge.
func macroKernel(kc int, ap []float32, rows int, bp []float32, s0, s1, nc int, c []float32, ldc, i0, j0 int, edge []float32) {
	mr, nr := micro.mr, micro.nr
	edge = edge[:mr*nr]
	for s := s0; s < s1; s++ {
		bs := bp[s*kc*nr : (s+1)*kc*nr]
		cols := min(nr, nc-s*nr)
		for ir := 0; ir < rows; ir += mr {
			as := ap[ir*kc : (ir+mr)*kc]
			off := (i0+ir)*ldc + j0 + s*nr
			if h := min(mr, rows-ir); h < mr || cols < nr {
				clear(edge)
				micro.fn(kc, as, bs, edge, nr)
				for i := range h {
					row := c[off+i*ldc : off+i*ldc+cols]
					e := edge[i*nr : i*nr+cols]
					for j, v := range e {
						row[j] += v
					}
				}
				continue
			}
			micro.fn(kc, as, bs, c[off:], ldc)
		}
	}
}

// packA copies alpha·op(A)[i0:i0+rows, p0:p0+kc] into ap as mr-tall slivers,
// each stored k-major (mr values per k), zero-padding the last sliver.
func packA(ap, a []float32, lda int, transA bool, alpha float32, i0, rows, p0, kc int) {
	mr := micro.mr
	for ir := 0; ir < rows; ir += mr {
		dst := ap[ir*kc : (ir+mr)*kc]
		h := min(mr, rows-ir)
		if transA {
			for p := range kc {
				src := a[(p0+p)*lda+i0+ir : (p0+p)*lda+i0+ir+h]
				d := dst[p*mr : p*mr+mr]
				for i, v := range src {
					d[i] = alpha * v
				}
				clear(d[h:])
			}
			continue
		}
		if mr == 6 && h == 6 {
			packA6(dst, a, lda, alpha, i0+ir, p0, kc)
			continue
		}
		for i := range h {
			src := a[(i0+ir+i)*lda+p0 : (i0+ir+i)*lda+p0+kc]
			for p, v := range src {
				dst[p*mr+i] = alpha * v
			}
		}
		for i := h; i < mr; i++ {
			for p := range kc {
				dst[p*mr+i] = 0
			}
		}
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+cols] into the sliver bs, stored
// k-major with nr values per k, zero-padding columns cols..nr-1.
func packB(bs, b []float32, ldb int, transB bool, p0, kc, j0, cols int) {
	nr := micro.nr
	if !transB {
		for p := range kc {
			d := bs[p*nr : p*nr+nr]
			copy(d, b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+cols])
			clear(d[cols:])
		}
		return
	}
	if nr%16 == 0 && cols == nr {
		for j := 0; j < nr; j += 16 {
			packBT16(bs[j:], nr, b, ldb, p0, kc, j0+j)
		}
		return
	}
	if cols < nr {
		clear(bs[:kc*nr])
	}
	for j := range cols {
		src := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kc]
		for p, v := range src {
			bs[p*nr+j] = v
		}
	}
}

// bufPools recycle packing buffers between calls, one pool per power-of-two
// capacity so that calls of different sizes do not evict each other's.
var bufPools [64]sync.Pool

// getBuf returns a pooled buffer of length n ≥ 1; its contents are arbitrary.
func getBuf(n int) *[]float32 {
	class := bits.Len(uint(n - 1))
	if p, ok := bufPools[class].Get().(*[]float32); ok {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n, 1<<class)
	return &s
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(p *[]float32) {
	bufPools[bits.Len(uint(cap(*p)-1))].Put(p)
}

// ceilDiv returns ⌈x/y⌉ for x ≥ 0, y > 0.
func ceilDiv(x, y int) int { return (x + y - 1) / y }

// roundUp returns the smallest multiple of y that is ≥ x.
func roundUp(x, y int) int { return ceilDiv(x, y) * y }

// packBT16 is packB for transB and 16 full columns j0..j0+15 of a sliver
// whose rows are nr values long (16 columns at a time of a wider sliver):
// it reads the 16 rows of B side by side so that every store is sequential.
func packBT16(bs []float32, nr int, b []float32, ldb, p0, kc, j0 int) {
	row := func(j int) []float32 { return b[(j0+j)*ldb+p0:][:kc] }
	r0, r1, r2, r3, r4, r5, r6, r7 := row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)
	r8, r9, r10, r11, r12, r13, r14, r15 := row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15)
	bs = bs[:nr*(kc-1)+16]
	for p := range kc {
		d := (*[16]float32)(bs[nr*p:])
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
		d[8], d[9], d[10], d[11] = r8[p], r9[p], r10[p], r11[p]
		d[12], d[13], d[14], d[15] = r12[p], r13[p], r14[p], r15[p]
	}
}

// packA6 is packA for a row-major A and a full 6-row sliver: it reads the 6
// rows side by side so that every store is sequential.
func packA6(dst, a []float32, lda int, alpha float32, i0, p0, kc int) {
	row := func(i int) []float32 { return a[(i0+i)*lda+p0:][:kc] }
	r0, r1, r2, r3, r4, r5 := row(0), row(1), row(2), row(3), row(4), row(5)
	dst = dst[:6*kc]
	for p := range kc {
		d := (*[6]float32)(dst[6*p:])
		d[0], d[1], d[2] = alpha*r0[p], alpha*r1[p], alpha*r2[p]
		d[3], d[4], d[5] = alpha*r3[p], alpha*r4[p], alpha*r5[p]
	}
}
