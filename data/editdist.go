package data

import "math"

// Levenshtein returns the edit distance between a and b: the least number
// of insertions, deletions and substitutions that turn one into the other.
// A common prefix and suffix are skipped first (they do not change the
// distance), so nearly equal sequences cost time linear in their length.
func Levenshtein[T comparable](a, b []T) int {
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(b) == 0 {
		return len(a)
	}
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			next := min(row[j]+1, row[j-1]+1, diag+cost)
			diag = row[j]
			row[j] = next
		}
	}
	return row[len(b)]
}

// NormalizedEditDistance is the character (Unicode code point) Levenshtein
// distance between a and b divided by the longer length; 0 when both are
// empty.
func NormalizedEditDistance(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 0
	}
	return float64(Levenshtein(ra, rb)) / float64(n)
}

// NormalizedTokenEditDistance is the token-level Levenshtein distance
// between two id sequences divided by the longer length; 0 when both are
// empty.
func NormalizedTokenEditDistance(a, b []int) float64 {
	n := max(len(a), len(b))
	if n == 0 {
		return 0
	}
	return float64(Levenshtein(a, b)) / float64(n)
}

// Encoder turns text into token ids (the tokenizer package's Tokenizer
// satisfies it).
type Encoder interface {
	Encode(text string, addSpecial bool) []int
}

// fineBins is the resolution of Distribution: quantiles are exact to
// 1/(2·fineBins).
const fineBins = 10000

// Distribution accumulates values in [0, 1] in constant memory: an exact
// count, mean, minimum and maximum, and a histogram of 10,000 bins from
// which quantiles are read to within 5e-5.
type Distribution struct {
	n        int
	sum      float64
	min, max float64
	bins     []uint32
}

// Add records x, clamped to [0, 1].
func (d *Distribution) Add(x float64) {
	x = math.Min(1, math.Max(0, x))
	if d.bins == nil {
		d.bins = make([]uint32, fineBins)
		d.min, d.max = x, x
	}
	d.n++
	d.sum += x
	d.min, d.max = math.Min(d.min, x), math.Max(d.max, x)
	d.bins[min(fineBins-1, int(x*fineBins))]++
}

// Count returns the number of values added.
func (d *Distribution) Count() int { return d.n }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by nearest rank: the
// smallest value with at least ⌈q·n⌉ values at or below it (the minimum
// for q = 0), read as the middle of its histogram bin and clamped to the
// observed range. It returns 0 when nothing was added.
func (d *Distribution) Quantile(q float64) float64 {
	if d.n == 0 {
		return 0
	}
	rank := max(1, int(math.Ceil(q*float64(d.n))))
	seen := 0
	for i, c := range d.bins {
		seen += int(c)
		if seen >= rank {
			mid := (float64(i) + 0.5) / fineBins
			return math.Min(d.max, math.Max(d.min, mid))
		}
	}
	return d.max
}

// HistogramBin counts the values in [Lo, Hi) (a bin ending at 1 includes 1).
type HistogramBin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int     `json:"count"`
}

// Summary describes a Distribution.
type Summary struct {
	Count     int            `json:"count"`
	Mean      float64        `json:"mean"`
	Median    float64        `json:"median"`
	P10       float64        `json:"p10"`
	P90       float64        `json:"p90"`
	Min       float64        `json:"min"`
	Max       float64        `json:"max"`
	Histogram []HistogramBin `json:"histogram"`
}

// Summarize returns the count, mean, median, 10th and 90th percentiles,
// range, and a histogram of at most maxBins equal-width bins whose range
// and width are chosen from the data: the width is the smallest of 1, 2 or
// 5 × 10ᵏ (at least the 1e-4 resolution) for which at most maxBins bins
// from the minimum (rounded down to a multiple of the width) cover the
// maximum. So 20 bins for pairs whose distances all fall between 0.012 and
// 0.048 are 0.002 wide, not one bin of a fixed 0.05 grid. Without values it returns maxBins bins
// over [0, 1].
func (d *Distribution) Summarize(maxBins int) Summary {
	s := Summary{Count: d.n}
	maxBins = max(1, maxBins)
	if d.n == 0 {
		for b := range maxBins {
			s.Histogram = append(s.Histogram, HistogramBin{Lo: float64(b) / float64(maxBins), Hi: float64(b+1) / float64(maxBins)})
		}
		return s
	}
	s.Mean = d.sum / float64(d.n)
	s.Median, s.P10, s.P90 = d.Quantile(0.5), d.Quantile(0.1), d.Quantile(0.9)
	s.Min, s.Max = d.min, d.max
	// Work on the fine grid: value x sits in fine bin int(x·fineBins).
	lo, hi := d.fineIndex(d.min), d.fineIndex(d.max)
	width := 1 // in fine bins
	for _, w := range niceWidths() {
		width = w
		if (hi/w - lo/w + 1) <= maxBins {
			break
		}
	}
	for start := lo / width * width; start <= hi; start += width {
		hb := HistogramBin{Lo: float64(start) / fineBins, Hi: float64(start+width) / fineBins}
		for i := start; i < min(start+width, fineBins); i++ {
			hb.Count += int(d.bins[i])
		}
		s.Histogram = append(s.Histogram, hb)
	}
	return s
}

// fineIndex is the fine bin of x.
func (d *Distribution) fineIndex(x float64) int { return min(fineBins-1, int(x*fineBins)) }

// niceWidths are the candidate bin widths in fine bins: 1, 2, 5, 10, 20,
// 50, … up to the whole range.
func niceWidths() []int {
	var ws []int
	for p := 1; p <= fineBins; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p <= fineBins {
				ws = append(ws, m*p)
			}
		}
	}
	return ws
}
