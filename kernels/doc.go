// Package kernels owns the dense matrix product (Sgemm), the parallel loop
// (Parallel) that the tensor engine is built on, the choice between its
// backends, and the machine's FMA peak (MeasurePeak) that products are
// measured against. It holds no tensor types: callers pass row-major
// float32 slices with explicit strides, as in cblas with CblasRowMajor.
//
// # Backends
//
// Sgemm runs on a BLAS library or on a pure-Go blocked implementation. The
// library is opened at run time with github.com/ebitengine/purego rather
// than cgo, so the module still builds with CGO_ENABLED=0, cross-compiles
// to the Unix targets purego supports, and runs on machines without BLAS.
// Loading tries, in order, libopenblas.so.0, libopenblas.so,
// libmkl_rt.so(.2), libblis.so(.4) and, on macOS, the Accelerate
// framework. SMAUG_BLAS=off in the environment skips loading; SMAUG_BLAS
// set to a library name or path tries that library first.
//
// With SMAUG_BLAS unset (or "auto") the backend is chosen by measurement,
// not by a fixed rule: a short calibration (see Calibration) times both on
// the products of a training step, in alternation, the first time Sgemm
// needs the choice, and caches the outcome per CPU model in the user cache
// directory (see CalibrationPath), so later runs do not measure again.
// SMAUG_BLAS=on (or a library name) prefers BLAS; UseBLAS switches between
// the two at run time.
//
// The library runs single-threaded: Sgemm splits C into blocks of rows (or
// columns) over Threads() Parallel workers, each calling the library on its
// own block. No library thread spins between calls while the Go workers run
// the elementwise work, the contention that made multi-threaded OpenBLAS
// slower than pure Go in training.
//
// # Micro-kernels
//
// The pure-Go path follows the usual GotoBLAS/BLIS structure: op(B) is
// packed kc×nc panel by panel into nr-wide slivers, op(A) (scaled by alpha)
// into mr-tall slivers of an mc×kc block, and a register-blocked
// micro-kernel multiplies one mr×kc sliver by one kc×nr sliver into C. The
// micro-kernel is chosen at run time from what the CPU has (CPUID on x86,
// through golang.org/x/sys/cpu): a 12×32 AVX-512F kernel (24 zmm
// accumulators), a 6×16 AVX2/FMA kernel (12 ymm accumulators), an 8×12
// NEON kernel on arm64 (24 vector accumulators, FMLA by element), all Go
// assembly without cgo; elsewhere a 4×4 plain Go loop whose sixteen
// accumulators the compiler keeps in registers (scalar Go peaks near
// 5 GFLOP/s per core, the assembly kernels at the FMA units' limit).
// MicroKernels lists those this CPU runs; SMAUG_KERNEL or UseMicroKernel
// picks one. The Threads() goroutines of a product form a grid of row
// blocks × column groups of C, chosen per shape to balance the slowest
// worker's multiply-adds against the packing each does (tall products
// split over rows, skinny ones over columns, many cores over both); each
// packs its own rows of op(A) and a share of every panel of op(B), which
// all of them read, with one barrier per panel.
//
// # Threads
//
// Threads() (GOMAXPROCS by default) is the number of Parallel workers, and
// so of concurrent single-threaded library calls. Sgemm already uses every
// worker, so never run Sgemm inside Parallel workers: there use
// SgemmSerial, which never calls BLAS and never starts goroutines, and call
// Sgemm only from code that is not itself running in parallel. Breaking the
// rule is not a data race, only oversubscription that makes both slower.
package kernels
