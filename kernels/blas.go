package kernels

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ebitengine/purego"
)

// CBLAS enumeration values (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// cblasSgemm is the C signature of cblas_sgemm.
type cblasSgemm func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)

// blasLib is a loaded BLAS library.
type blasLib struct {
	vendor  string // "openblas", "mkl", "blis" or "accelerate"
	file    string // the name or path it was opened by
	threads int    // thread count set in the library, 0 when it has no setter
	sgemm   cblasSgemm
}

// blasThreads is the thread count set in a BLAS library: one. Sgemm splits
// a product over Threads() Parallel workers, each calling the library on
// its own block of C, so no library thread spins between calls while the
// Go workers run the elementwise work.
const blasThreads = 1

// blasCandidate is a library file to try and the vendor it belongs to.
type blasCandidate struct{ vendor, file string }

// defaultCandidates lists the libraries tried, in order, on this OS.
func defaultCandidates() []blasCandidate {
	c := []blasCandidate{
		{"openblas", "libopenblas.so.0"},
		{"openblas", "libopenblas.so"},
		{"mkl", "libmkl_rt.so"},
		{"mkl", "libmkl_rt.so.2"},
		{"blis", "libblis.so"},
		{"blis", "libblis.so.4"},
	}
	if runtime.GOOS == "darwin" {
		c = append(c, blasCandidate{"accelerate", "/System/Library/Frameworks/Accelerate.framework/Accelerate"})
	}
	return c
}

// vendorOf guesses the vendor of a library from its file name.
func vendorOf(file string) string {
	base := strings.ToLower(file[strings.LastIndex(file, "/")+1:])
	for _, v := range []string{"openblas", "mkl", "blis", "accelerate"} {
		if strings.Contains(base, v) {
			return v
		}
	}
	return "blas"
}

// candidates returns the libraries to try for the SMAUG_BLAS value env:
// none for "off", the named library first for any other non-empty value.
func candidates(env string) []blasCandidate {
	switch strings.ToLower(strings.TrimSpace(env)) {
	case "off":
		return nil
	case "", "on", "auto":
		return defaultCandidates()
	}
	return append([]blasCandidate{{vendorOf(env), env}}, defaultCandidates()...)
}

// openBLAS opens the first candidate that loads and exports cblas_sgemm,
// sets its thread count to threads (where it has a setter), and returns nil
// when none does.
func openBLAS(cands []blasCandidate, threads int) *blasLib {
	for _, c := range cands {
		if lib := openOne(c, threads); lib != nil {
			return lib
		}
	}
	return nil
}

// openOne loads one library, or returns nil when it is absent or lacks
// cblas_sgemm. The handle of a library without cblas_sgemm is closed.
func openOne(c blasCandidate, threads int) *blasLib {
	h, err := purego.Dlopen(c.file, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil
	}
	sym, err := purego.Dlsym(h, "cblas_sgemm")
	if err != nil || sym == 0 {
		_ = purego.Dlclose(h)
		return nil
	}
	lib := &blasLib{vendor: c.vendor, file: c.file}
	purego.RegisterFunc(&lib.sgemm, sym)
	// Thread setters: OpenBLAS and MKL take a C int, BLIS a dim_t (int64).
	for _, name := range []string{"openblas_set_num_threads", "MKL_Set_Num_Threads"} {
		if p, err := purego.Dlsym(h, name); err == nil && p != 0 {
			var set func(int32)
			purego.RegisterFunc(&set, p)
			set(int32(threads))
			lib.threads = threads
			return lib
		}
	}
	if p, err := purego.Dlsym(h, "bli_thread_set_num_threads"); err == nil && p != 0 {
		var set func(int64)
		purego.RegisterFunc(&set, p)
		set(int64(threads))
		lib.threads = threads
	}
	return lib
}

var (
	blasOnce   sync.Once
	blasLoaded *blasLib    // nil when no library could be loaded
	blasOff    atomic.Bool // set by UseBLAS(false)
	blasForced atomic.Bool // set by UseBLAS(true)
)

