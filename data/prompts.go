package data

// The evaluation prompt formats of the Open LLM Leaderboard v1
// (lm-evaluation-harness commit b281b09, SPEC.md §3). Pair builders and
// evaluators both use these, so training and evaluation prompts agree.

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FewShotContext assembles a harness context: description + "\n\n" (when
// the description is not empty), the few-shot examples (each text +
// target) joined by "\n\n", "\n\n", then the query.
func FewShotContext(description string, shots []string, query string) string {
	var b strings.Builder
	if description != "" {
		b.WriteString(description)
		b.WriteString("\n\n")
	}
	for _, s := range shots {
		b.WriteString(s)
		b.WriteString("\n\n")
	}
	b.WriteString(query)
	return b.String()
}

// ARCQuery is the ARC query: "Question: " + question + "\nAnswer:".
// Choices are scored as the continuation " " + choice text.
func ARCQuery(question string) string {
	return "Question: " + question + "\nAnswer:"
}

// ARCGold returns the index of answerKey among labels, mapping the numeric
// keys "1"–"5" to "A"–"E" as the harness does when the labels are letters.
func ARCGold(answerKey string, labels []string) (int, error) {
	key := strings.TrimSpace(answerKey)
	for pass := 0; pass < 2; pass++ {
		for i, l := range labels {
			if strings.TrimSpace(l) == key {
				return i, nil
			}
		}
		if len(key) == 1 && key[0] >= '1' && key[0] <= '5' {
			key = string(rune('A' + key[0] - '1'))
			continue
		}
		break
	}
	return 0, fmt.Errorf("answer key %q is not one of the labels %q", answerKey, labels)
}

var hellaSwagBrackets = regexp.MustCompile(`\[.*?\]`)

// HellaSwagPreprocess is the harness's preprocess: strip surrounding
// whitespace, replace " [title]" with ". ", delete every "[...]", then
// replace each "  " with " " (one pass, as Python's str.replace).
func HellaSwagPreprocess(text string) string {
	text = PyStrip(text)
	text = strings.ReplaceAll(text, " [title]", ". ")
	text = hellaSwagBrackets.ReplaceAllString(text, "")
	return strings.ReplaceAll(text, "  ", " ")
}

// HellaSwagQuery is the HellaSwag query:
// preprocess(activityLabel + ": " + ctxA + " " + PyCapitalize(ctxB)).
// Endings are scored as " " + HellaSwagPreprocess(ending).
func HellaSwagQuery(activityLabel, ctxA, ctxB string) string {
	return HellaSwagPreprocess(activityLabel + ": " + ctxA + " " + PyCapitalize(ctxB))
}

// PyCapitalize is Python's str.capitalize: the first character in title
// case and the rest lower-cased.
func PyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[n:])
}

// PyStrip is Python's str.strip() with no argument: it removes leading and
// trailing whitespace as str.isspace defines it (Unicode White_Space plus
// the separators U+001C–U+001F).
func PyStrip(s string) string {
	return strings.TrimFunc(s, pyIsSpace)
}

func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// MMLUDescription is the MMLU task description for a subject such as
// "high_school_biology": "The following are multiple choice questions
// (with answers) about high school biology."
func MMLUDescription(subject string) string {
	return "The following are multiple choice questions (with answers) about " +
		strings.Join(strings.Split(subject, "_"), " ") + "."
}

// MMLUQuery is the MMLU query: the stripped question, one "X. choice" line
// per choice lettered from A, then "Answer:". Choices are scored as the
// continuations " A", " B", ….
func MMLUQuery(question string, choices []string) string {
	var b strings.Builder
	b.WriteString(PyStrip(question))
	b.WriteString("\n")
	for i, c := range choices {
		b.WriteString(ChoiceLetter(i))
		b.WriteString(". ")
		b.WriteString(c)
		b.WriteString("\n")
	}
	b.WriteString("Answer:")
	return b.String()
}

// ChoiceLetter returns "A" for 0, "B" for 1, and so on.
func ChoiceLetter(i int) string {
	return string(rune('A' + i))
}

// WinograndeContext is Winogrande's partial context for one option: the
// sentence up to its first "_", followed by the option.
func WinograndeContext(sentence, option string) (string, error) {
	i := strings.Index(sentence, "_")
	if i < 0 {
		return "", fmt.Errorf("sentence has no \"_\" blank: %q", sentence)
	}
	return sentence[:i] + option, nil
}

// WinograndeTarget is Winogrande's partial target: " " + the stripped
// rest of the sentence after its first "_". It is scored after each
// option's context.
func WinograndeTarget(sentence string) (string, error) {
	i := strings.Index(sentence, "_")
	if i < 0 {
		return "", fmt.Errorf("sentence has no \"_\" blank: %q", sentence)
	}
	return " " + PyStrip(sentence[i+1:]), nil
}

// GSM8KQuery is the GSM8K query: "Question: " + question + "\nAnswer:".
// Few-shot targets are " " + the full rationale.
func GSM8KQuery(question string) string {
	return "Question: " + question + "\nAnswer:"
}

var gsm8kAnswer = regexp.MustCompile(`#### (\-?[0-9\.\,]+)`)

// GSM8KAnswer extracts the answer the way the leaderboard's GSM8K task
// does: the first "#### N" with N made of digits, "-", "." and ",", commas
// removed. ok is false when there is none.
func GSM8KAnswer(text string) (answer string, ok bool) {
	m := gsm8kAnswer.FindStringSubmatch(text)
	if m == nil {
		return "", false
	}
	return strings.ReplaceAll(m[1], ",", ""), true
}
