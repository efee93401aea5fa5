package kernels

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// micro is the micro-kernel the pure-Go path uses; microMu guards changes
// made by UseMicroKernel (tests swap it directly, between products).
var (
	micro   = pickMicro(os.Getenv("SMAUG_KERNEL"))
	microMu sync.Mutex
)

// pickMicro returns the micro-kernel named by env (the SMAUG_KERNEL value)
// when this CPU can run it, else the fastest one it can run.
func pickMicro(env string) microKernel {
	ks := available()
	for _, k := range ks {
		if k.name == strings.ToLower(strings.TrimSpace(env)) {
			return k
		}
	}
	return ks[0]
}

// MicroKernels lists the pure-Go path's micro-kernels this CPU can run,
// fastest first: "avx512", "avx2-fma", "neon", "go".
func MicroKernels() []string {
	var names []string
	for _, k := range available() {
		names = append(names, k.name)
	}
	return names
}

// UseMicroKernel makes the pure-Go path use the micro-kernel name (one of
// MicroKernels()). The default is the first of MicroKernels(), or the one
// named by the SMAUG_KERNEL environment variable. Call it only while no
// product is running.
func UseMicroKernel(name string) error {
	microMu.Lock()
	defer microMu.Unlock()
	for _, k := range available() {
		if k.name == name {
			micro = k
			autoMu.Lock()
			autoResult = nil // the calibration was for another micro-kernel
			autoMu.Unlock()
			return nil
		}
	}
	if why, ok := unavailable()[name]; ok {
		return fmt.Errorf("micro-kernel %q needs %s, which this CPU lacks", name, why)
	}
	return fmt.Errorf("unknown micro-kernel %q (this CPU runs %s)", name, strings.Join(MicroKernels(), ", "))
}
