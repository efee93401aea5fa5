package data

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// annotationResult matches a GSM8K calculator annotation's result, used as
// an independent count of the solutions with an intermediate calculation.
var annotationResult = regexp.MustCompile(`<<[^<>]*=([^<>=]*)>>`)

func hasIntermediateAnnotation(solution string) bool {
	gold, ok := GSM8KAnswer(solution)
	if !ok {
		return false
	}
	g, err := strconv.ParseFloat(gold, 64)
	if err != nil {
		return false
	}
	for _, m := range annotationResult.FindAllStringSubmatch(solution, -1) {
		v, err := strconv.ParseFloat(strings.TrimSpace(m[1]), 64)
		if err == nil && v != g {
			return true
		}
	}
	return false
}

// TestMathPairsGSM8KTrain is the acceptance check on GSM8K train:
// pairs for at least 95% of the solutions with an intermediate
// calculation, exactly one calculation result changed in each, text before
// it and the "####" line identical, and a median normalised character edit
// distance under 5%.
func TestMathPairsGSM8KTrain(t *testing.T) {
	path := sharedtest.Path(t, "data/gsm8k/train.jsonl")
	rr, err := OpenRows(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	var rows, withIntermediate, covered, pairs int
	var dist Distribution
	for {
		row, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		solution := row.Fields["answer"].(string)
		ps, _, err := MathPairs(row, MathOptions{PerExample: 2, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if hasIntermediateAnnotation(solution) {
			withIntermediate++
			if len(ps) > 0 {
				covered++
			}
		}
		for _, p := range ps {
			pairs++
			if p.Prompt != row.Fields["question"] || p.Chosen != solution {
				t.Fatalf("%s:%d: prompt or chosen is not the row's question and answer", path, row.Line)
			}
			checkOneNumberChanged(t, solution, p.Rejected.(string))
			dist.Add(NormalizedEditDistance(solution, p.Rejected.(string)))
		}
	}
	if rows != 7473 {
		t.Errorf("read %d rows, want 7473", rows)
	}
	coverage := float64(covered) / float64(withIntermediate)
	med := dist.Quantile(0.5)
	t.Logf("%d rows, %d with an intermediate annotation, %d of them paired (%.2f%%), %d pairs, median distance %.4f",
		rows, withIntermediate, covered, 100*coverage, pairs, med)
	if coverage < 0.95 {
		t.Errorf("pairs for %.2f%% of solutions with an intermediate calculation, want >= 95%%", 100*coverage)
	}
	if med >= 0.05 {
		t.Errorf("median normalised edit distance %.4f, want < 0.05", med)
	}
}
