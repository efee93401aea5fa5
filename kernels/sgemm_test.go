package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sentinel fills the gaps between rows so tests can see stray reads (NaN
// spreads into results) and stray writes (the gap changes).
var sentinel = float32(math.NaN())

// matrix returns a rows×cols row-major matrix with stride ld holding random
// values in [-1, 1) and sentinel in the gaps.
func matrix(rng *rand.Rand, rows, cols, ld int) []float32 {
	x := make([]float32, max(rows*ld, 1))
	for i := range x {
		x[i] = sentinel
	}
	for i := range rows {
		for j := range cols {
			x[i*ld+j] = 2*rng.Float32() - 1
		}
	}
	return x
}

// naiveGemm is the reference: the definition of Sgemm evaluated in float64.
// It also returns, per element, |alpha|·Σ|a·b| + |beta·c|, the scale that
// float32 rounding error is relative to.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, scale []float64) {
	want, scale = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for j := range n {
			var sum, abs float64
			for p := range k {
				ai, bi := i*lda+p, p*ldb+j
				if transA {
					ai = p*lda + i
				}
				if transB {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				sum += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			w := float64(alpha) * sum
			s := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				s += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j], scale[i*n+j] = w, s
		}
	}
	return want, scale
}

// gemmFunc is Sgemm or SgemmSerial.
type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// backend is one way of computing the product under test.
type backend struct {
	name string
	run  func(t *testing.T, f func()) // sets the backend up around f
	gemm gemmFunc
}

// backends lists every implementation: Sgemm on BLAS (skipped without a
// library); Sgemm and SgemmSerial in pure Go with each micro-kernel this
// CPU runs (the assembly ones and the portable one), skipped with a message
// for those it lacks; and Sgemm with the Go model of every assembly
// micro-kernel of every architecture (see models), which always runs.
func backends() []backend {
	withMicro := func(k microKernel, blas bool) func(*testing.T, func()) {
		return func(t *testing.T, f func()) {
			t.Helper()
			saved := micro
			micro = k
			defer func() { micro = saved; UseBLAS(true) }()
			if UseBLAS(blas) != blas {
				t.Skipf("no BLAS library could be loaded (SMAUG_BLAS=off or none installed); backend is %s", Backend())
			}
			f()
		}
	}
	skip := func(why string) func(*testing.T, func()) {
		return func(t *testing.T, _ func()) { t.Skip(why) }
	}
	bs := []backend{{"blas", withMicro(micro, true), Sgemm}}
	for _, k := range available() {
		bs = append(bs, backend{"go-" + k.name, withMicro(k, false), Sgemm},
			backend{"go-" + k.name + "-serial", withMicro(k, false), SgemmSerial})
	}
	for name, why := range unavailable() {
		bs = append(bs, backend{"go-" + name, skip(fmt.Sprintf("this CPU lacks %s; its Go model runs instead", why)), Sgemm})
	}
	for _, m := range models {
		bs = append(bs, backend{m.name, withMicro(m, false), Sgemm})
	}
	return bs
}

// gemmCase is one product to check.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra elements at the end of each row of A, B and C
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d", g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.pad)
}

// tol is the largest accepted |got-want| / scale (see naiveGemm): float32
// products summed over up to 513 terms, in any order, with or without FMA.
const tol = 1e-5

