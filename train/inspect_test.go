package train

import (
	"strings"
	"testing"
)

// TestCheckData constructs each situation a data check refuses, and shows
// that allowing the check by name lets the data through.
func TestCheckData(t *testing.T) {
	const bos, eos, eot = 1, 2, 9
	good := func(line int) Example {
		return Example{Prompt: []int{bos, 5, 6}, Chosen: []int{7, 8, eos}, Rejected: []int{8, 7, eot}, Source: "d.jsonl", Line: line}
	}
	checks := DataChecks{BOS: bos, EOS: []int{eos, eot}, MaxLength: 10, MaxTruncatedShare: 0.25}
	for _, tc := range []struct {
		name  string
		edit  func(e *Example)
		stats LoadStats
		want  string // the check refused, "" for none
		where string
	}{
		{"clean", func(e *Example) {}, LoadStats{}, "", ""},
		{"no EOS", func(e *Example) { e.Chosen = []int{7, 8} }, LoadStats{}, CheckNoEOS, "chosen ends with token 8"},
		{"no EOS, cut by max length", func(e *Example) { e.Chosen = []int{7, 8, 7, 8, 7, 8, 7} }, LoadStats{}, "", ""},
		{"end of turn in prompt", func(e *Example) { e.Prompt = []int{bos, 5, eot} }, LoadStats{}, CheckEOTInPrompt, "the prompt ends with token 9"},
		{"identical pair", func(e *Example) { e.Rejected = []int{7, 8, eos} }, LoadStats{}, CheckIdenticalPair, "3 tokens"},
		{"double BOS", func(e *Example) { e.Prompt = []int{bos, bos, 5} }, LoadStats{}, CheckDoubleBOS, "starts [1 1]"},
		{"truncation over the share", func(e *Example) {}, LoadStats{TruncatedCompletion: 3}, CheckTruncation, "3 of 8 completions (37.5%)"},
		{"truncation within the share", func(e *Example) {}, LoadStats{TruncatedCompletion: 2}, "", ""},
	} {
		exs := []Example{good(1), good(2), good(3), good(4)}
		tc.edit(&exs[2])
		issues := CheckData(exs, tc.stats, checks)
		if tc.want == "" {
			if len(issues) != 0 {
				t.Errorf("%s: refused: %v", tc.name, issues[0])
			}
			continue
		}
		if len(issues) != 1 || issues[0].Check != tc.want || !strings.Contains(issues[0].Msg, tc.where) {
			t.Errorf("%s: got %v, want one %q issue mentioning %q", tc.name, issues, tc.want, tc.where)
			continue
		}
		if tc.want != CheckTruncation && !strings.Contains(issues[0].Msg, "d.jsonl:3") {
			t.Errorf("%s: %q does not name the row", tc.name, issues[0].Msg)
		}
		allowed := checks
		allowed.Allow = []string{tc.want}
		if got := CheckData(exs, tc.stats, allowed); len(got) != 0 {
			t.Errorf("%s: still refused when allowed: %v", tc.name, got[0])
		}
	}
}

// TestFormatExample: the prompt/completion boundary, the loss mask and the
// BOS/EOS flags, checked by hand on one pair.
func TestFormatExample(t *testing.T) {
	e := Example{Prompt: []int{1, 5, 6}, Chosen: []int{7, 2}, Rejected: []int{8}, Source: "d.jsonl", Line: 4}
	got := FormatExample(e, DataChecks{BOS: 1, EOS: []int{2}}, func(ids []int) string { return strings.Repeat("x", len(ids)) })
	for _, want := range []string{
		"example d.jsonl:4", "prompt: 3 tokens, BOS first: yes",
		"--- chosen: 3 prompt tokens (no loss) | 2 completion tokens (loss), EOS last: yes",
		`text: "xxx" | "xx"`, "ids:  1 5 6 | 7 2", "loss: 0 0 0 | 1 1\n",
		"--- rejected: 3 prompt tokens (no loss) | 1 completion tokens (loss), EOS last: no", "ids:  1 5 6 | 8",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
