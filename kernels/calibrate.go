package kernels

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smaug-dev/smaug/cpuinfo"
	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// Calibration is the outcome of timing the pure-Go path against the BLAS
// library on this machine: the products of a Llama training step (see
// calibrationShapes) run in alternation, each shape on pure Go then on
// BLAS (the faster of two runs each), for calibrationRounds rounds after a
// warm-up, and the median of the per-round ratios of the total times
// decides.
type Calibration struct {
	CPU      string    `json:"cpu"`          // cpuinfo.String()
	Micro    string    `json:"micro_kernel"` // the pure-Go path's micro-kernel
	BLAS     string    `json:"blas"`         // the library file
	Threads  int       `json:"threads"`      // Threads() when measured
	Ratios   []float64 `json:"go_over_blas"` // per round: pure-Go rate / BLAS rate (BLAS time / pure-Go time)
	Median   float64   `json:"median"`       // median of Ratios
	UseBLAS  bool      `json:"use_blas"`     // Median < blasMargin
	Measured time.Time `json:"measured"`
}

// Calibration constants: the rounds of the alternation and the margin by
// which BLAS must win to be chosen (a tie keeps pure Go, which needs no
// library and gives the same bits on every run).
const (
	calibrationRounds = 5
	blasMargin        = 0.95
)

// calibrationShapes are the products timed: the forward x·Wᵀ of a 576→1536
// projection over 512 tokens, the input gradient dy·W and the weight
// gradient dyᵀ·x of the same layer (transposes as tensor.Linear uses them).
var calibrationShapes = []struct {
	transA, transB bool
	m, n, k        int
}{
	{false, true, 512, 1536, 576},
	{false, false, 512, 576, 1536},
	{true, false, 1536, 576, 512},
}

// String summarises the calibration in one line, e.g. "pure Go ×1.12 of
// openblas (median of 5, 1.05–1.20) → pure-go".
func (c Calibration) String() string {
	choice := "pure-go"
	if c.UseBLAS {
		choice = "blas"
	}
	lo, hi := slices.Min(c.Ratios), slices.Max(c.Ratios)
	return fmt.Sprintf("pure Go (%s) runs at %.2f× %s (median of %d rounds, %.2f–%.2f, %d threads) → %s",
		c.Micro, c.Median, c.BLAS, len(c.Ratios), lo, hi, c.Threads, choice)
}

// Calibrate measures the pure-Go path against the BLAS library (loading it
// when needed) as Calibration describes, stores the result in the cache
// (see CalibrationPath), makes it the one in force for this process and
// returns it. It takes about half a second on two cores and errs when no
// BLAS library can be loaded or the cache cannot be written.
func Calibrate() (Calibration, error) {
	lib := loadedBLAS()
	if lib == nil {
		return Calibration{}, fmt.Errorf("calibrate: no BLAS library could be loaded (SMAUG_BLAS=%q)", os.Getenv("SMAUG_BLAS"))
	}
	c := measureCalibration(lib)
	autoMu.Lock()
	autoResult = &c
	autoMu.Unlock()
	path, err := CalibrationPath()
	if err != nil {
		return c, err
	}
	return c, saveCalibration(path, c)
}

// measureCalibration runs the alternation on lib.
func measureCalibration(lib *blasLib) Calibration {
	rng := rand.New(rand.NewPCG(1, 2))
	type operands struct{ a, b, c []float32 }
	ops := make([]operands, len(calibrationShapes))
	for i, s := range calibrationShapes {
		ops[i] = operands{randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)}
	}
	// once returns the seconds of the faster of two runs of shape i.
	once := func(i int, useBLAS bool) float64 {
		s, o := calibrationShapes[i], ops[i]
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		best := 0.0
		for rep := range 2 {
			t0 := time.Now()
			if useBLAS {
				lib.split(s.transA, s.transB, s.m, s.n, s.k, 1, o.a, lda, o.b, ldb, 0, o.c, s.n)
			} else {
				gemm(true, s.transA, s.transB, s.m, s.n, s.k, 1, o.a, lda, o.b, ldb, 0, o.c, s.n)
			}
			if dt := time.Since(t0).Seconds(); rep == 0 || dt < best {
				best = dt
			}
		}
		return best
	}
	for i := range calibrationShapes {
		once(i, false)
		once(i, true)
	}
	c := Calibration{CPU: cpuinfo.String(), Micro: micro.name, BLAS: lib.file, Threads: Threads(), Measured: time.Now().UTC()}
	for range calibrationRounds {
		// Shape by shape, pure Go then BLAS: the ratio of the total times.
		var tg, tb float64
		for i := range calibrationShapes {
			tg += once(i, false)
			tb += once(i, true)
		}
		c.Ratios = append(c.Ratios, tb/tg)
	}
	c.Median = median(c.Ratios)
	c.UseBLAS = c.Median < blasMargin
	return c
}

