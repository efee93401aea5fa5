package memplan

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Available is the memory a new run can use, in bytes: the smaller of the
// kernel's MemAvailable (/proc/meminfo) and, inside a cgroup with a memory
// limit, that limit minus the cgroup's current usage. source says which
// one bounds it.
func Available() (bytes int64, source string, err error) {
	return available("/proc/meminfo", "/proc/self/cgroup", "/sys/fs/cgroup")
}

func available(meminfo, selfCgroup, cgroupRoot string) (int64, string, error) {
	avail, err := memAvailable(meminfo)
	if err != nil {
		return 0, "", err
	}
	source := "MemAvailable"
	if limit, usage, path, ok := cgroupLimit(selfCgroup, cgroupRoot); ok && limit-usage < avail {
		avail, source = max(limit-usage, 0), fmt.Sprintf("cgroup %s: limit %s, in use %s", path, GiB(limit), GiB(usage))
	}
	return avail, source, nil
}

// memAvailable reads MemAvailable from a meminfo file.
func memAvailable(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("available memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: MemAvailable %q: %w", path, fields[1], err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no MemAvailable line", path)
}

// cgroupLimit finds the memory limit and usage of this process's cgroup
// (v2: memory.max and memory.current; v1: memory.limit_in_bytes and
// memory.usage_in_bytes), walking up to the root for the tightest limit.
func cgroupLimit(selfCgroup, root string) (limit, usage int64, path string, ok bool) {
	b, err := os.ReadFile(selfCgroup)
	if err != nil {
		return 0, 0, "", false
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dirs []string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			dirs = []string{filepath.Join(root, parts[2])}
		case strings.Contains(","+parts[1]+",", ",memory,"): // v1
			dirs = []string{filepath.Join(root, "memory", parts[2]), filepath.Join(root, "memory")}
		default:
			continue
		}
		for _, d := range dirs {
			for dir := d; strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
				l, okL := readBytes(dir, "memory.max", "memory.limit_in_bytes")
				u, okU := readBytes(dir, "memory.current", "memory.usage_in_bytes")
				if okL && okU && l < 1<<60 && (!ok || l-u < limit-usage) {
					limit, usage, path, ok = l, u, dir, true
				}
				if dir == root {
					break
				}
			}
		}
	}
	return limit, usage, path, ok
}

// readBytes reads the first of names in dir that holds a number ("max"
// reads as no limit).
func readBytes(dir string, names ...string) (int64, bool) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 1 << 62, true
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}
