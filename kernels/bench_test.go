package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSgemm reports GFLOP/s of Sgemm (no transposes, alpha=1, beta=0)
// on BLAS, on the pure-Go path with this CPU's micro-kernel and with the
// portable Go micro-kernel, for square sizes and one LLM-shaped
// product (2048 tokens × 576 hidden, contracted over 1536).
func BenchmarkSgemm(b *testing.B) {
	shapes := [][3]int{{64, 64, 64}, {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 576, 1536}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(7, 8))
		x, y, z := matrix(rng, m, k, k), matrix(rng, k, n, n), make([]float32, m*n)
		for _, be := range []struct {
			name  string
			blas  bool
			micro microKernel
		}{{"blas", true, micro}, {"go", false, micro}, {"go-portable", false, goKernel}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", be.name, m, n, k), func(b *testing.B) {
				saved := micro
				micro = be.micro
				defer func() { micro = saved; UseBLAS(true) }()
				if UseBLAS(be.blas) != be.blas {
					b.Skipf("no BLAS library could be loaded; backend is %s", Backend())
				}
				for b.Loop() {
					Sgemm(false, false, m, n, k, 1, x, k, y, n, 0, z, n)
				}
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmSerial reports GFLOP/s of SgemmSerial on the small shapes
// that per-head attention gives it inside Parallel workers: scores Q·Kᵀ
// (transB) for 8 and 64 queries and 128 keys, and P·V, with head size 64.
func BenchmarkSgemmSerial(b *testing.B) {
	shapes := []struct {
		transB  bool
		m, n, k int
	}{{true, 8, 128, 64}, {true, 64, 128, 64}, {false, 64, 64, 128}}
	for _, s := range shapes {
		rng := rand.New(rand.NewPCG(7, 8))
		ldb := s.n
		y := matrix(rng, s.k, s.n, s.n)
		if s.transB {
			ldb, y = s.k, matrix(rng, s.n, s.k, s.k)
		}
		x, z := matrix(rng, s.m, s.k, s.k), make([]float32, s.m*s.n)
		b.Run(fmt.Sprintf("transB=%v/%dx%dx%d", s.transB, s.m, s.n, s.k), func(b *testing.B) {
			for b.Loop() {
				SgemmSerial(false, s.transB, s.m, s.n, s.k, 1, x, s.k, y, ldb, 0, z, s.n)
			}
			b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMicroKernel reports GFLOP/s of each micro-kernel alone on one
// core, on packed slivers that stay in L1 (kc = kcBlock), next to the FMA
// peak of one core, to separate the inner loop from packing and blocking.
func BenchmarkMicroKernel(b *testing.B) {
	for _, k := range available() {
		b.Run(k.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			a, bb := matrix(rng, kcBlock, k.mr, k.mr), matrix(rng, kcBlock, k.nr, k.nr)
			c := make([]float32, k.mr*k.nr)
			for b.Loop() {
				k.fn(kcBlock, a, bb, c, k.nr)
			}
			b.ReportMetric(2*float64(k.mr*k.nr*kcBlock)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPeak reports the register-only FMA peak of each micro-kernel's
// instructions on one core.
func BenchmarkPeak(b *testing.B) {
	for _, k := range available() {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				k.peak(peakChunk)
			}
			b.ReportMetric(float64(k.peakFlops*peakChunk)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
