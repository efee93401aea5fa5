package memlimit

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestProbe builds fake /proc and /sys/fs/cgroup trees and checks that the
// tightest bound wins and is named (values computed by hand).
func TestProbe(t *testing.T) {
	const gib = int64(1) << 30
	meminfo := "MemTotal:       32000000 kB\nMemFree:        1000 kB\nMemAvailable:   8388608 kB\n" // 8 GiB
	cases := []struct {
		name    string
		files   map[string]string
		want    int64
		wantSrc string
	}{
		{"meminfo only", map[string]string{"proc/meminfo": meminfo}, 8 * gib, "MemAvailable in /proc/meminfo"},
		{"cgroup v2 tighter", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "0::/job\n",
			"sys/fs/cgroup/job/memory.max": "4294967296\n", "sys/fs/cgroup/job/memory.current": "1073741824\n",
		}, 3 * gib, "cgroup limit /sys/fs/cgroup/job/memory.max"},
		{"cgroup v2 max is no limit", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "max\n",
		}, 8 * gib, "MemAvailable in /proc/meminfo"},
		{"cgroup v1 at the mount root", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "4:memory:/elsewhere\n0::/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648", "sys/fs/cgroup/memory/memory.usage_in_bytes": "536870912",
		}, gib + gib/2, "cgroup limit /sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{"cgroup v1 unlimited", map[string]string{
			"proc/meminfo": meminfo, "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
		}, 8 * gib, "MemAvailable in /proc/meminfo"},
		{"over the limit reads as zero", map[string]string{
			"sys/fs/cgroup/memory.max": "100", "sys/fs/cgroup/memory.current": "200",
		}, 0, "cgroup limit /sys/fs/cgroup/memory.max"},
		{"nothing readable", map[string]string{}, math.MaxInt64, "no limit found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for p, s := range c.files {
				full := filepath.Join(root, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, src := probe(root, 1<<20, 0)
			if got != c.want || src != c.wantSrc {
				t.Errorf("got %d from %q, want %d from %q", got, src, c.want, c.wantSrc)
			}
		})
	}
}

// TestProbeCountsFreeHeap checks that free Go heap memory adds to what is
// available, and that the Go limit is measured against what Go has mapped.
func TestProbeCountsFreeHeap(t *testing.T) {
	old := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(old)
	got, src := probe(t.TempDir(), 256<<20, 64<<20)
	if want := int64(1<<30 - 256<<20 + 64<<20); got != want || src != "Go memory limit (GOMEMLIMIT)" {
		t.Errorf("got %d from %q, want %d from the Go limit", got, src, want)
	}
}

// TestCheckUnderGoLimit sets a Go memory limit of 256 MiB and asks for
// 1 TiB and for 1 KiB.
func TestCheckUnderGoLimit(t *testing.T) {
	old := debug.SetMemoryLimit(256 << 20)
	defer debug.SetMemoryLimit(old)
	err := Check(1<<40, "the tape arena")
	var me *Error
	if !errors.As(err, &me) || me.Need != 1<<40 || me.Available > 256<<20 {
		t.Fatalf("got %v, want an *Error for 1 TiB against at most 256 MiB", err)
	}
	for _, want := range []string{"out of memory: the tape arena needs 1.0 TiB but the process may use only", "MiB more"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := Check(1<<10, "a small buffer"); err != nil {
		t.Errorf("1 KiB refused: %v", err)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB", 1 << 40: "1.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// BenchmarkAvailable measures one probe (the cost added to each checked
// allocation of 16 MiB or more).
func BenchmarkAvailable(b *testing.B) {
	for b.Loop() {
		Available()
	}
}
