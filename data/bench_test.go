package data

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// BenchmarkMathPairsPipeline reads GSM8K train (7,473 rows) from JSONL,
// builds one MetaMath-style pair per row and writes them as JSONL, which
// is the work of "smaug pairs metamath" per row; it reports rows/s.
func BenchmarkMathPairsPipeline(b *testing.B) {
	path := sharedtest.Path(b, "data/gsm8k/train.jsonl")
	out := filepath.Join(b.TempDir(), "pairs.jsonl")
	rows := 0
	for b.Loop() {
		rr, err := OpenRows(path, ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		w, err := CreatePairFile(out, FormatJSONL, nil)
		if err != nil {
			b.Fatal(err)
		}
		var dist Distribution
		for {
			row, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
			pairs, _, err := MathPairs(row, MathOptions{PerExample: 1, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range pairs {
				dist.Add(NormalizedEditDistance(p.Chosen.(string), p.Rejected.(string)))
				if err := w.Write(p); err != nil {
					b.Fatal(err)
				}
			}
		}
		rr.Close()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	os.Remove(out)
}
