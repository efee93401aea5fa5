package data

import (
	"strings"
	"testing"
)

// TestMathPairsFewShot checks the GSM8K few-shot layout of MathPairs
// against prompts written out by hand (SPEC §3: "Question: " + q +
// "\nAnswer:", few-shot target " " + the full rationale, examples joined by
// "\n\n", then "\n\n" + the query): the row itself is never an example
// (by id and file, or by identical text from another file), a missing
// pool gives the bare GSM8K query, and the rejected completion is the
// zero-shot one with the leading space.
func TestMathPairsFewShot(t *testing.T) {
	gsm := func(src string, line int, q, a string) Row {
		return Row{Source: src, Line: line, Fields: map[string]any{"question": q, "answer": a}}
	}
	row := gsm("train.jsonl", 1, "Tom has 2 red and 3 blue pens. How many pens does he have after doubling them?",
		"Tom has 2 + 3 = <<2+3=5>>5 pens.\nDoubled: 5 * 2 = <<5*2=10>>10.\n#### 10")
	a := gsm("train.jsonl", 2, "What is 4 + 4?", "4 + 4 = <<4+4=8>>8\n#### 8")
	b := gsm("train.jsonl", 3, "What is 9 - 1?", "9 - 1 = <<9-1=8>>8\n#### 8")
	dup := gsm("other.jsonl", 7, row.Fields["question"].(string), row.Fields["answer"].(string))
	items := func(rows ...Row) []MCItem {
		var out []MCItem
		for _, r := range rows {
			it, err := MathItem(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, it)
		}
		return out
	}
	const (
		qRow = "Question: Tom has 2 red and 3 blue pens. How many pens does he have after doubling them?\nAnswer:"
		exA  = "Question: What is 4 + 4?\nAnswer: 4 + 4 = <<4+4=8>>8\n#### 8"
		exB  = "Question: What is 9 - 1?\nAnswer: 9 - 1 = <<9-1=8>>8\n#### 8"
	)
	cases := []struct {
		name   string
		pool   []MCItem
		shots  int
		seed   int64
		prompt string
	}{
		// Both orders appear over the seeds; each is written out by hand.
		{"2-shot, seed 1", items(row, a, b), 2, 1, exA + "\n\n" + exB + "\n\n" + qRow},
		{"2-shot, seed 3", items(a, row, b), 2, 3, exB + "\n\n" + exA + "\n\n" + qRow},
		{"same text from another file is not an example", items(dup, b), 2, 1, exB + "\n\n" + qRow},
		{"1-shot", items(row, a), 1, 1, exA + "\n\n" + qRow},
		{"no pool: the bare GSM8K query", nil, 2, 1, qRow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pool *FewShotPool
			if c.pool != nil {
				pool = NewFewShotPool(TaskGSM8K, c.pool)
			}
			zero, _, err := MathPairs(row, MathOptions{Seed: c.seed, PerExample: 1})
			if err != nil || len(zero) != 1 {
				t.Fatalf("zero-shot: %d pairs, %v", len(zero), err)
			}
			got, reason, err := MathPairs(row, MathOptions{Seed: c.seed, PerExample: 1, Shots: c.shots, FewShot: pool})
			if err != nil || len(got) != 1 {
				t.Fatalf("few-shot: %d pairs, %q, %v", len(got), reason, err)
			}
			p, z := got[0], zero[0]
			if Text(p.Prompt) != c.prompt {
				t.Errorf("prompt\n%q\nwant\n%q", p.Prompt, c.prompt)
			}
			if want := " " + row.Fields["answer"].(string); Text(p.Chosen) != want {
				t.Errorf("chosen %q, want %q", p.Chosen, want)
			}
			if want := " " + Text(z.Rejected); Text(p.Rejected) != want {
				t.Errorf("rejected %q, want the zero-shot one with a leading space %q", p.Rejected, want)
			}
			if !strings.HasPrefix(Text(p.Rejected), " Tom has 2 + 3 = <<2+3=5>>") || Text(p.Rejected) == Text(p.Chosen) {
				t.Errorf("rejected %q: want the intermediate result 5 changed", p.Rejected)
			}
			if Text(z.Prompt) != row.Fields["question"].(string) || Text(z.Chosen) != row.Fields["answer"].(string) {
				t.Errorf("zero-shot pair %+v: want the bare question and solution", z)
			}
		})
	}
}
