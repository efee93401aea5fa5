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
	// workers and a barrier per panel cost.
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
// it spreads the work over up to Threads() goroutines, else it runs inline.
//
// The workers form a grid (see splitGrid): worker (wi, wj) owns a block of
// whole mr-tall row slivers and a group of nr-wide column slivers of C, and
// packs its own rows of op(A). For each kc×nc panel of op(B) every worker
// packs an equal share of the panel's slivers into a buffer they all read;
// one barrier per panel separates packing from computing, and two panel
// buffers in turn let a worker pack the next panel while others still
// compute on the current one.
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
	mr, nr := micro.mr, micro.nr
	g := &gemmJob{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, micro: micro}
	g.rowSlivers = ceilDiv(m, mr)
	g.wm, g.wn = splitGrid(workers, g.rowSlivers, ceilDiv(min(n, ncBlock), nr), k, mr, nr)
	g.workers = g.wm * g.wn
	panel := min(k, kcBlock) * roundUp(min(n, ncBlock), nr)
	buffers := 1
	if g.workers > 1 && (k > kcBlock || n > ncBlock) {
		buffers = 2
	}
	bufB := getBuf(buffers * panel)
	defer putBuf(bufB)
	for i := range buffers {
		g.bp = append(g.bp, (*bufB)[i*panel:(i+1)*panel])
	}
	if g.workers == 1 {
		g.work(0)
		return
	}
	g.sync.init(g.workers)
	team(g.workers, g.sync.guard(g.work))
}

// splitGrid chooses the wm×wn grid of workers (wm·wn ≤ workers) over
// rowSlivers mr-tall row slivers and colSlivers nr-wide column slivers of
// one panel that minimises the estimated time of the slowest worker: its
// multiply-adds (whole slivers, so an uneven split costs what it wastes),
// packing its rows of A (read by one worker only) and its share of each
// panel of B (packed once, shared). Packing an element (a load and a
// store) is counted as packCost scalar multiply-adds, about the half cycle
// it takes against 16 multiply-adds per cycle on AVX2. Skinny products
// (few rows) split over columns, tall ones over rows, and large worker
// counts in two dimensions. Grids of fewer than all the workers are tried
// down to half of them, for shapes that split unevenly.
func splitGrid(workers, rowSlivers, colSlivers, k, mr, nr int) (wm, wn int) {
	const packCost = 8
	best := -1.0
	for w := workers; w >= 1 && w*2 > workers; w-- {
		for i := 1; i <= w; i++ {
			if w%i != 0 || i > rowSlivers || w/i > colSlivers {
				continue
			}
			j := w / i
			rows := float64(ceilDiv(rowSlivers, i) * mr)
			cols := float64(ceilDiv(colSlivers, j) * nr)
			cost := rows*cols*float64(k) + packCost*float64(k)*(rows+float64(colSlivers*nr)/float64(w))
			if best < 0 || cost < best {
				best, wm, wn = cost, i, j
			}
		}
	}
	if best < 0 {
		return 1, 1
	}
	return wm, wn
}

// gemmJob holds one pure-Go product and its split over workers.
type gemmJob struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	micro          microKernel // the micro-kernel at the start of the product

	rowSlivers int // ⌈m/mr⌉
	wm, wn     int // the worker grid: wm row blocks × wn column groups
	workers    int // wm·wn

	bp   [][]float32 // panels of packed op(B), used in turn: two when there are several panels and workers
	sync barrier     // between packing a panel of B and computing on it
}

// work runs worker w's part of the product: for every kc×nc panel of op(B),
// it packs its share of the panel's slivers, waits for the others to pack
// theirs, then multiplies its rows of op(A) by its column group of the
// panel into C.
func (g *gemmJob) work(w int) {
	mr, nr := g.micro.mr, g.micro.nr
	wi, wj := w/g.wn, w%g.wn
	r0, r1 := wi*g.rowSlivers/g.wm*mr, min((wi+1)*g.rowSlivers/g.wm*mr, g.m)
	mc := min(mcBlock, roundUp(r1-r0, mr))
	buf := getBuf(mc*min(g.k, kcBlock) + maxTile)
	defer putBuf(buf)
	ap, edge := (*buf)[:len(*buf)-maxTile], (*buf)[len(*buf)-maxTile:]
	step := 0
	for jc := 0; jc < g.n; jc += ncBlock {
		nc := min(ncBlock, g.n-jc)
		slivers := ceilDiv(nc, nr)
		s0, s1 := wj*slivers/g.wn, (wj+1)*slivers/g.wn
		for pc := 0; pc < g.k; pc += kcBlock {
			kc := min(kcBlock, g.k-pc)
			bp := g.bp[step%len(g.bp)]
			step++
			g.packB(bp, jc, nc, pc, kc, w*slivers/g.workers, (w+1)*slivers/g.workers)
			if g.workers > 1 && !g.sync.wait() {
				return // another worker panicked
			}
			for i0 := r0; i0 < r1 && s0 < s1; i0 += mc {
				rows := min(mc, r1-i0)
				if pc == 0 {
					scaleRows(g.beta, g.c, g.ldc, i0, i0+rows, jc+s0*nr, jc+min(s1*nr, nc))
				}
				packA(g.micro, ap, g.a, g.lda, g.transA, g.alpha, i0, rows, pc, kc)
				macroKernel(g.micro, kc, ap, rows, bp, s0, s1, nc, g.c, g.ldc, i0, jc, edge)
			}
		}
	}
}