// check runs one case on one backend and reports mismatches, NaNs that
// leaked from the gaps and writes outside C.
func check(t *testing.T, gemm gemmFunc, g gemmCase, rng *rand.Rand) {
	t.Helper()
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	lda, ldb, ldc := ac+g.pad, bc+g.pad, g.n+g.pad
	a := matrix(rng, ar, ac, lda)
	b := matrix(rng, br, bc, ldb)
	c := matrix(rng, g.m, g.n, ldc)
	if g.beta == 0 {
		// beta == 0 must overwrite C, NaN included.
		for i := range g.m {
			for j := range g.n {
				c[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	want, scale := naiveGemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	bad := 0
	for i := range g.m {
		for j := range ldc {
			got := c[i*ldc+j]
			if j >= g.n {
				if !math.IsNaN(float64(got)) && bad < 5 {
					t.Errorf("%v: gap C[%d][%d] was written: %g", g, i, j, got)
					bad++
				}
				continue
			}
			w, s := want[i*g.n+j], scale[i*g.n+j]
			if err := math.Abs(float64(got) - w); !(err <= tol*s+1e-30) && bad < 5 {
				t.Errorf("%v: C[%d][%d] = %g, want %g (error %.3g of scale %.3g)", g, i, j, got, w, err, s)
				bad++
			}
		}
	}
}

// TestSgemmSizes covers every transpose combination over odd sizes that
// straddle the micro-tile edges, with several alpha/beta pairs, against the
// float64 triple loop.
func TestSgemmSizes(t *testing.T) {
	sizes := []int{1, 3, 17, 65, 130}
	scalars := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {1.5, -1}}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			be.run(t, func() {
				rng := rand.New(rand.NewPCG(1, 2))
				n := 0
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						for _, m := range sizes {
							for _, nn := range sizes {
								for _, k := range sizes {
									ab := scalars[n%len(scalars)]
									n++
									check(t, be.gemm, gemmCase{tA, tB, m, nn, k, ab[0], ab[1], 0}, rng)
								}
							}
						}
					}
				}
			})
		})
	}
}

// TestSgemmBlocking covers shapes that cross the kc, mc and nc blocking
// boundaries and the parallel split, with strided (padded) rows.
func TestSgemmBlocking(t *testing.T) {
	shapes := [][3]int{
		{150, 70, 300},  // two kc panels, several row blocks
		{200, 33, 513},  // three kc panels
		{7, 4100, 9},    // two nc panels, few rows: column groups
		{1, 300, 260},   // a single row (matrix-vector)
		{300, 1, 40},    // a single column
		{150, 150, 257}, // two row blocks, one k step past a panel
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			be.run(t, func() {
				rng := rand.New(rand.NewPCG(3, 4))
				for _, s := range shapes {
					for _, tA := range []bool{false, true} {
						for _, tB := range []bool{false, true} {
							check(t, be.gemm, gemmCase{tA, tB, s[0], s[1], s[2], 0.75, 0.5, 3}, rng)
							check(t, be.gemm, gemmCase{tA, tB, s[0], s[1], s[2], 1, 0, 1}, rng)
						}
					}
				}
			})
		})
	}
}

// TestSgemmStrided covers strides larger than the rows with odd sizes.
func TestSgemmStrided(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			be.run(t, func() {
				rng := rand.New(rand.NewPCG(5, 6))
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						for _, pad := range []int{1, 5, 16} {
							for _, s := range [][3]int{{3, 17, 65}, {65, 3, 17}, {17, 65, 3}, {13, 29, 31}} {
								check(t, be.gemm, gemmCase{tA, tB, s[0], s[1], s[2], 2, -0.25, pad}, rng)
							}
						}
					}
				}
			})
		})
	}
}

// TestSgemmDegenerate checks the cases where A and B are not read: k == 0
// and alpha == 0 give C = beta·C (zeros over NaN when beta == 0), and
// m == 0 or n == 0 touch nothing.
func TestSgemmDegenerate(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name        string
		m, n, k     int
		alpha, beta float32
		a, b        []float32
		c, want     []float32
	}{
		{"k=0 beta=2", 2, 2, 0, 1, 2, nil, nil, []float32{1, 2, 3, 4}, []float32{2, 4, 6, 8}},
		{"k=0 beta=0 over NaN", 2, 2, 0, 1, 0, nil, nil, []float32{nan, 2, 3, nan}, []float32{0, 0, 0, 0}},
		{"k=0 beta=1", 1, 3, 0, 1, 1, nil, nil, []float32{1, nan, 3}, []float32{1, nan, 3}},
		{"alpha=0 beta=-1", 1, 2, 2, 0, -1, []float32{1, 2}, []float32{1, 2, 3, 4}, []float32{5, 6}, []float32{-5, -6}},
		{"alpha=0 beta=0 over NaN", 1, 2, 2, 0, 0, []float32{1, 2}, []float32{1, 2, 3, 4}, []float32{nan, nan}, []float32{0, 0}},
		{"m=0", 0, 2, 2, 1, 0, nil, []float32{1, 2, 3, 4}, nil, nil},
		{"n=0", 2, 0, 2, 1, 0, []float32{1, 2, 3, 4}, nil, nil, nil},
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			be.run(t, func() {
				for _, tt := range tests {
					c := append([]float32(nil), tt.c...)
					be.gemm(false, false, tt.m, tt.n, tt.k, tt.alpha, tt.a, max(tt.k, 1), tt.b, max(tt.n, 1), tt.beta, c, max(tt.n, 1))
					for i := range tt.want {
						if g, w := c[i], tt.want[i]; g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
							t.Errorf("%s: C[%d] = %g, want %g", tt.name, i, g, w)
						}
					}
				}
			})
		})
	}
}

