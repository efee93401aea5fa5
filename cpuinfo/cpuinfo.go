// Package cpuinfo owns the description of the processor that benchmark
// reports and the kernel calibration cache carry: its model name and the
// SIMD features that decide which kernels can run (from CPUID on x86 and
// the hardware capabilities on arm64, through golang.org/x/sys/cpu, which
// also checks that the OS saves the registers involved).
package cpuinfo

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// Model returns the processor's model name, e.g. "AMD EPYC 7B13" or
// "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", read from /proc/cpuinfo
// on Linux; where no name can be read it returns the architecture, e.g.
// "arm64".
func Model() string {
	if name := modelFrom("/proc/cpuinfo"); name != "" {
		return name
	}
	return runtime.GOARCH
}

// modelFrom reads the first "model name" (x86) or "Hardware"/"Model" (arm)
// line of a cpuinfo file, or "" when it has none or cannot be read.
func modelFrom(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fallback := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name":
			if val != "" {
				return val
			}
		case "Hardware", "Model":
			if fallback == "" {
				fallback = val
			}
		}
	}
	return fallback
}

// Flags returns the SIMD features of this CPU that the kernels use or
// report, in a fixed order, with the names Linux gives them in
// /proc/cpuinfo: on amd64 a subset of avx, avx2, fma, avx512f, avx512bw,
// avx512vl, avx512_bf16, amx_tile, amx_bf16; on arm64 asimd, asimdhp, sve,
// bf16 (as reported by the OS). Other architectures return none.
func Flags() []string {
	var fs []string
	add := func(has bool, name string) {
		if has {
			fs = append(fs, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		add(cpu.X86.HasAVX, "avx")
		add(cpu.X86.HasAVX2, "avx2")
		add(cpu.X86.HasFMA, "fma")
		add(cpu.X86.HasAVX512F, "avx512f")
		add(cpu.X86.HasAVX512BW, "avx512bw")
		add(cpu.X86.HasAVX512VL, "avx512vl")
		add(cpu.X86.HasAVX512BF16, "avx512_bf16")
		add(cpu.X86.HasAMXTile, "amx_tile")
		add(cpu.X86.HasAMXBF16, "amx_bf16")
	case "arm64":
		add(cpu.ARM64.HasASIMD, "asimd")
		add(cpu.ARM64.HasASIMDHP, "asimdhp")
		add(cpu.ARM64.HasSVE, "sve")
	}
	return fs
}

// String is the model name followed by the flags, the line benchmark
// reports print, e.g. "AMD EPYC (avx avx2 fma)".
func String() string {
	return Model() + " (" + strings.Join(Flags(), " ") + ")"
}
