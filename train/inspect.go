package train

import (
	"fmt"
	"slices"
	"strings"
)

// Data checks, by the name that allows each (DataChecks.Allow).
const (
	// CheckNoEOS: a completion that was not cut by MaxLength does not end
	// with an end-of-sequence token, so the model never learns to stop.
	CheckNoEOS = "no-eos"
	// CheckEOTInPrompt: a prompt ends with an end-of-turn or end-of-sequence
	// token, so the chat template closed the assistant's turn before the
	// completion (a generation prompt missing).
	CheckEOTInPrompt = "eot-in-prompt"
	// CheckTruncation: more than MaxTruncatedShare of the completions were
	// cut to fit MaxLength.
	CheckTruncation = "truncation"
	// CheckIdenticalPair: a pair's chosen and rejected completions are the
	// same tokens (its preference loss has no gradient to learn from).
	CheckIdenticalPair = "identical-pairs"
	// CheckDoubleBOS: a sequence starts with two BOS tokens (the template's
	// and the tokenizer's).
	CheckDoubleBOS = "double-bos"
)

// DataChecks are the checks run on the training examples before anything
// is loaded; each refuses the data unless allowed by name.
type DataChecks struct {
	// BOS is the BOS token id (-1: none) and EOS the end-of-sequence and
	// end-of-turn ids (the model config's eos_token_id list and the
	// tokenizer's EOS).
	BOS int
	EOS []int
	// MaxLength is the length completions were cut to: a sequence of this
	// length was cut and is excused from the EOS check.
	MaxLength int
	// MaxTruncatedShare is the largest share of completions that may be
	// cut to fit MaxLength.
	MaxTruncatedShare float64
	// Allow names the checks not to enforce (CheckNoEOS, …).
	Allow []string
}

// DefaultMaxTruncatedShare is the share of cut completions accepted by
// default.
const DefaultMaxTruncatedShare = 0.05

// DataIssue is a refusal of the training data by one check.
type DataIssue struct {
	// Check is the name that allows it (DataChecks.Allow).
	Check string
	// Msg says what was found, with counts and the first examples' file and
	// line.
	Msg string
}

func (e *DataIssue) Error() string {
	return fmt.Sprintf("%s (check %q)", e.Msg, e.Check)
}