// preferBLAS reports whether Sgemm should call the BLAS library lib rather
// than the pure-Go kernels. SMAUG_BLAS=on (or a library name) and
// UseBLAS(true) prefer BLAS; unset or "auto", the calibration decides (see
// DefaultCalibration): the faster of the two on this machine, measured
// once per CPU model and cached.
func preferBLAS(lib *blasLib) bool {
	if blasForced.Load() {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(os.Getenv("SMAUG_BLAS"))) {
	case "", "auto":
		return autoChoice(lib)
	}
	return true
}

// loadedBLAS loads the library on first use and returns it, or nil.
func loadedBLAS() *blasLib {
	blasOnce.Do(func() {
		blasLoaded = openBLAS(candidates(os.Getenv("SMAUG_BLAS")), blasThreads)
	})
	return blasLoaded
}

// activeBLAS returns the library Sgemm should call, or nil for pure Go.
func activeBLAS() *blasLib {
	if blasOff.Load() {
		return nil
	}
	lib := loadedBLAS()
	if lib == nil || !preferBLAS(lib) {
		return nil
	}
	return lib
}

// UseBLAS switches Sgemm between the BLAS library (on) and the pure-Go
// implementation (off) and reports whether Sgemm now uses BLAS: false when
// on is false, or when no library could be loaded (or SMAUG_BLAS=off).
// The library is loaded at most once per process.
func UseBLAS(on bool) bool {
	blasOff.Store(!on)
	blasForced.Store(on)
	return activeBLAS() != nil
}

// Backend describes what Sgemm currently runs on, for logs and reports,
// e.g. "openblas (libopenblas.so.0, 1 thread) × 2 workers" or
// "pure-go (avx2-fma 6x16, 2 workers)".
func Backend() string {
	if lib := activeBLAS(); lib != nil {
		return fmt.Sprintf("%s × %d workers", lib, Threads())
	}
	return fmt.Sprintf("pure-go (%s %dx%d, %d workers)", micro.name, micro.mr, micro.nr, Threads())
}

// String names the library, the file it came from and its thread count.
func (l *blasLib) String() string {
	switch l.threads {
	case 0:
		return fmt.Sprintf("%s (%s)", l.vendor, l.file)
	case 1:
		return fmt.Sprintf("%s (%s, 1 thread)", l.vendor, l.file)
	}
	return fmt.Sprintf("%s (%s, %d threads)", l.vendor, l.file, l.threads)
}

// split runs the product on the library from Threads() Parallel workers,
// each on a block of rows of C (or of columns, when C has fewer rows than
// columns), unless it is too small to be worth splitting. The caller has
// validated the arguments and checked that m, n and k are positive and fit
// in an int32.
func (l *blasLib) split(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w := Threads()
	if w < 2 || m*n*k < parallelMin {
		l.call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m >= n {
		// Row blocks of C: rows i0..i1 of op(A).
		blocks := min(w, ceilDiv(m, 16))
		Parallel(blocks, func(lo, hi int) {
			i0, i1 := lo*m/blocks, hi*m/blocks
			ao := i0 * lda
			if transA {
				ao = i0
			}
			l.call(transA, transB, i1-i0, n, k, alpha, a[ao:], lda, b, ldb, beta, c[i0*ldc:], ldc)
		})
		return
	}
	// Column blocks of C: columns j0..j1 of op(B).
	blocks := min(w, ceilDiv(n, 16))
	Parallel(blocks, func(lo, hi int) {
		j0, j1 := lo*n/blocks, hi*n/blocks
		bo := j0
		if transB {
			bo = j0 * ldb
		}
		l.call(transA, transB, m, j1-j0, k, alpha, a, lda, b[bo:], ldb, beta, c[j0:], ldc)
	})
}

// call runs cblas_sgemm. The caller has validated the arguments, checked
// that m, n and k are positive and that every integer fits in an int32.
func (l *blasLib) call(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := int32(cblasNoTrans), int32(cblasNoTrans)
	if transA {
		ta = cblasTrans
	}
	if transB {
		tb = cblasTrans
	}
	l.sgemm(cblasRowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}
