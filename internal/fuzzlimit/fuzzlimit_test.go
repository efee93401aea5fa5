package fuzzlimit

import (
	"runtime/debug"
	"testing"
)

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = format
}

var sink []byte

// TestRun checks that Run fails on an input allocating 64 MiB against a
// 16 MiB allowance and passes one allocating 1 KiB, and that Set installs
// and restores the limit.
func TestRun(t *testing.T) {
	big := &fakeTB{TB: t}
	Run(big, 16<<20, "big", func() { sink = make([]byte, 64<<20) })
	if !big.failed {
		t.Error("64 MiB allocation under a 16 MiB allowance was not reported")
	}
	small := &fakeTB{TB: t}
	Run(small, 16<<20, "small", func() { sink = make([]byte, 1<<10) })
	if small.failed {
		t.Error("1 KiB allocation was reported")
	}
	sink = nil

	old := debug.SetMemoryLimit(-1)
	t.Run("set", func(t *testing.T) {
		Set(t)
		if got := debug.SetMemoryLimit(-1); got != Limit {
			t.Errorf("limit %d, want %d", got, Limit)
		}
	})
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("limit not restored: %d, want %d", got, old)
	}
}
