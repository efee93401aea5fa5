package kernels

import (
	"runtime"
	"sync"
	"time"
)

// Peak is a measured limit of float32 multiply-add throughput: the
// register-only FMA loop of a micro-kernel's instruction set, with no memory
// traffic, run on Threads goroutines at once. No GEMM can beat it, so GEMM
// rates are reported as a share of it.
type Peak struct {
	Kernel  string  // the micro-kernel whose instructions the loop uses, e.g. "avx2-fma"
	Threads int     // goroutines that ran the loop at the same time
	GFLOPS  float64 // float32 GFLOP/s of all threads together (an FMA counts 2)
}

// peakChunk is the number of loop iterations between clock reads: 30–100
// µs at the rates of the kernels here, short against the windows measured.
const peakChunk = 1 << 14

// MeasurePeak measures the FMA peak of the micro-kernel in use (see
// Backend) on threads goroutines (Threads() when threads < 1) for about d.
// It splits d into windows of at least 20 ms and returns the best window,
// since a peak is a maximum and other processes only ever lower it.
func MeasurePeak(d time.Duration, threads int) Peak {
	return measurePeak(micro, d, threads)
}

// measurePeak is MeasurePeak for the micro-kernel k.
func measurePeak(k microKernel, d time.Duration, threads int) Peak {
	if threads < 1 {
		threads = Threads()
	}
	windows := max(1, min(10, int(d/(20*time.Millisecond))))
	win := d / time.Duration(windows)
	best := 0.0
	for range windows {
		best = max(best, peakWindow(k, win, threads))
	}
	return Peak{Kernel: k.name, Threads: threads, GFLOPS: best}
}

// peakWindow runs k's FMA loop on threads locked OS threads for about d
// and returns the GFLOP/s of all of them together.
func peakWindow(k microKernel, d time.Duration, threads int) float64 {
	var wg sync.WaitGroup
	iters := make([]int, threads)
	start := make(chan struct{})
	for w := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-start
			end := time.Now().Add(d)
			for time.Now().Before(end) {
				k.peak(peakChunk)
				iters[w] += peakChunk
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	el := time.Since(t0).Seconds()
	total := 0
	for _, n := range iters {
		total += n
	}
	return float64(total) * float64(k.peakFlops) / el / 1e9
}

// fmaPeakGo is the portable kernel's peak loop: n iterations of sixteen
// independent chains of a multiply and an add (32 flops) that the compiler
// keeps in registers.
func fmaPeakGo(n int) {
	a0, a1, a2, a3, a4, a5, a6, a7 := float32(0), float32(0), float32(0), float32(0), float32(0), float32(0), float32(0), float32(0)
	b0, b1, b2, b3, b4, b5, b6, b7 := float32(0), float32(0), float32(0), float32(0), float32(0), float32(0), float32(0), float32(0)
	x, y := peakX, peakY
	for range n {
		a0 = a0*x + y
		a1 = a1*x + y
		a2 = a2*x + y
		a3 = a3*x + y
		a4 = a4*x + y
		a5 = a5*x + y
		a6 = a6*x + y
		a7 = a7*x + y
		b0 = b0*x + y
		b1 = b1*x + y
		b2 = b2*x + y
		b3 = b3*x + y
		b4 = b4*x + y
		b5 = b5*x + y
		b6 = b6*x + y
		b7 = b7*x + y
	}
	peakSink = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7
}

// peakX, peakY and peakSink keep the compiler from folding fmaPeakGo away.
var peakX, peakY, peakSink float32 = 1e-9, 1e-9, 0
