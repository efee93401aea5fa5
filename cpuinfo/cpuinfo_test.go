package cpuinfo

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestModelFrom reads model names from cpuinfo files of both kinds.
func TestModelFrom(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu avx2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"},
		{"arm", "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4\n", "BCM2835"},
		{"none", "processor\t: 0\nFeatures\t: fp asimd\n", ""},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "cpuinfo")
		if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := modelFrom(path); got != tt.want {
			t.Errorf("%s: modelFrom = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := modelFrom(filepath.Join(t.TempDir(), "absent")); got != "" {
		t.Errorf("absent file: modelFrom = %q, want \"\"", got)
	}
}

// TestFlagsAgreeWithProcCPUInfo checks every flag reported against the
// kernel's own list in /proc/cpuinfo (Linux x86 only: elsewhere the names
// differ or the file is absent).
func TestFlagsAgreeWithProcCPUInfo(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || runtime.GOARCH != "amd64" {
		t.Skipf("needs /proc/cpuinfo on linux/amd64 (GOARCH=%s, %v)", runtime.GOARCH, err)
	}
	var procFlags []string
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			procFlags = strings.Fields(v)
			break
		}
	}
	for _, f := range Flags() {
		if !slices.Contains(procFlags, f) {
			t.Errorf("Flags() has %q, /proc/cpuinfo does not", f)
		}
	}
	if s := String(); !strings.HasPrefix(s, Model()+" (") {
		t.Errorf("String() = %q", s)
	}
}
