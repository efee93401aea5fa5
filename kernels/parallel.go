package kernels

import (
	"runtime"
	"sync"
)

// Threads returns the number of workers Parallel uses and the thread count
// given to the BLAS library: runtime.GOMAXPROCS(0).
func Threads() int {
	return runtime.GOMAXPROCS(0)
}

// Parallel calls fn on contiguous chunks [lo, hi) that together cover
// [0, n) exactly once, one chunk per worker over min(n, Threads())
// goroutines (chunk sizes differ by at most one), and returns when all have
// finished. The calling goroutine runs the first chunk itself. When n < 2 or
// Threads() == 1, fn(0, n) runs inline; when n <= 0, fn is not called.
//
// A panic in any chunk is re-raised in the caller with the same value after
// every chunk has returned. Parallel may be nested (a chunk may call it);
// each call starts its own goroutines.
func Parallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := min(Threads(), n)
	if workers <= 1 {
		fn(0, n)
		return
	}
	size, extra := n/workers, n%workers
	team(workers, func(w int) {
		lo := w*size + min(w, extra)
		hi := lo + size
		if w < extra {
			hi++
		}
		fn(lo, hi)
	})
}

// team runs fn(0), …, fn(n-1) at once, fn(0) on the calling goroutine and
// each other on a goroutine of its own, and returns when all have finished.
// A panic in any of them is re-raised in the caller with the same value
// after every one has returned.
func team(n int, fn func(w int)) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		panicked bool
		value    any
	)
	run := func(w int) {
		defer func() {
			if r := recover(); r != nil {
				mu.Lock()
				if !panicked {
					panicked, value = true, r
				}
				mu.Unlock()
			}
		}()
		fn(w)
	}
	wg.Add(n - 1)
	for w := 1; w < n; w++ {
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
	if panicked {
		panic(value)
	}
}
