package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/abbench"
	"github.com/smaug-dev/smaug/kernels"
	"github.com/spf13/cobra"
)

// gemmShape is one product of smaug bench peak: op(A) m×k times op(B) k×n.
type gemmShape struct {
	transA, transB bool
	m, n, k        int
}

func (g gemmShape) String() string {
	s := fmt.Sprintf("%dx%dx%d", g.m, g.n, g.k)
	if g.transA || g.transB {
		s += ":" + map[bool]string{false: "n", true: "t"}[g.transA] + map[bool]string{false: "n", true: "t"}[g.transB]
	}
	return s
}

// parseGemmShape reads "MxNxK" or "MxNxK:AB" with A and B each n (as
// stored) or t (transposed), e.g. "2048x1536x576:nt" for x·Wᵀ.
func parseGemmShape(s string) (gemmShape, error) {
	dims, trans, hasTrans := strings.Cut(s, ":")
	parts := strings.Split(dims, "x")
	if len(parts) != 3 {
		return gemmShape{}, fmt.Errorf("shape %q: want MxNxK or MxNxK:nt", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return gemmShape{}, fmt.Errorf("shape %q: dimension %q is not a positive integer", s, p)
		}
		v[i] = n
	}
	g := gemmShape{m: v[0], n: v[1], k: v[2]}
	if hasTrans {
		if len(trans) != 2 || strings.Trim(trans, "nt") != "" {
			return gemmShape{}, fmt.Errorf("shape %q: transposes %q must be two of n, t (e.g. nt)", s, trans)
		}
		g.transA, g.transB = trans[0] == 't', trans[1] == 't'
	}
	return g, nil
}

// run times the product for about d on the current backend and returns
// GFLOP/s.
func (g gemmShape) run(d time.Duration, a, b, c []float32) float64 {
	lda, ldb := g.k, g.n
	if g.transA {
		lda = g.m
	}
	if g.transB {
		ldb = g.k
	}
	n := 0
	t0 := time.Now()
	for n == 0 || time.Since(t0) < d {
		kernels.Sgemm(g.transA, g.transB, g.m, g.n, g.k, 1, a, lda, b, ldb, 0, c, g.n)
		n++
	}
	return 2 * float64(g.m) * float64(g.n) * float64(g.k) * float64(n) / time.Since(t0).Seconds() / 1e9
}

func newBenchPeakCmd() *cobra.Command {
	var shapes string
	var rounds, warmup int
	var window time.Duration
	var calibrate bool
	cmd := &cobra.Command{
		Use:   "peak",
		Short: "Measure the FMA peak and the matrix product's GFLOP/s as a share of it",
		Long: `Measure this machine's float32 FMA peak (a register-only loop of the
micro-kernel's instructions, no memory traffic: no product can beat it) on
one thread and on all of them, then the GFLOP/s of Sgemm on each --shapes
product with the pure-Go kernels and with the BLAS library, each as a share
of the all-thread peak.

The peak loop and every backend run in alternation (A B A B …), --rounds
recorded rounds after --warmup unrecorded ones, each measurement lasting
--window per product; figures are medians over the rounds with their
min–max, and shares are taken round by round, so a busy machine lowers
them much less than the rates.

Shapes are MxNxK (C is M×N, contracted over K), optionally :AB with A and
B each n or t (t: stored transposed, as a Linear layer's x·Wᵀ is nt). The
last lines show the calibration that picks the default backend (measured
once per CPU model and cached; --calibrate measures it again).`,
		Example: `  smaug bench peak
  smaug bench peak --shapes 1024x1024x1024 --rounds 5
  smaug bench peak --shapes 2048x1536x576:nt,2048x576x1536 --calibrate
  SMAUG_KERNEL=avx2-fma smaug bench peak   # force a micro-kernel`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var gs []gemmShape
			for _, s := range splitComma(shapes) {
				g, err := parseGemmShape(s)
				if err != nil {
					return fmt.Errorf("--shapes: %w", err)
				}
				gs = append(gs, g)
			}
			if window <= 0 {
				return fmt.Errorf("--window must be positive, got %v", window)
			}
			return benchPeak(cmd.Context(), cmd.OutOrStdout(), gs, rounds, warmup, window, calibrate)
		},
	}
	f := cmd.Flags()
	f.StringVar(&shapes, "shapes", "1024x1024x1024,2048x576x1536,2048x1536x576:nt,1536x576x2048:tn", "comma-separated products MxNxK[:AB]")
	f.IntVar(&rounds, "rounds", 5, "recorded rounds of the alternation (at least 3)")
	f.IntVar(&warmup, "warmup", 1, "unrecorded rounds before them")
	f.DurationVar(&window, "window", 300*time.Millisecond, "time per product per measurement")
	f.BoolVar(&calibrate, "calibrate", false, "measure the default backend's calibration again and cache it")
	return cmd
}

