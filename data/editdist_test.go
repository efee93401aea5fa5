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
			if x >= h.Lo && (x < h.Hi || i == len(s.Histogram)-1) {
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
	var empty Distribution
	if e := empty.Summarize(4); e.Count != 0 || e.Median != 0 || len(e.Histogram) != 4 {
		t.Errorf("empty summary %+v", e)
	}
}