// CheckData runs the data checks on the examples (with the loading stats
// for truncation) and returns what every check not allowed found, nil when
// the data passes. The caller refuses the data on them, or, for token-id
// data whose formatting is the user's own, may only warn.
func CheckData(exs []Example, stats LoadStats, c DataChecks) []*DataIssue {
	allowed := func(name string) bool { return slices.Contains(c.Allow, name) }
	isEOS := func(id int) bool { return slices.Contains(c.EOS, id) }
	type finding struct {
		n     int
		where []string
	}
	found := map[string]*finding{}
	note := func(check string, e Example, what string) {
		f := found[check]
		if f == nil {
			f = &finding{}
			found[check] = f
		}
		f.n++
		if len(f.where) < 3 {
			f.where = append(f.where, fmt.Sprintf("%s (%s)", where(e), what))
		}
	}
	completions := 0
	for _, e := range exs {
		comps := [][]int{e.Chosen}
		if e.Rejected != nil {
			comps = append(comps, e.Rejected)
		}
		for k, comp := range comps {
			completions++
			cut := c.MaxLength > 0 && len(e.Prompt)+len(comp) >= c.MaxLength
			if len(c.EOS) > 0 && len(comp) > 0 && !cut && !isEOS(comp[len(comp)-1]) {
				note(CheckNoEOS, e, fmt.Sprintf("%s ends with token %d", []string{"chosen", "rejected"}[k], comp[len(comp)-1]))
			}
		}
		if len(c.EOS) > 0 && len(e.Prompt) > 0 && isEOS(e.Prompt[len(e.Prompt)-1]) {
			note(CheckEOTInPrompt, e, fmt.Sprintf("the prompt ends with token %d", e.Prompt[len(e.Prompt)-1]))
		}
		if e.Rejected != nil && slices.Equal(e.Chosen, e.Rejected) {
			note(CheckIdenticalPair, e, fmt.Sprintf("%d tokens", len(e.Chosen)))
		}
		if c.BOS >= 0 && len(e.Prompt) >= 2 && e.Prompt[0] == c.BOS && e.Prompt[1] == c.BOS {
			note(CheckDoubleBOS, e, fmt.Sprintf("starts %v", e.Prompt[:2]))
		}
	}
	why := map[string]string{
		CheckNoEOS:         "completions do not end with an end-of-sequence token %v, so the model will not learn to stop",
		CheckEOTInPrompt:   "prompts end with an end-of-turn token %v: the chat template closes the turn before the completion (render prompts with the generation prompt)",
		CheckIdenticalPair: "pairs have the same chosen and rejected tokens: nothing to prefer",
		CheckDoubleBOS:     "sequences start with two BOS tokens: the chat template and the tokenizer both add BOS",
	}
	var out []*DataIssue
	for _, check := range []string{CheckDoubleBOS, CheckEOTInPrompt, CheckNoEOS, CheckIdenticalPair} {
		f := found[check]
		if f == nil || allowed(check) {
			continue
		}
		msg := why[check]
		if strings.Contains(msg, "%v") {
			msg = fmt.Sprintf(msg, c.EOS)
		}
		out = append(out, &DataIssue{check, fmt.Sprintf("%d %s; first: %s", f.n, msg, strings.Join(f.where, ", "))})
	}
	if completions > 0 && !allowed(CheckTruncation) {
		share := float64(stats.TruncatedCompletion) / float64(completions)
		if share > c.MaxTruncatedShare {
			out = append(out, &DataIssue{CheckTruncation, fmt.Sprintf("%d of %d completions (%.1f%%) were cut to fit the maximum length %d, more than the %.1f%% allowed: raise the maximum length or drop the long rows",
				stats.TruncatedCompletion, completions, 100*share, c.MaxLength, 100*c.MaxTruncatedShare)})
		}
	}
	return out
}

// FormatExample shows an example as the model sees it: the rendered text
// (when decode is given), the token ids with the prompt/completion boundary
// marked "|", which tokens carry the loss, and whether BOS and EOS are
// present.
func FormatExample(e Example, c DataChecks, decode func([]int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "example %s\n", where(e))
	comps := []struct {
		name string
		ids  []int
	}{{"chosen", e.Chosen}}
	if e.Rejected != nil {
		comps = append(comps, struct {
			name string
			ids  []int
		}{"rejected", e.Rejected})
	}
	bos := c.BOS >= 0 && len(e.Prompt) > 0 && e.Prompt[0] == c.BOS
	fmt.Fprintf(&b, "prompt: %d tokens, BOS first: %v\n", len(e.Prompt), yesNo(bos))
	for _, cp := range comps {
		eos := len(cp.ids) > 0 && slices.Contains(c.EOS, cp.ids[len(cp.ids)-1])
		fmt.Fprintf(&b, "\n--- %s: %d prompt tokens (no loss) | %d completion tokens (loss), EOS last: %s\n", cp.name, len(e.Prompt), len(cp.ids), yesNo(eos))
		if decode != nil {
			fmt.Fprintf(&b, "text: %q | %q\n", decode(e.Prompt), decode(cp.ids))
		}
		fmt.Fprintf(&b, "ids:  %s | %s\n", joinInts(e.Prompt), joinInts(cp.ids))
		fmt.Fprintf(&b, "loss: %s | %s\n", strings.TrimSpace(strings.Repeat("0 ", len(e.Prompt))), strings.TrimSpace(strings.Repeat("1 ", len(cp.ids))))
	}
	return b.String()
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func joinInts(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, " ")
}
