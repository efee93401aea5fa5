package tensor

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"
)

// TestOversizedAllocationsAreRefused runs allocations far beyond a 512 MiB
// Go memory limit — a heap tensor, an op output in a tape's arena, a
// gradient buffer, a shape whose size overflows int — and checks that each
// becomes a *MemoryError naming the size, recovered by RecoverMemory,
// instead of Go's fatal out-of-memory. A modest allocation still works.
func TestOversizedAllocationsAreRefused(t *testing.T) {
	old := debug.SetMemoryLimit(512 << 20)
	defer debug.SetMemoryLimit(old)
	table := FromData(make([]float32, 4*1000), 4, 1000)
	cases := []struct {
		name string
		f    func()
		want string
	}{
		// 100000 rows of 512 tokens of a 576-wide hidden state: 110 GiB.
		{"heap tensor", func() { New(100000*512, 576) }, "a tensor buffer of 29491200000 float32 values needs 109.9 GiB"},
		// 20M gathered rows of 1000 floats from an arena: 74.5 GiB.
		{"arena output", func() { GatherRows(NewTape(), table, make([]int, 20000000)) }, "a tensor buffer of 20000000000 float32 values needs 74.5 GiB"},
		{"inference arena", func() { GatherRows(NewInferenceTape(), table, make([]int, 20000000)) }, "needs 74.5 GiB"},
		{"shape overflow", func() { New(1<<40, 1<<40) }, "a tensor of shape [1099511627776 1099511627776] needs more bytes than a 64-bit address space holds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := func() (err error) {
				defer RecoverMemory(&err)
				c.f()
				return nil
			}()
			var me *MemoryError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "out of memory: ") {
				t.Fatalf("got %v, want a *MemoryError containing %q", err, c.want)
			}
		})
	}
	if x := GatherRows(NewTape(), table, make([]int, 1000)); x.Len() != 1000*1000 {
		t.Errorf("modest gather: %d values", x.Len())
	}
}

// TestRecoverMemoryPassesOtherPanics checks RecoverMemory leaves other
// panics alone.
func TestRecoverMemoryPassesOtherPanics(t *testing.T) {
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the original panic", r)
		}
	}()
	var err error
	func() {
		defer RecoverMemory(&err)
		panic("boom")
	}()
}
