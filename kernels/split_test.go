package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSgemmWorkers runs the pure-Go product on 1 to 64 workers (GOMAXPROCS
// sets Threads(); on a machine with fewer cores the workers take turns,
// which changes the timing, not the split) with every micro-kernel this CPU
// runs and the Go models of the others, on shapes that give every worker
// grid splitGrid picks — tall, skinny, wider than an nc panel — against
// the float64 reference, in all four transposes.
func TestSgemmWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	shapes := [][3]int{
		{130, 70, 300}, // two kc panels: the barrier and both panel buffers
		{7, 300, 65},   // few rows: a split over columns
		{400, 33, 40},  // few columns: a split over rows
		{50, 4100, 5},  // two nc panels
	}
	kernels := append(available(), models...)
	for _, workers := range []int{1, 2, 3, 4, 5, 7, 8, 12, 16, 24, 32, 48, 64} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			runtime.GOMAXPROCS(workers)
			defer UseBLAS(true)
			UseBLAS(false)
			rng := rand.New(rand.NewPCG(11, uint64(workers)))
			for _, mk := range kernels {
				saved := micro
				micro = mk
				for i, s := range shapes {
					check(t, Sgemm, gemmCase{i%2 == 1, i/2 == 1, s[0], s[1], s[2], 1.5, 0.5, 3}, rng)
					check(t, Sgemm, gemmCase{i/2 == 1, i%2 == 0, s[0], s[1], s[2], 1, 0, 0}, rng)
				}
				micro = saved
			}
		})
	}
}

// TestSplitGrid checks the worker grid on the engine's shapes (a 2048-token
// batch through smol135m-sized and 7B-sized projections, in the forward,
// input-gradient and weight-gradient transposes) for 2 to 64 workers: the
// grid fits the slivers, keeps more than half the workers, and its slowest
// worker has at most 25% more multiply-adds (whole micro-tiles, padding
// included) than an even share of the product.
func TestSplitGrid(t *testing.T) {
	shapes := [][3]int{
		{2048, 1536, 576}, {2048, 576, 1536}, {1536, 576, 2048}, {576, 1536, 2048},
		{2048, 576, 576}, {512, 1536, 576}, {2048, 4096, 4096}, {4096, 4096, 2048},
		{1024, 1024, 1024}, {64, 49152, 576},
	}
	for _, mk := range append(models, goKernel) {
		for _, workers := range []int{2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64} {
			for _, s := range shapes {
				m, n, k := s[0], s[1], s[2]
				rs, cs := ceilDiv(m, mk.mr), ceilDiv(min(n, ncBlock), mk.nr)
				wm, wn := splitGrid(workers, rs, cs, k, mk.mr, mk.nr)
				if wm < 1 || wn < 1 || wm > rs || wn > cs || wm*wn > workers || 2*wm*wn <= workers {
					t.Errorf("%s %d workers, %dx%dx%d: grid %d×%d does not fit %d row and %d column slivers", mk.name, workers, m, n, k, wm, wn, rs, cs)
					continue
				}
				slowest := float64(ceilDiv(rs, wm)*mk.mr) * float64(ceilDiv(cs, wn)*mk.nr)
				even := float64(m) * float64(min(n, ncBlock)) / float64(workers)
				if slowest > 1.25*even {
					t.Errorf("%s %d workers, %dx%dx%d: grid %d×%d gives the slowest worker %.2f× an even share", mk.name, workers, m, n, k, wm, wn, slowest/even)
				}
			}
		}
	}
}

// TestBarrierBreak checks that a worker panicking between two barriers
// releases the others (their wait reports false) and that the panic
// reaches the caller of team, rather than the others waiting forever.
func TestBarrierBreak(t *testing.T) {
	var b barrier
	b.init(3)
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want boom", r)
		}
	}()
	team(3, b.guard(func(w int) {
		if !b.wait() {
			t.Errorf("worker %d: the first wait reported a broken barrier", w)
		}
		if w == 2 {
			panic("boom")
		}
		if b.wait() {
			t.Errorf("worker %d: the second wait completed although worker 2 never reached it", w)
		}
	}))
	t.Error("team returned normally after a worker panicked")
}
