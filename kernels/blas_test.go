package kernels

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ebitengine/purego"
)

// TestCandidates checks how SMAUG_BLAS chooses the libraries to try.
func TestCandidates(t *testing.T) {
	defaults := defaultCandidates()
	if defaults[0] != (blasCandidate{"openblas", "libopenblas.so.0"}) {
		t.Fatalf("first default candidate %v, want libopenblas.so.0", defaults[0])
	}
	tests := []struct {
		env  string
		want []blasCandidate
	}{
		{"", defaults},
		{"on", defaults},
		{"off", nil},
		{" OFF ", nil},
		{"/opt/intel/lib/libmkl_rt.so.2", append([]blasCandidate{{"mkl", "/opt/intel/lib/libmkl_rt.so.2"}}, defaults...)},
		{"libcblas.so.3", append([]blasCandidate{{"blas", "libcblas.so.3"}}, defaults...)},
	}
	for _, tt := range tests {
		if got := candidates(tt.env); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("candidates(%q) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

// TestOpenBLASMissing checks that libraries that are absent are skipped.
func TestOpenBLASMissing(t *testing.T) {
	if lib := openBLAS([]blasCandidate{{"blas", "libsmaug-does-not-exist.so"}}, 2); lib != nil {
		t.Errorf("openBLAS loaded %v from a library that does not exist", lib)
	}
}

// TestBackend checks the backend description in both modes.
func TestBackend(t *testing.T) {
	defer UseBLAS(true)
	if UseBLAS(false) {
		t.Fatal("UseBLAS(false) reported BLAS in use")
	}
	if got := Backend(); !strings.HasPrefix(got, "pure-go ("+micro.name) || !strings.Contains(got, " workers)") {
		t.Errorf("pure-Go Backend() = %q", got)
	}
	if !UseBLAS(true) {
		t.Skipf("no BLAS library could be loaded; backend is %s", Backend())
	}
	lib := loadedBLAS()
	want := lib.vendor + " (" + lib.file
	if got := Backend(); !strings.HasPrefix(got, want) {
		t.Errorf("BLAS Backend() = %q, want prefix %q", got, want)
	}
	if lib.vendor != "openblas" {
		return
	}
	h, err := purego.Dlopen(lib.file, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatalf("reopen %s: %v", lib.file, err)
	}
	var get func() int32
	purego.RegisterLibFunc(&get, h, "openblas_get_num_threads")
	if n := int(get()); n != blasThreads {
		t.Errorf("openblas_get_num_threads() = %d, want %d", n, blasThreads)
	}
}

// TestBLASEnvOff runs this test binary again with SMAUG_BLAS=off and checks
// that the child never loads a library.
func TestBLASEnvOff(t *testing.T) {
	if os.Getenv("SMAUG_KERNELS_CHILD") == "1" {
		if UseBLAS(true) {
			t.Fatalf("SMAUG_BLAS=off but UseBLAS(true) loaded %s", Backend())
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBLASEnvOff$", "-test.v")
	cmd.Env = append(os.Environ(), "SMAUG_BLAS=off", "SMAUG_KERNELS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBLASEnvOff") {
		t.Errorf("child with SMAUG_BLAS=off: %v\n%s", err, out)
	}
}