// median returns the median of xs (the mean of the middle two for an even
// count); xs is not modified.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// randSlice returns n values uniform in [-1, 1).
func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}

// CalibrationPath returns the cache file of the calibration for this CPU
// model, micro-kernel, BLAS library and thread count:
// <user cache dir>/smaug/kernels/<key>.json, e.g. on Linux
// ~/.cache/smaug/kernels/AMD-EPYC-avx-avx2-fma_avx2-fma_libopenblas.so.0_2.json.
func CalibrationPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("calibration cache: %w", err)
	}
	lib := "none"
	if blasLoaded != nil {
		lib = filepath.Base(blasLoaded.file)
	}
	key := fmt.Sprintf("%s_%s_%s_%d", cpuinfo.String(), micro.name, lib, Threads())
	return filepath.Join(dir, "smaug", "kernels", sanitize(key)+".json"), nil
}

// sanitize keeps letters, digits, '.', '_' and '-' of s and turns runs of
// anything else into one '-'.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// saveCalibration writes c to path as JSON, creating its directory.
func saveCalibration(path string, c Calibration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save calibration: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save calibration: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("save calibration %s: %w", path, err)
	}
	return nil
}

// loadCalibration reads a calibration saved by saveCalibration.
func loadCalibration(path string) (Calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Calibration{}, err
	}
	var c Calibration
	if err := json.Unmarshal(b, &c); err != nil {
		return Calibration{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Ratios) == 0 {
		return Calibration{}, fmt.Errorf("%s: no ratios", path)
	}
	return c, nil
}

var (
	autoMu     sync.Mutex
	autoResult *Calibration // the calibration in force, once known
)

// DefaultCalibration returns the calibration that chooses Sgemm's backend
// when SMAUG_BLAS is unset or "auto": the cached one for this machine (see
// CalibrationPath), else a fresh one (see Calibrate), measured on the first
// call that needs it. ok is false when no BLAS library can be loaded (Sgemm
// runs in pure Go) and when the pure-Go path has only the portable
// micro-kernel (Sgemm uses the library without measuring).
func DefaultCalibration() (c Calibration, ok bool) {
	lib := loadedBLAS()
	if lib == nil || micro.name == goKernel.name {
		return Calibration{}, false
	}
	return *autoCalibration(lib), true
}

// autoCalibration returns the calibration for lib, loading or measuring it
// once per process.
func autoCalibration(lib *blasLib) *Calibration {
	autoMu.Lock()
	defer autoMu.Unlock()
	if autoResult != nil {
		return autoResult
	}
	path, err := CalibrationPath()
	if err == nil {
		if c, err := loadCalibration(path); err == nil {
			autoResult = &c
			return autoResult
		}
	}
	c := measureCalibration(lib)
	if path != "" {
		// The first process to finish a calibration decides for every
		// later one, so that processes started together (a run and its
		// resumption, test binaries) agree: adopt a cache that appeared
		// meanwhile. A cache that cannot be written only costs a
		// calibration next run.
		if first, err := createCalibration(path, c); err == nil {
			c = first
		}
	}
	autoResult = &c
	return autoResult
}

// createCalibration writes c to path unless the file exists, atomically
// (a complete file appears or none), and returns the calibration the file
// then holds: c, or the one another process wrote first.
func createCalibration(path string, c Calibration) (Calibration, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return c, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return c, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".calibration-*")
	if err != nil {
		return c, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return c, err
	}
	// A hard link, unlike a rename, fails when path exists.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return c, err
	}
	return loadCalibration(path)
}

// autoChoice reports whether the calibration prefers lib. The pure-Go path
// on the portable micro-kernel never wins against a library, so there lib
// is used without measuring.
func autoChoice(lib *blasLib) bool {
	if micro.name == goKernel.name {
		return true
	}
	return autoCalibration(lib).UseBLAS
}
