// Package memlimit owns the check smaug makes before a large allocation:
// how much memory the process may still use, from the tightest of the
// cgroup limit (v2 memory.max, v1 memory.limit_in_bytes, less what the
// cgroup already uses), MemAvailable in /proc/meminfo, and Go's own soft
// limit (debug.SetMemoryLimit / GOMEMLIMIT, less what Go has mapped), plus
// the free part of Go's heap, so that an oversized setting is refused with
// what was asked and what is there instead of dying with Go's
// unrecoverable "fatal error: out of memory".
package memlimit

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// Error reports an allocation refused for lack of memory.
type Error struct {
	What      string // what the memory was for, e.g. "the tape arena (a buffer of 3200000000 float32s)"
	Need      int64  // bytes asked for
	Available int64  // bytes the process may still use
	Source    string // where Available comes from, e.g. "cgroup memory.max"
}

func (e *Error) Error() string {
	if e.Need == math.MaxInt64 {
		return fmt.Sprintf("out of memory: %s needs more bytes than a 64-bit address space holds; use smaller settings (batch size, sequence length, model size)", e.What)
	}
	return fmt.Sprintf("out of memory: %s needs %s but the process may use only %s more (%s); use smaller settings (batch size, sequence length, model size)",
		e.What, Bytes(e.Need), Bytes(e.Available), e.Source)
}

// Bytes formats a byte count with a binary unit (KiB, MiB, GiB, TiB).
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[u-1])
}

// Available returns how many more bytes the process may use and where that
// bound comes from. When nothing bounds it (no readable limit at all) it
// returns math.MaxInt64 and "no limit found".
func Available() (int64, string) {
	mapped, free := goMemory()
	return probe("/", mapped, free)
}

// Check returns an *Error when need bytes exceed what the process may
// still use; what names the allocation in the message.
func Check(need int64, what string) error {
	avail, src := Available()
	if need > avail {
		return &Error{What: what, Need: need, Available: avail, Source: src}
	}
	return nil
}

// probe is Available with the files read under root (tests use a fake
// tree) and the Go runtime's mapped and free heap bytes given.
func probe(root string, mapped, free int64) (int64, string) {
	best, src := int64(math.MaxInt64), "no limit found"
	take := func(n int64, s string) {
		if n < best {
			best, src = max(n, 0), s
		}
	}
	if n, ok := memAvailable(filepath.Join(root, "proc/meminfo")); ok {
		take(n, "MemAvailable in /proc/meminfo")
	}
	if n, s, ok := cgroupLeft(root); ok {
		take(n, s)
	}
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		take(lim-mapped, "Go memory limit (GOMEMLIMIT)")
	}
	if best == math.MaxInt64 {
		return best, src
	}
	// Heap memory Go holds but no longer uses is counted as used by the
	// system, yet serves new allocations first.
	return best + free, src
}

// goMemory returns the memory the Go runtime has mapped (less what it has
// returned to the system) and the part of the heap that is free for reuse,
// read from runtime/metrics, which does not stop the world.
func goMemory() (mapped, free int64) {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	return v(0) - v(1), v(2)
}

// memAvailable reads the MemAvailable line of a meminfo file (in kB).
func memAvailable(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// cgroupFiles are a cgroup's limit and usage files (v2 memory.max and
// memory.current, or v1 memory.limit_in_bytes and memory.usage_in_bytes).
type cgroupFiles struct{ limit, usage string }

// rootCgroups caches the cgroup files of the real system: they do not
// change while the process runs, their values do.
var rootCgroups struct {
	once  sync.Once
	files []cgroupFiles
}

// findCgroups lists the existing cgroup files to read, best first: the
// process's own cgroup (from /proc/self/cgroup) and then the mount root,
// for cgroup v2 and then v1.
func findCgroups(root string) []cgroupFiles {
	var v2, v1 []string
	if b, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				v2 = append(v2, filepath.Join(root, "sys/fs/cgroup", parts[2]))
			case strings.Contains(","+parts[1]+",", ",memory,"):
				v1 = append(v1, filepath.Join(root, "sys/fs/cgroup/memory", parts[2]))
			}
		}
	}
	v2 = append(v2, filepath.Join(root, "sys/fs/cgroup"))
	v1 = append(v1, filepath.Join(root, "sys/fs/cgroup/memory"))
	var out []cgroupFiles
	add := func(dirs []string, limit, usage string) {
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, limit)); err == nil {
				out = append(out, cgroupFiles{filepath.Join(d, limit), filepath.Join(d, usage)})
			}
		}
	}
	add(v2, "memory.max", "memory.current")
	add(v1, "memory.limit_in_bytes", "memory.usage_in_bytes")
	return out
}

// cgroupLeft returns the first cgroup limit found less its usage.
func cgroupLeft(root string) (int64, string, bool) {
	var files []cgroupFiles
	if root == "/" {
		rootCgroups.once.Do(func() { rootCgroups.files = findCgroups("/") })
		files = rootCgroups.files
	} else {
		files = findCgroups(root)
	}
	for _, f := range files {
		if lim, ok := readLimit(f.limit); ok {
			use, _ := readLimit(f.usage)
			return lim - use, "cgroup limit " + shown(root, f.limit), true
		}
	}
	return 0, "", false
}

// shown is path as the process sees it when the tree is mounted at root.
func shown(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return "/" + rel
}

// readLimit reads a cgroup number; "max" and values of 2^62 and above
// (v1's "unlimited") count as no limit (ok false).
func readLimit(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