// TestSgemmBadArgs checks that programming errors panic with a message
// naming the argument at fault.
func TestSgemmBadArgs(t *testing.T) {
	buf := make([]float32, 12)
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		a              []float32
		lda            int
		b              []float32
		ldb            int
		c              []float32
		ldc            int
		msg            string
	}{
		{"negative m", false, false, -1, 2, 2, buf, 2, buf, 2, buf, 2, "negative dimension"},
		{"short a", false, false, 3, 2, 4, buf[:11], 4, buf, 2, buf, 2, "len(a)=11, need 12"},
		{"short aT", true, false, 3, 2, 4, buf[:11], 3, buf, 2, buf, 2, "len(a)=11, need 12"},
		{"short b", false, false, 2, 3, 4, buf, 4, buf[:11], 3, buf, 3, "len(b)=11, need 12"},
		{"short bT", false, true, 2, 3, 4, buf, 4, buf[:11], 4, buf, 3, "len(b)=11, need 12"},
		{"short c", false, false, 2, 3, 1, buf, 1, buf, 3, buf[:6], 4, "len(c)=6, need 7"},
		{"small lda", false, false, 2, 2, 3, buf, 2, buf, 2, buf, 2, "lda=2 is smaller than the 3 columns"},
		{"small ldb", false, true, 2, 2, 3, buf, 3, buf, 2, buf, 2, "ldb=2 is smaller than the 3 columns"},
		{"small ldc", false, false, 2, 3, 1, buf, 1, buf, 3, buf, 2, "ldc=2 is smaller than the 3 columns"},
	}
	for _, fn := range []struct {
		name string
		gemm gemmFunc
	}{{"Sgemm", Sgemm}, {"SgemmSerial", SgemmSerial}} {
		for _, tt := range tests {
			t.Run(fn.name+"/"+tt.name, func(t *testing.T) {
				defer func() {
					r := recover()
					s, _ := r.(string)
					if r == nil || !strings.Contains(s, tt.msg) || !strings.Contains(s, fn.name) {
						t.Errorf("panic %v, want one naming %s and containing %q", r, fn.name, tt.msg)
					}
				}()
				fn.gemm(tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, tt.a, tt.lda, tt.b, tt.ldb, 0, tt.c, tt.ldc)
			})
		}
	}
}

// TestSgemmConcurrent runs products of different sizes from several
// goroutines at once (sharing the packing-buffer pools) on every backend.
func TestSgemmConcurrent(t *testing.T) {
	shapes := [][3]int{{65, 130, 17}, {130, 17, 300}, {3, 65, 130}, {100, 100, 100}}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			be.run(t, func() {
				done := make(chan struct{})
				for i, s := range shapes {
					go func() {
						defer func() { done <- struct{}{} }()
						rng := rand.New(rand.NewPCG(9, uint64(i)))
						for rep := range 3 {
							check(t, be.gemm, gemmCase{rep%2 == 1, i%2 == 1, s[0], s[1], s[2], 1, 0.5, i}, rng)
						}
					}()
				}
				for range shapes {
					<-done
				}
			})
		})
	}
}
