package data

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"= 47 apples", "= 52 apples", 2},
		{"héllo", "hello", 1}, // code points, not bytes
		{"abcdef", "azced", 3},
	}
	for _, tt := range tests {
		if got := Levenshtein([]rune(tt.a), []rune(tt.b)); got != tt.want {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Levenshtein([]rune(tt.b), []rune(tt.a)); got != tt.want {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
	if got := NormalizedEditDistance("kitten", "sitting"); math.Abs(got-3.0/7) > 1e-15 {
		t.Errorf("normalised = %v, want 3/7", got)
	}
	if got := NormalizedTokenEditDistance([]int{1, 2, 3, 4}, []int{1, 9, 3, 4}); got != 0.25 {
		t.Errorf("token normalised = %v, want 0.25", got)
	}
}

// naiveLevenshtein is the textbook full-matrix recursion, without the
// prefix/suffix trimming and the single row.
func naiveLevenshtein(a, b []byte) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
		}
	}
	return d[len(a)][len(b)]
}

func TestLevenshteinMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a := make([]byte, rng.IntN(12))
		b := make([]byte, rng.IntN(12))
		for i := range a {
			a[i] = "abc"[rng.IntN(3)]
		}
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		if got, want := Levenshtein(a, b), naiveLevenshtein(a, b); got != want {
			t.Fatalf("Levenshtein(%q, %q) = %d, naive %d", a, b, got, want)
		}
	}
}

func TestDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var d Distribution
	var xs []float64
	for range 5001 {
		x := rng.Float64() * rng.Float64()
		xs = append(xs, x)
		d.Add(x)
	}
	sort.Float64s(xs)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	s := d.Summarize(HistogramBins)
	// Nearest-rank quantiles of the sorted values, to the bin resolution.
	rank := func(q float64) float64 { return xs[int(math.Ceil(q*float64(len(xs))))-1] }
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"mean", s.Mean, sum / float64(len(xs))},
		{"median", s.Median, rank(0.5)},
		{"p10", s.P10, rank(0.1)},
		{"p90", s.P90, rank(0.9)},
		{"min", s.Min, xs[0]},
		{"max", s.Max, xs[len(xs)-1]},
	} {
		if math.Abs(c.got-c.want) > 0.5/fineBins+1e-12 {
			t.Errorf("%s = %v, want %v ± %v", c.name, c.got, c.want, 0.5/fineBins)
		}
	}
	total := 0
	for i, h := range s.Histogram {
		want := 0
		for _, x := range xs {
			if x >= h.Lo && (x < h.Hi || (i == len(s.Histogram)-1 && h.Hi == 1)) {
				want++
			}
		}
		if h.Count != want {
			t.Errorf("bin [%v, %v): %d, want %d", h.Lo, h.Hi, h.Count, want)
		}
		total += h.Count
	}
	if total != len(xs) || s.Count != len(xs) {
		t.Errorf("histogram holds %d, count %d, want %d", total, s.Count, len(xs))
	}
	if len(s.Histogram) > HistogramBins {
		t.Errorf("%d bins, want at most %d", len(s.Histogram), HistogramBins)
	}
	var empty Distribution
	if e := empty.Summarize(4); e.Count != 0 || e.Median != 0 || len(e.Histogram) != 4 {
		t.Errorf("empty summary %+v", e)
	}
}

// TestHistogramFollowsData checks bins chosen from the data against
// hand-worked cases: MetaMath-like distances between 0.012 and 0.048 get
// 19 bins 0.002 wide from 0.012 (0.001 would need 37 > 20), not one bin
// of a fixed 0.05 grid.
func TestHistogramFollowsData(t *testing.T) {
	for _, tt := range []struct {
		name        string
		xs          []float64
		lo, width   float64
		bins, first int // number of bins, count in the first
	}{
		{"metamath-like", []float64{0.012, 0.013, 0.02, 0.031, 0.048}, 0.012, 0.002, 19, 2},
		{"whole range", []float64{0, 0.5, 1}, 0, 0.05, 20, 1},
		{"one value", []float64{0.25, 0.25}, 0.25, 0.0001, 1, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d Distribution
			for _, x := range tt.xs {
				d.Add(x)
			}
			s := d.Summarize(20)
			h := s.Histogram
			if len(h) != tt.bins || math.Abs(h[0].Lo-tt.lo) > 1e-12 || math.Abs(h[0].Hi-h[0].Lo-tt.width) > 1e-12 || h[0].Count != tt.first {
				t.Errorf("got %d bins, first %+v; want %d bins from %v of width %v holding %d", len(h), h[0], tt.bins, tt.lo, tt.width, tt.first)
			}
			total := 0
			for _, b := range h {
				total += b.Count
			}
			if total != len(tt.xs) {
				t.Errorf("bins hold %d values, want %d", total, len(tt.xs))
			}
		})
	}
}