func benchPeak(ctx context.Context, out io.Writer, shapes []gemmShape, rounds, warmup int, window time.Duration, calibrate bool) error {
	defer kernels.UseBLAS(true) // back to the default choice
	haveBLAS := kernels.UseBLAS(true)
	type side struct {
		name string
		blas bool
	}
	sides := []side{{"peak", false}, {"pure-go", false}}
	if haveBLAS {
		sides = append(sides, side{"blas", true})
	}
	cfg, err := protocolConfig(rounds, warmup, func(i int) string { return sides[i].name })
	if err != nil {
		return err
	}
	printMachine(out, cfg, false)
	rng := rand.New(rand.NewPCG(1, 2))
	type operands struct{ a, b, c []float32 }
	ops := make([]operands, len(shapes))
	for i, g := range shapes {
		ops[i] = operands{randFloats(rng, g.m*g.k), randFloats(rng, g.k*g.n), make([]float32, g.m*g.n)}
	}
	labels := make([]string, len(sides))
	var ab []abbench.Side
	for i, s := range sides {
		ab = append(ab, abbench.Side{Name: s.name, Run: func(ctx context.Context) (map[string]float64, error) {
			if s.name == "peak" {
				p1 := kernels.MeasurePeak(window, 1)
				pn := kernels.MeasurePeak(window, 0)
				labels[i] = p1.Kernel
				return map[string]float64{"peak1": p1.GFLOPS, "peak": pn.GFLOPS}, nil
			}
			kernels.UseBLAS(s.blas)
			labels[i] = kernels.Backend()
			r := map[string]float64{}
			for j, g := range shapes {
				r[g.String()] = g.run(window, ops[j].a, ops[j].b, ops[j].c)
			}
			return r, nil
		}})
	}
	res, err := abbench.Run(ctx, cfg, ab)
	if err != nil {
		return err
	}
	p1, _ := res.Rate(0, "peak1")
	pn, _ := res.Rate(0, "peak")
	fmt.Fprintf(out, "FMA peak (%s register-only loop), GFLOP/s: 1 thread %s, %d threads %s\n",
		labels[0], fmtRate(p1, true), kernels.Threads(), fmtRate(pn, true))
	const row = "%-20s %-50s %14s  %-16s %s\n"
	fmt.Fprintf(out, row, "product", "kernels", "GFLOP/s", "share of peak", "pure-go / blas")
	for _, g := range shapes {
		for i := 1; i < len(sides); i++ {
			r, ok := res.Rate(i, g.String())
			sh, okS := res.Ratio(i, g.String(), 0, "peak")
			share, vs := "-", "-"
			if okS {
				share = fmt.Sprintf("%.0f%% (%.0f–%.0f%%)", 100*sh.Median, 100*sh.Min, 100*sh.Max)
			}
			if sides[i].name == "pure-go" && haveBLAS {
				vs = fmtRatio(res.Ratio(i, g.String(), 2, g.String()))
			}
			fmt.Fprintf(out, row, g, labels[i], fmtRate(r, ok), share, vs)
		}
	}
	if !haveBLAS {
		fmt.Fprintln(out, "no BLAS library could be loaded (SMAUG_BLAS=off, or none installed): pure Go only")
		return nil
	}
	kernels.UseBLAS(true)
	var c kernels.Calibration
	ok := true
	if calibrate {
		if c, err = kernels.Calibrate(); err != nil {
			return err
		}
	} else if c, ok = kernels.DefaultCalibration(); !ok {
		fmt.Fprintf(out, "default backend: %s (the portable micro-kernel always yields to a library)\n", kernels.Backend())
		return nil
	}
	fmt.Fprintf(out, "default backend calibration (%s): %s\n", c.Measured.Format(time.RFC3339), c)
	if path, err := kernels.CalibrationPath(); err == nil {
		fmt.Fprintf(out, "cached in %s\n", path)
	}
	return nil
}

// randFloats returns n values uniform in [-1, 1).
func randFloats(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}
