package kernels

import "sync"

// Blocking of the pure-Go path, in elements. A packed mc×kc block of A
// (144·256·4 B = 144 KiB) stays in L2 while one kc×nr sliver of B
// (256·16·4 B = 16 KiB) stays in L1; a kc×nc panel of B goes to L3.
const (
	kcBlock = 256
	mcBlock = 144 // a multiple of every micro-kernel's mr
	ncBlock = 4096

	// parallelMin is the m·n·k below which Sgemm stays on one goroutine:
	// smaller products take about as long as starting the workers.
	parallelMin = 32 * 32 * 32
)

// microKernel adds the product of a packed mr×kc sliver of A and a packed
// kc×nr sliver of B to the mr×nr block of C at c with row stride ldc.
type microKernel struct {
	name   string
	mr, nr int
	fn     func(kc int, a, b, c []float32, ldc int)
}

// maxTile bounds mr·nr over all micro-kernels (edge-tile scratch size).
const maxTile = 6 * 16

// gemm is the pure-Go Sgemm on validated arguments with m, n > 0. With par
// it spreads the work over Threads() goroutines, else it runs inline.
func gemm(par, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	workers := 1
	if par && m*n*max(k, 1) >= parallelMin {
		workers = Threads()
	}
	if k == 0 || alpha == 0 {
		scale := func(lo, hi int) { scaleRows(beta, c, ldc, lo, hi, 0, n) }
		if workers > 1 {
			Parallel(m, scale)
		} else {
			scale(0, m)
		}
		return
	}
	mr, nr := micro.mr, micro.nr

	// Split C into rowBlocks × colGroups work items: row blocks of at most
	// mcBlock rows, as many as a multiple of the workers when C is tall
	// enough, else one column group of B slivers per worker.
	rowBlocks, colGroups := ceilDiv(m, mcBlock), 1
	if workers > 1 {
		if m >= 4*mr*workers {
			rowBlocks = roundUp(rowBlocks, workers)
		} else {
			colGroups = workers
		}
	}
	mc := roundUp(ceilDiv(m, rowBlocks), mr)
	rowBlocks = ceilDiv(m, mc)

	bufB := getBuf(kcBlock * roundUp(min(n, ncBlock), nr))
	defer putBuf(bufB)
	bp := *bufB
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		slivers := ceilDiv(nc, nr)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			pack := func(lo, hi int) {
				for s := lo; s < hi; s++ {
					packB(bp[s*kc*nr:(s+1)*kc*nr], b, ldb, transB, pc, kc, jc+s*nr, min(nr, nc-s*nr))
				}
			}
			compute := func(lo, hi int) {
				bufA := getBuf(mc * kc)
				defer putBuf(bufA)
				ap := *bufA
				packed := -1
				for it := lo; it < hi; it++ {
					r, g := it/colGroups, it%colGroups
					s0, s1 := g*slivers/colGroups, (g+1)*slivers/colGroups
					if s0 == s1 {
						continue
					}
					i0 := r * mc
					rows := min(mc, m-i0)
					if pc == 0 {
						scaleRows(beta, c, ldc, i0, i0+rows, jc+s0*nr, jc+min(s1*nr, nc))
					}
					if packed != r {
						packA(ap, a, lda, transA, alpha, i0, rows, pc, kc)
						packed = r
					}
					macroKernel(kc, ap, rows, bp, s0, s1, nc, c, ldc, i0, jc)
				}
			}
			if workers > 1 {
				Parallel(slivers, pack)
				Parallel(rowBlocks*colGroups, compute)
			} else {
				pack(0, slivers)
				compute(0, rowBlocks*colGroups)
			}
		}
	}
}

// macroKernel adds the product of the packed rows×kc block ap and the packed
// B slivers s0..s1-1 (of a panel nc columns wide) to C at row i0, column j0.
func macroKernel(kc int, ap []float32, rows int, bp []float32, s0, s1, nc int, c []float32, ldc, i0, j0 int) {
	mr, nr := micro.mr, micro.nr
	var edge [maxTile]float32
	for s := s0; s < s1; s++ {
		bs := bp[s*kc*nr : (s+1)*kc*nr]
		cols := min(nr, nc-s*nr)
		for ir := 0; ir < rows; ir += mr {
			as := ap[ir*kc : (ir+mr)*kc]
			off := (i0+ir)*ldc + j0 + s*nr
			if h := min(mr, rows-ir); h < mr || cols < nr {
				clear(edge[:mr*nr])
				micro.fn(kc, as, bs, edge[:mr*nr], nr)
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

// bufPool recycles packing buffers between calls.
var bufPool sync.Pool

// getBuf returns a pooled buffer of length n; its contents are arbitrary.
func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// putBuf returns a buffer from getBuf to the pool.
func putBuf(p *[]float32) { bufPool.Put(p) }

// ceilDiv returns ⌈x/y⌉ for x ≥ 0, y > 0.
func ceilDiv(x, y int) int { return (x + y - 1) / y }

// roundUp returns the smallest multiple of y that is ≥ x.
func roundUp(x, y int) int { return ceilDiv(x, y) * y }
