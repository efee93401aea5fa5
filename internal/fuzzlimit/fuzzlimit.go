// Package fuzzlimit runs fuzz targets and random-input tests under a memory
// limit, so that an input which makes the code under test allocate without
// bound is reported as a finding (a test failure naming the input) instead
// of killing the fuzzer with Go's fatal out-of-memory.
package fuzzlimit

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// Limit is the soft memory limit (debug.SetMemoryLimit) fuzz targets run
// under; smaug's own allocation checks (package internal/memlimit) read it,
// so an oversized allocation is refused with an error.
const Limit = 1 << 30

// Set puts the process under Limit for the rest of tb's test and restores
// the previous limit afterwards. Call it once, before f.Fuzz.
func Set(tb testing.TB) {
	old := debug.SetMemoryLimit(Limit)
	tb.Cleanup(func() { debug.SetMemoryLimit(old) })
}

// Run calls f and fails tb when f allocated more than maxAlloc bytes in all
// (runtime.MemStats.TotalAlloc), naming input. Run reads the memory
// statistics twice, which stops the world briefly: it is for fuzz bodies,
// not benchmarks.
func Run(tb testing.TB, maxAlloc uint64, input string, f func()) {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	if a := after.TotalAlloc - before.TotalAlloc; a > maxAlloc {
		if len(input) > 200 {
			input = input[:200] + "…"
		}
		tb.Fatalf("input %q allocated %d bytes, more than the %d allowed: a memory blow-up", input, a, maxAlloc)
	}
}
