//go:build !amd64 && !arm64

package kernels

// available lists the micro-kernels this CPU can run: the portable one.
func available() []microKernel { return []microKernel{goKernel} }

// unavailable names no kernel: this architecture has only the portable one.
func unavailable() map[string]string { return nil }

// bf16Micro is SgemmBF16's micro-kernel: none on this architecture
// (SgemmBF16 widens to float32).
var bf16Micro bf16Kernel
