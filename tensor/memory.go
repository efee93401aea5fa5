package tensor

import (
	"fmt"
	"math"

	"github.com/smaug-dev/smaug/internal/memlimit"
)

// MemoryError is the panic value of an allocation the process has no memory
// for (a batch, sequence or model too large for the machine): the buffer's
// size, what the process may still use and where that bound comes from
// (cgroup limit, MemAvailable, GOMEMLIMIT). Ops return no errors, so a
// caller running ops on settings it did not choose defers RecoverMemory.
type MemoryError = memlimit.Error

// checkFrom is the size from which a buffer is checked against the memory
// the process may use before it is allocated: every new arena slab, and
// heap buffers of 16 MiB and more. Smaller ones cannot exhaust memory
// before a checked one would be refused, and skipping them keeps the probe
// (a few small file reads) off the hot path.
const checkFrom = slabSize

// allocChecked makes a float32 buffer of n values after checking that the
// process has the memory for it, panicking with a *MemoryError if not.
func allocChecked(n int) []float32 {
	if n >= checkFrom {
		if err := memlimit.Check(int64(n)*4, fmt.Sprintf("a tensor buffer of %d float32 values", n)); err != nil {
			panic(err)
		}
	}
	return make([]float32, n)
}

// RecoverMemory turns a *MemoryError panic from an op into an error; use it
// as `defer tensor.RecoverMemory(&err)` in a function returning err. Other
// panics go on.
func RecoverMemory(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if me, ok := r.(*MemoryError); ok {
		*err = me
		return
	}
	panic(r)
}

// checkedNumel is the product of shape, panicking with a clear message
// when a dimension is negative or the product overflows.
func checkedNumel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in %v", shape))
		}
		if d != 0 && n > math.MaxInt/4/d {
			panic(&MemoryError{What: fmt.Sprintf("a tensor of shape %v", shape), Need: math.MaxInt64})
		}
		n *= d
	}
	return n
}
