package memplan

import "github.com/smaug-dev/smaug/internal/memlimit"

// Available is the memory a new run can use, in bytes, and what bounds it:
// the tightest of the kernel's MemAvailable, the cgroup's limit less its
// usage and GOMEMLIMIT (internal/memlimit, the probe the tensor allocator
// checks against too). The error is always nil; it stays for callers that
// handle a probe failure.
func Available() (bytes int64, source string, err error) {
	b, src := memlimit.Available()
	return b, src, nil
}