// packB packs slivers lo..hi-1 of the panel op(B)[pc:pc+kc, jc:jc+nc] into
// bp. A row-major B is read row by row across all the slivers (one
// sequential run per row of the panel, measured 3–12% faster end to end
// than sliver by sliver on AVX2: a sliver's rows lie a whole row of B
// apart, often on other pages).
func (g *gemmJob) packB(bp []float32, jc, nc, pc, kc, lo, hi int) {
	nr := g.micro.nr
	if !g.transB {
		for p := range kc {
			src := g.b[(pc+p)*g.ldb+jc:]
			for s := lo; s < hi; s++ {
				cols := min(nr, nc-s*nr)
				d := bp[s*kc*nr+p*nr:][:nr]
				copy(d, src[s*nr:s*nr+cols])
				clear(d[cols:])
			}
		}
		return
	}
	for s := lo; s < hi; s++ {
		packB(g.micro, bp[s*kc*nr:(s+1)*kc*nr], g.b, g.ldb, g.transB, pc, kc, jc+s*nr, min(nr, nc-s*nr))
	}
}

// barrier makes a fixed number of goroutines wait for each other, again
// and again. A worker that panics breaks it (see breakAll) so that the
// others return instead of waiting forever.
type barrier struct {
	mu      sync.Mutex
	cond    sync.Cond
	n       int  // goroutines that meet at the barrier
	arrived int  // those waiting in the current generation
	gen     int  // generations completed
	broken  bool // a goroutine panicked
}

// init readies b for n goroutines.
func (b *barrier) init(n int) {
	b.n = n
	b.cond.L = &b.mu
}

// wait blocks until all n goroutines have called it in this generation
// and reports true, or reports false when the barrier breaks first.
func (b *barrier) wait() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broken {
		return false
	}
	gen := b.gen
	if b.arrived++; b.arrived == b.n {
		b.arrived = 0
		b.gen++
		b.cond.Broadcast()
		return true
	}
	for gen == b.gen && !b.broken {
		b.cond.Wait()
	}
	return gen != b.gen // all arrived, even if one has panicked since
}

// guard returns fn made to break b (releasing the workers waiting in it)
// before a panic in fn leaves it.
func (b *barrier) guard(fn func(w int)) func(w int) {
	return func(w int) {
		defer func() {
			if r := recover(); r != nil {
				b.breakAll()
				panic(r)
			}
		}()
		fn(w)
	}
}

// breakAll releases every waiter and makes later waits return false.
func (b *barrier) breakAll() {
	b.mu.Lock()
	b.broken = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// macroKernel adds the product of the packed rows×kc block ap and the packed
// B slivers s0..s1-1 (of a panel nc columns wide) to C at row i0, column j0.
// Partial tiles at the edges of C go through the scratch tile edge.
func macroKernel(mk microKernel, kc int, ap []float32, rows int, bp []float32, s0, s1, nc int, c []float32, ldc, i0, j0 int, edge []float32) {
	mr, nr := mk.mr, mk.nr
	edge = edge[:mr*nr]
	for s := s0; s < s1; s++ {
		bs := bp[s*kc*nr : (s+1)*kc*nr]
		cols := min(nr, nc-s*nr)
		for ir := 0; ir < rows; ir += mr {
			as := ap[ir*kc : (ir+mr)*kc]
			off := (i0+ir)*ldc + j0 + s*nr
			if h := min(mr, rows-ir); h < mr || cols < nr {
				clear(edge)
				mk.fn(kc, as, bs, edge, nr)
				for i := range h {
					row := c[off+i*ldc : off+i*ldc+cols]
					e := edge[i*nr : i*nr+cols]
					for j, v := range e {
						row[j] += v
					}
				}
				continue
			}
			mk.fn(kc, as, bs, c[off:], ldc)
		}
	}
}

// packA copies alpha·op(A)[i0:i0+rows, p0:p0+kc] into ap as mr-tall slivers,
// each stored k-major (mr values per k), zero-padding the last sliver. A
// transposed A is read one stored row (one k) at a time across all the
// slivers, so that every read is sequential: reading a sliver's mr values
// k by k instead strides a whole row of A per k, and when that stride is a
// multiple of 2 KiB every read falls in the same few L1 sets.
func packA(mk microKernel, ap, a []float32, lda int, transA bool, alpha float32, i0, rows, p0, kc int) {
	mr := mk.mr
	if transA {
		for p := range kc {
			src := a[(p0+p)*lda+i0:][:rows]
			ir := 0
			if mr == 6 {
				for ; ir+6 <= rows; ir += 6 {
					s, d := (*[6]float32)(src[ir:]), (*[6]float32)(ap[ir*kc+p*6:])
					d[0], d[1], d[2] = alpha*s[0], alpha*s[1], alpha*s[2]
					d[3], d[4], d[5] = alpha*s[3], alpha*s[4], alpha*s[5]
				}
			}
			for ; ir < rows; ir += mr {
				d := ap[ir*kc+p*mr:][:mr]
				h := min(mr, rows-ir)
				for i, v := range src[ir : ir+h] {
					d[i] = alpha * v
				}
				clear(d[h:])
			}
		}
		return
	}
	for ir := 0; ir < rows; ir += mr {
		dst := ap[ir*kc : (ir+mr)*kc]
		h := min(mr, rows-ir)
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
func packB(mk microKernel, bs, b []float32, ldb int, transB bool, p0, kc, j0, cols int) {
	nr := mk.nr
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
