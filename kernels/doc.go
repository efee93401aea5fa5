// Package kernels owns the dense matrix product (Sgemm) and the parallel
// loop (Parallel) that the tensor engine is built on. It holds no tensor
// types: callers pass row-major float32 slices with explicit strides, as in
// cblas with CblasRowMajor.
//
// # Backends
//
// Sgemm runs on a BLAS library or on a pure-Go blocked implementation. By
// default (SMAUG_BLAS unset or "auto") it uses the pure-Go path where the
// AVX2/FMA assembly micro-kernel runs — measured faster than OpenBLAS in
// training here, see preferBLAS — and BLAS elsewhere when a library loads;
// SMAUG_BLAS=on prefers BLAS, SMAUG_BLAS=off never loads it. The library is opened at run time with
// github.com/ebitengine/purego rather than cgo, so the module still builds
// with CGO_ENABLED=0, cross-compiles to the Unix targets purego supports,
// and runs on machines without BLAS. Loading tries, in order,
// libopenblas.so.0, libopenblas.so, libmkl_rt.so(.2), libblis.so(.4) and, on
// macOS, the Accelerate framework, and sets the library's thread count to
// Threads(). SMAUG_BLAS=off in the environment skips loading; SMAUG_BLAS set
// to a library name or path tries that library first. UseBLAS switches
// between the two backends at run time.
//
// The pure-Go path follows the usual GotoBLAS/BLIS structure: op(B) is
// packed kc×nc panel by panel into nr-wide slivers, op(A) (scaled by alpha)
// into mr-tall slivers of an mc×kc block, and a register-blocked micro-kernel
// multiplies one mr×kc sliver by one kc×nr sliver into C. On amd64 CPUs with
// AVX2 and FMA the micro-kernel is a 6×16 Go assembly routine (twelve ymm
// accumulators, no cgo), because scalar Go peaks near 5 GFLOP/s per core
// while this reaches tens; elsewhere it is a 4×4 plain Go loop whose sixteen
// accumulators the compiler keeps in registers. Row blocks of C (or column
// groups, when C has few rows) are spread over Threads() goroutines.
//
// # Threads
//
// Threads() (GOMAXPROCS by default) is both the number of Parallel workers
// and the BLAS library's thread count. A BLAS call already uses every core
// through the library's own threads, so never run Parallel workers and a
// BLAS call at the same time: inside a Parallel worker use SgemmSerial,
// which never calls BLAS and never starts goroutines, and call Sgemm only
// from code that is not itself running in parallel. Breaking the rule is
// not a data race, only oversubscription that makes both slower.
package kernels
