//go:build !unix

package hub

import (
	"os"
	"path/filepath"
)

// lockFile creates the lock file huggingface_hub would leave; without
// flock on this system it does not exclude other processes.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o664)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// freeSpace is not known on this system.
var freeSpace = func(string) (int64, bool) { return 0, false }
