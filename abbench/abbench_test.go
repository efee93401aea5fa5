package abbench

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestRunAlternates checks the order of the measurements (warm-up rounds
// first, then every side once per round in order), that warm-up rounds are
// not recorded, and the summaries against hand-computed values.
func TestRunAlternates(t *testing.T) {
	var order []string
	calls := map[string]int{}
	// A's rate is 10, 20, 30, 40 on its calls; B's 5, 5, 10, 8.
	rates := map[string][]float64{"A": {10, 20, 30, 40}, "B": {5, 5, 10, 8}}
	side := func(name string) Side {
		return Side{Name: name, Run: func(context.Context) (map[string]float64, error) {
			v := rates[name][calls[name]]
			calls[name]++
			return map[string]float64{"rate": v}, nil
		}}
	}
	var progress []string
	cfg := Config{Rounds: 3, Warmup: 1, Progress: func(round, s int) {
		progress = append(progress, fmt.Sprintf("%d:%d", round, s))
		order = append(order, []string{"A", "B"}[s])
	}}
	res, err := Run(context.Background(), cfg, []Side{side("A"), side("B")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A", "B", "A", "B", "A", "B", "A", "B"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if want := []string{"-1:0", "-1:1", "0:0", "0:1", "1:0", "1:1", "2:0", "2:1"}; !reflect.DeepEqual(progress, want) {
		t.Errorf("progress %v, want %v", progress, want)
	}
	// Recorded: A 20, 30, 40; B 5, 10, 8 → ratios 4, 3, 5.
	got, ok := res.Ratio(0, "rate", 1, "rate")
	if want := (Summary{Median: 4, Min: 3, Max: 5, N: 3}); !ok || got != want {
		t.Errorf("Ratio = %+v, %v; want %+v", got, ok, want)
	}
	gotA, ok := res.Rate(0, "rate")
	if want := (Summary{Median: 30, Min: 20, Max: 40, N: 3}); !ok || gotA != want {
		t.Errorf("Rate = %+v, %v; want %+v", gotA, ok, want)
	}
	if _, ok := res.Rate(0, "absent"); ok {
		t.Error("Rate of an absent metric reported ok")
	}
	if s := got.String(); s != "4.00 (3.00–5.00)" {
		t.Errorf("String() = %q", s)
	}
}

// TestSummarize checks odd and even counts.
func TestSummarize(t *testing.T) {
	tests := []struct {
		xs   []float64
		want Summary
	}{
		{[]float64{2}, Summary{2, 2, 2, 1}},
		{[]float64{3, 1, 2}, Summary{2, 1, 3, 3}},
		{[]float64{4, 1, 3, 2}, Summary{2.5, 1, 4, 4}},
	}
	for _, tt := range tests {
		if got := Summarize(tt.xs); got != tt.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.xs, got, tt.want)
		}
	}
}

// TestRunErrors checks the argument checks and that a failing side is
// named with its round.
func TestRunErrors(t *testing.T) {
	ok := Side{Name: "ok", Run: func(context.Context) (map[string]float64, error) { return map[string]float64{"r": 1}, nil }}
	n := 0
	failSecond := Side{Name: "torch", Run: func(context.Context) (map[string]float64, error) {
		n++
		if n == 3 {
			return nil, errors.New("boom")
		}
		return map[string]float64{"r": 1}, nil
	}}
	tests := []struct {
		name  string
		cfg   Config
		sides []Side
		want  string
	}{
		{"two rounds", Config{Rounds: 2}, []Side{ok}, "2 rounds, need at least 3"},
		{"negative warm-up", Config{Rounds: 3, Warmup: -1}, []Side{ok}, "negative warm-up"},
		{"no sides", Config{Rounds: 3}, nil, "no sides"},
		{"failing side", Config{Rounds: 3, Warmup: 1}, []Side{ok, failSecond}, "torch, round 2: boom"},
	}
	for _, tt := range tests {
		_, err := Run(context.Background(), tt.cfg, tt.sides)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, DefaultConfig(), []Side{ok}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
