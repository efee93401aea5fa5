package kernels

import (
	"testing"
	"time"
)

// TestMeasurePeak checks that the peak loop runs and reports a positive
// rate for every micro-kernel this CPU can run.
func TestMeasurePeak(t *testing.T) {
	for _, k := range available() {
		p := measurePeak(k, 20*time.Millisecond, 1)
		if p.Kernel != k.name || p.Threads != 1 || !(p.GFLOPS > 0) {
			t.Errorf("measurePeak(%s) = %+v", k.name, p)
		}
	}
}
