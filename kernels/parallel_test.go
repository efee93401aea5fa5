package kernels

import (
	"runtime"
	"sync"
	"testing"
)

// TestParallelCoverage checks that every index in [0, n) is visited exactly
// once, in contiguous non-empty chunks, one per worker, for several worker
// counts.
func TestParallelCoverage(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 100, 1001} {
			var mu sync.Mutex
			visits := make([]int, n)
			chunks := 0
			Parallel(n, func(lo, hi int) {
				mu.Lock()
				defer mu.Unlock()
				if lo >= hi {
					t.Errorf("procs=%d n=%d: empty chunk [%d,%d)", procs, n, lo, hi)
				}
				chunks++
				for i := lo; i < hi; i++ {
					visits[i]++
				}
			})
			for i, v := range visits {
				if v != 1 {
					t.Errorf("procs=%d n=%d: index %d visited %d times", procs, n, i, v)
				}
			}
			if want := min(procs, n); chunks != want {
				t.Errorf("procs=%d n=%d: %d chunks, want %d", procs, n, chunks, want)
			}
		}
	}
}

// TestParallelBalance checks that chunk sizes differ by at most one.
func TestParallelBalance(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var mu sync.Mutex
	sizes := map[int]int{}
	Parallel(10, func(lo, hi int) {
		mu.Lock()
		sizes[hi-lo]++
		mu.Unlock()
	})
	if sizes[3] != 2 || sizes[2] != 2 || len(sizes) != 2 {
		t.Errorf("chunk sizes for n=10 over 4 workers: %v, want two of 3 and two of 2", sizes)
	}
}

// TestParallelPanic checks that a panic in a worker reaches the caller
// after every chunk has finished.
func TestParallelPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var mu sync.Mutex
	done := 0
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want boom", r)
		}
		if done != 3 {
			t.Errorf("%d chunks finished before the panic was re-raised, want 3", done)
		}
	}()
	Parallel(4, func(lo, hi int) {
		if lo == 2 {
			panic("boom")
		}
		mu.Lock()
		done++
		mu.Unlock()
	})
	t.Error("Parallel returned normally after a worker panicked")
}
