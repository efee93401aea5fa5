//go:build !amd64

package kernels

// micro is the micro-kernel the pure-Go path uses on this architecture.
var micro = goKernel
