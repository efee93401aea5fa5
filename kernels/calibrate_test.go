package kernels

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain points the user cache directory at a temporary one so that the
// calibration these tests trigger never touches the real cache.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smaug-kernels-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	os.Setenv("HOME", dir) // macOS: ~/Library/Caches
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestMedianAndSanitize checks the two helpers on hand-computed values.
func TestMedianAndSanitize(t *testing.T) {
	medians := []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{1.2, 0.8, 1.0, 5, 0.9}, 1.0}}
	for _, m := range medians {
		if got := median(m.xs); got != m.want {
			t.Errorf("median(%v) = %g, want %g", m.xs, got, m.want)
		}
	}
	names := []struct{ in, want string }{
		{"AMD EPYC (avx avx2 fma)_avx2-fma_libopenblas.so.0_2", "AMD-EPYC-avx-avx2-fma-_avx2-fma_libopenblas.so.0_2"},
		{"Intel(R) Xeon(R) CPU @ 2.70GHz", "Intel-R-Xeon-R-CPU-2.70GHz"},
		{"/../x", "..-x"},
	}
	for _, n := range names {
		if got := sanitize(n.in); got != n.want {
			t.Errorf("sanitize(%q) = %q, want %q", n.in, got, n.want)
		}
	}
}

// TestCalibrationCache checks that a saved calibration reads back the same
// and that a cached one decides the default backend without measuring.
func TestCalibrationCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "c.json")
	c := Calibration{CPU: "cpu", Micro: "avx2-fma", BLAS: "libx.so", Threads: 2, Ratios: []float64{0.5, 0.6, 0.7}, Median: 0.6, UseBLAS: true, Measured: time.Unix(1e9, 0).UTC()}
	if err := saveCalibration(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := loadCalibration(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != c.String() || !got.Measured.Equal(c.Measured) {
		t.Errorf("loaded %+v, saved %+v", got, c)
	}
	if err := os.WriteFile(path, []byte(`{"cpu":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCalibration(path); err == nil || !strings.Contains(err.Error(), "no ratios") {
		t.Errorf("calibration without ratios: err = %v", err)
	}

	lib := loadedBLAS()
	if lib == nil || micro.name == goKernel.name {
		t.Skipf("the cached decision needs a BLAS library and an assembly micro-kernel (backend %s)", Backend())
	}
	cache, err := CalibrationPath()
	if err != nil {
		t.Fatal(err)
	}
	autoMu.Lock()
	autoResult = nil
	autoMu.Unlock()
	defer func() {
		autoMu.Lock()
		autoResult = nil
		autoMu.Unlock()
		os.Remove(cache)
	}()
	for _, use := range []bool{true, false} {
		c.UseBLAS = use
		if err := saveCalibration(cache, c); err != nil {
			t.Fatal(err)
		}
		autoMu.Lock()
		autoResult = nil
		autoMu.Unlock()
		if got := autoChoice(lib); got != use {
			t.Errorf("cached use_blas=%v: autoChoice = %v", use, got)
		}
	}
}

// TestCalibrate runs a real calibration: it must give one ratio per round,
// their median, the decision the margin implies, and a cache file.
func TestCalibrate(t *testing.T) {
	if loadedBLAS() == nil {
		t.Skip("no BLAS library could be loaded")
	}
	defer func() {
		autoMu.Lock()
		autoResult = nil
		autoMu.Unlock()
	}()
	c, err := Calibrate()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ratios) != calibrationRounds || c.Median != median(c.Ratios) || c.UseBLAS != (c.Median < blasMargin) || c.Micro != micro.name {
		t.Errorf("calibration %+v", c)
	}
	for _, r := range c.Ratios {
		if !(r > 0) {
			t.Errorf("ratio %g in %v", r, c.Ratios)
		}
	}
	path, _ := CalibrationPath()
	if got, err := loadCalibration(path); err != nil || got.Median != c.Median {
		t.Errorf("cache %s: %+v, %v", path, got, err)
	}
	if got, ok := DefaultCalibration(); !ok || got.Median != c.Median {
		t.Errorf("DefaultCalibration() = %+v, %v; want the fresh one", got, ok)
	}
}

// TestCreateCalibration checks that the first calibration written wins.
func TestCreateCalibration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k", "c.json")
	first := Calibration{Micro: "a", Ratios: []float64{1.2}, Median: 1.2}
	second := Calibration{Micro: "b", Ratios: []float64{0.5}, Median: 0.5, UseBLAS: true}
	got, err := createCalibration(path, first)
	if err != nil || got.Micro != "a" {
		t.Fatalf("first: %+v, %v", got, err)
	}
	got, err = createCalibration(path, second)
	if err != nil || got.Micro != "a" || got.UseBLAS {
		t.Errorf("second: %+v, %v; want the first kept", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".calibration-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
