//go:build !unix

package hf

import (
	"io"
	"os"
)

// mapFile reads size bytes of f into memory: platforms without syscall.Mmap
// get a plain read instead of a mapping.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
