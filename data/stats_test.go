package data

import (
	"math"
	"strings"
	"testing"
)

// wordEncoder gives each distinct space-separated word an id.
type wordEncoder map[string]int

func (w wordEncoder) Encode(text string, _ bool) []int {
	var ids []int
	for _, f := range strings.Fields(text) {
		if _, ok := w[f]; !ok {
			w[f] = len(w)
		}
		ids = append(ids, w[f])
	}
	return ids
}

func TestFileStats(t *testing.T) {
	path := writeFile(t, "p.jsonl", []byte(`{"prompt":"p","chosen":"a b c d","rejected":"a b x d"}
{"prompt":"p","chosen":"one two","rejected":"one"}
{"prompt":"p","chosen":"x"}
`))
	if _, err := FileStats(path, nil, nil, false); err == nil || err.Error() != path+`:3: field "rejected": missing` {
		t.Fatalf("error %v", err)
	}
	r, err := FileStats(path, nil, wordEncoder{}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Characters: 1/7 and 4/7 ("one two" vs "one"); tokens: 1/4 and 1/2.
	if r.Examples != 3 || r.Pairs != 2 || r.Skipped[`field "rejected": missing`] != 1 {
		t.Errorf("counts %+v", r)
	}
	if math.Abs(r.CharEditDistance.Mean-(1.0/7+4.0/7)/2) > 1e-12 || r.TokenEditDistance == nil || math.Abs(r.TokenEditDistance.Mean-0.375) > 1e-12 {
		t.Errorf("means %v, %+v; want %v and 0.375", r.CharEditDistance.Mean, r.TokenEditDistance, (1.0/7+4.0/7)/2)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"skipped: 1", "normalised token edit distance", "mean 0.3571"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
