// Package abbench owns the benchmark protocol whose ratios hold from run to
// run on a shared or noisy machine: the contenders run in alternation,
// A B A B … (every side once per round, in the same order), for a number of
// rounds after a warm-up round that is not recorded, and each comparison is
// reported as the median of its per-round ratios with their minimum and
// maximum. Anything that slows the machine for a while slows both sides of
// a round alike, so the ratio moves much less than either rate.
package abbench

import (
	"context"
	"fmt"
	"slices"
)

// Side is one contender. Run makes one measurement and returns its named
// rates (higher is better, e.g. "train_tokens_per_s").
type Side struct {
	Name string
	Run  func(ctx context.Context) (map[string]float64, error)
}

// Config sets the protocol. MinRounds is the fewest rounds Run accepts.
type Config struct {
	Rounds int // recorded rounds, ≥ MinRounds
	Warmup int // unrecorded rounds before them, ≥ 0
	// Progress, when set, is called before each measurement with the round
	// (negative for warm-up rounds: -Warmup … -1; then 0 … Rounds-1) and
	// the side's index.
	Progress func(round, side int)
}

// MinRounds is the fewest recorded rounds that give a median with a spread.
const MinRounds = 3

// DefaultConfig is three recorded rounds after one warm-up round.
func DefaultConfig() Config { return Config{Rounds: 3, Warmup: 1} }

// Result holds every recorded measurement: Rates[side][round].
type Result struct {
	Sides []string
	Rates [][]map[string]float64
}

// Run measures the sides in alternation as Config says and returns the
// recorded measurements. It stops at the first error, naming the side and
// round, and when ctx is done.
func Run(ctx context.Context, cfg Config, sides []Side) (*Result, error) {
	if cfg.Rounds < MinRounds {
		return nil, fmt.Errorf("abbench: %d rounds, need at least %d", cfg.Rounds, MinRounds)
	}
	if cfg.Warmup < 0 {
		return nil, fmt.Errorf("abbench: negative warm-up %d", cfg.Warmup)
	}
	if len(sides) == 0 {
		return nil, fmt.Errorf("abbench: no sides to measure")
	}
	res := &Result{Rates: make([][]map[string]float64, len(sides))}
	for _, s := range sides {
		res.Sides = append(res.Sides, s.Name)
	}
	for round := -cfg.Warmup; round < cfg.Rounds; round++ {
		for i, s := range sides {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if cfg.Progress != nil {
				cfg.Progress(round, i)
			}
			r, err := s.Run(ctx)
			if err != nil {
				if round < 0 {
					return nil, fmt.Errorf("%s, warm-up round: %w", s.Name, err)
				}
				return nil, fmt.Errorf("%s, round %d: %w", s.Name, round+1, err)
			}
			if round >= 0 {
				res.Rates[i] = append(res.Rates[i], r)
			}
		}
	}
	return res, nil
}

// Summary is the median of some per-round values with their range.
type Summary struct {
	Median, Min, Max float64
	N                int // values summarised
}

// String formats the summary as the median and the range, e.g.
// "1.23 (1.10–1.31)".
func (s Summary) String() string {
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// Summarize returns the median, minimum and maximum of xs (the median of an
// even count is the mean of the middle two); xs must not be empty.
func Summarize(xs []float64) Summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Rate summarises side's rate metric over the rounds; ok is false when a
// round lacks it.
func (r *Result) Rate(side int, metric string) (Summary, bool) {
	var xs []float64
	for _, m := range r.Rates[side] {
		v, ok := m[metric]
		if !ok {
			return Summary{}, false
		}
		xs = append(xs, v)
	}
	return Summarize(xs), len(xs) > 0
}

// Ratio summarises, round by round, side a's metric ma divided by side b's
// metric mb (a ratio of measurements taken next to each other); ok is false
// when a round lacks either or b's is not positive.
func (r *Result) Ratio(a int, ma string, b int, mb string) (Summary, bool) {
	var xs []float64
	for round := range r.Rates[a] {
		x, okA := r.Rates[a][round][ma]
		y, okB := r.Rates[b][round][mb]
		if !okA || !okB || !(y > 0) {
			return Summary{}, false
		}
		xs = append(xs, x/y)
	}
	return Summarize(xs), len(xs) > 0
}
