package kernels

import (
	"fmt"
	"math"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major float32
// matrices, as cblas_sgemm with CblasRowMajor does. op(A) is m×k, op(B) is
// k×n and C is m×n; lda, ldb and ldc are row strides. transA means A is
// stored k×m (op(A) = Aᵀ), transB means B is stored n×k (op(B) = Bᵀ).
//
// When beta is 0, C is overwritten (NaN or Inf already in C is ignored);
// when k is 0 or alpha is 0, A and B are not read and C becomes beta·C;
// when m or n is 0, nothing happens.
//
// Sgemm runs on the BLAS library when one is in use (see UseBLAS), else on
// the pure-Go implementation over Threads() goroutines. Do not call it from
// inside Parallel workers; use SgemmSerial there.
//
// Sgemm panics when a dimension is negative, a stride is smaller than the
// row it steps over, or a slice is too short for the shape: these are
// programming errors, not bad input.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs("Sgemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if lib := activeBLAS(); lib != nil && k > 0 && fitsInt32(m, n, k, lda, ldb, ldc) {
		lib.split(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemm(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial computes the same product as Sgemm with the same argument
// rules, in pure Go on the calling goroutine only: it never calls BLAS and
// never starts goroutines, so it is the one to use inside Parallel workers.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs("SgemmSerial", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	gemm(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs panics with a message naming the function and the offending
// argument when the shapes, strides and slice lengths do not fit together.
func checkArgs(fn string, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
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
	if transB {
		checkMatrix(fn, "b", b, n, k, ldb, "ldb")
	} else {
		checkMatrix(fn, "b", b, k, n, ldb, "ldb")
	}
}

// checkMatrix panics unless x can hold a rows×cols row-major matrix with row
// stride ld; rows and cols are positive.
func checkMatrix(fn, name string, x []float32, rows, cols, ld int, ldName string) {
	if ld < cols {
		panic(fmt.Sprintf("kernels: %s: %s=%d is smaller than the %d columns of %s (stored %d×%d)", fn, ldName, ld, cols, name, rows, cols))
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("kernels: %s: len(%s)=%d, need %d for a %d×%d matrix with %s=%d", fn, name, len(x), need, rows, cols, ldName, ld))
	}
}

// fitsInt32 reports whether every value can be passed as a C int.
func fitsInt32(v ...int) bool {
	for _, x := range v {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

// scaleRows sets C[i][j0:j1] = beta·C[i][j0:j1] for rows i0 ≤ i < i1,
// writing zeros (not beta·NaN) when beta is 0.
func scaleRows(beta float32, c []float32, ldc, i0, i1, j0, j1 int) {
	if beta == 1 {
		return
	}
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
