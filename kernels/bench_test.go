package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSgemm reports GFLOP/s of Sgemm (no transposes, alpha=1, beta=0)
// on BLAS and on the pure-Go path for square sizes and one LLM-shaped
// product (2048 tokens × 576 hidden, contracted over 1536).
func BenchmarkSgemm(b *testing.B) {
	shapes := [][3]int{{64, 64, 64}, {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 576, 1536}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(7, 8))
		x, y, z := matrix(rng, m, k, k), matrix(rng, k, n, n), make([]float32, m*n)
		for _, be := range []struct {
			name string
			blas bool
		}{{"blas", true}, {"go", false}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", be.name, m, n, k), func(b *testing.B) {
				defer UseBLAS(true)
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
