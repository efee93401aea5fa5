package eval

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Protocol names a version of the evaluation mechanics.
type Protocol string

const (
	// LeaderboardV1 is lm-evaluation-harness commit b281b09 as the Open LLM
	// Leaderboard v1 ran it: MMLU is the unweighted mean of its 57 subjects,
	// GSM8K stops at ":", "Question:" and "Question" and scores the first
	// "#### N".
	LeaderboardV1 Protocol = "leaderboard-v1"
	// HarnessV04 is lm-evaluation-harness v0.4: MMLU weighted by subject
	// size, GSM8K stops at "Question:", "</s>" and "<|im_end|>" and reports
	// strict-match and flexible-extract exact match.
	HarnessV04 Protocol = "harness-v0.4"
)

// Kind is how a task turns a document into requests and scores them.
type Kind int

const (
	// MultipleChoice scores " "+choice after the context for every choice:
	// acc (highest log-likelihood is gold) and acc_norm (highest
	// log-likelihood per character of the choice).
	MultipleChoice Kind = iota
	// MC2 scores " "+answer for every answer, true answers first: the
	// probability mass of the true answers over all (TruthfulQA mc2).
	MC2
	// Partial scores the same continuation after one context per option
	// and picks the highest (Winogrande's partial scoring): acc.
	Partial
	// Generate continues the context greedily until a stop string and
	// compares the extracted answer with the gold one (GSM8K): exact_match.
	Generate
)

// Doc is one benchmark document, already mapped to what the prompt needs.
type Doc struct {
	// Index is the document's position in its source file (0-based).
	Index int
	// Text is the query (the harness's doc_to_text).
	Text string
	// Target is the gold answer as a few-shot example shows it, including
	// its leading space (doc_to_target).
	Target string
	// Choices are the continuations scored for MultipleChoice and MC2,
	// without the leading space the request adds.
	Choices []string
	// Labels mark the true answers of an MC2 document (1 true, 0 false);
	// scoring counts those before the first 0 as true.
	Labels []int
	// Contexts are Partial's per-option contexts (the sentence up to the
	// blank, with the option filled in).
	Contexts []string
	// Gold is the index of the correct choice or option.
	Gold int
	// Answer is a Generate document's full gold answer.
	Answer string
	// Question and Correct are the plain question and its correct answer
	// (TruthfulQA: the mc1 answer; GSM8K: the rationale before "####"),
	// the text the contamination check scores.
	Question, Correct string
}

// same reports whether two documents hold the same content, as the
// harness's dict comparison does when it drops a document from its own
// few-shot set.
func (d *Doc) same(o *Doc) bool {
	if d.Text != o.Text || d.Target != o.Target || len(d.Choices) != len(o.Choices) {
		return false
	}
	for i := range d.Choices {
		if d.Choices[i] != o.Choices[i] {
			return false
		}
	}
	return true
}

// Task is one benchmark as data: its documents, its prompt pieces, how
// few-shot examples are drawn and how documents are scored.
type Task struct {
	// Name is the harness's task name ("arc_challenge",
	// "hendrycksTest-abstract_algebra" under leaderboard-v1,
	// "mmlu_abstract_algebra" under harness-v0.4, ...).
	Name string
	// Group is the leaderboard column the task belongs to ("mmlu" for the
	// 57 subjects), or "" when the task is its own column.
	Group string
	// Kind selects the requests and the metric.
	Kind Kind
	// Description is put before everything, followed by "\n\n" ("" for none).
	Description string
	// NumFewshot is the number of examples before the document.
	NumFewshot int
	// Docs are the documents scored (test split if it exists, else
	// validation), in file order.
	Docs []Doc
	// FewshotDocs are the training documents examples are sampled from; when
	// empty, examples are sampled (k+1, the document itself dropped) from
	// Docs, as the harness does for tasks without a training split.
	FewshotDocs []Doc
	// FirstN takes the first NumFewshot FewshotDocs in order instead of a
	// random sample (MMLU's dev rows).
	FirstN bool
	// Until are a Generate task's stop strings; MaxGenTokens caps the
	// generation.
	Until        []string
	MaxGenTokens int
	// Protocol is the mechanics the task follows.
	Protocol Protocol
	// Version is the task's version in the harness.
	Version int
}

// Request is one unit of model work: a log-likelihood of Continuation
// after Context, or (Generate) a greedy generation from Context.
type Request struct {
	Context      string
	Continuation string
}

// Instance is one document with its assembled context and requests.
type Instance struct {
	// DocID is the document's position in the shuffled order.
	DocID    int
	Doc      *Doc
	Context  string
	Requests []Request
}

// Result is the model's answer to one request: the log-likelihood of the
// continuation and whether greedy decoding would have produced it, or the
// generated text.
type Result struct {
	LogLikelihood float64 `json:"loglikelihood,omitempty"`
	Greedy        bool    `json:"is_greedy,omitempty"`
	Generation    string  `json:"generation,omitempty"`
}

// Instances orders the documents, keeps the first limit (all when
// limit ≤ 0) and assembles each one's few-shot context and requests,
// drawing examples in document order. Under LeaderboardV1 the documents are
// shuffled with random.Random(42) and the same generator draws the
// examples, as the b281b09 evaluator does; under HarnessV04 the documents
// keep their order and the examples come from random.Random(1234), v0.4's
// default few-shot seed.
func (t *Task) Instances(limit int) []Instance {
	order := perm(len(t.Docs))
	var rnd *PyRandom
	if t.Protocol == HarnessV04 {
		rnd = NewPyRandom(1234)
	} else {
		rnd = NewPyRandom(42)
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	if limit > 0 && limit < len(order) {
		order = order[:limit]
	}
	out := make([]Instance, len(order))
	for i, di := range order {
		doc := &t.Docs[di]
		ctx := t.Context(doc, rnd)
		out[i] = Instance{DocID: i, Doc: doc, Context: ctx, Requests: t.requests(doc, ctx)}
	}
	return out
}

// Context assembles the description, the few-shot examples and the query of
// doc: description + "\n\n", the examples (text + target) joined by "\n\n",
// "\n\n", the query. rnd draws the examples (it is not used for FirstN or
// zero-shot tasks).
func (t *Task) Context(doc *Doc, rnd *PyRandom) string {
	var b strings.Builder
	if t.Description != "" {
		b.WriteString(t.Description + "\n\n")
	}
	if t.NumFewshot > 0 {
		for _, ex := range t.fewshot(doc, rnd) {
			b.WriteString(ex.Text + ex.Target + "\n\n")
		}
	}
	b.WriteString(doc.Text)
	return b.String()
}

func (t *Task) fewshot(doc *Doc, rnd *PyRandom) []*Doc {
	k := t.NumFewshot
	var out []*Doc
	switch {
	case t.FirstN:
		for i := 0; i < k && i < len(t.FewshotDocs); i++ {
			out = append(out, &t.FewshotDocs[i])
		}
	case len(t.FewshotDocs) > 0:
		for _, i := range rnd.Sample(len(t.FewshotDocs), min(k, len(t.FewshotDocs))) {
			out = append(out, &t.FewshotDocs[i])
		}
	default:
		for _, i := range rnd.Sample(len(t.Docs), min(k+1, len(t.Docs))) {
			if d := &t.Docs[i]; !d.same(doc) && len(out) < k {
				out = append(out, d)
			}
		}
	}
	return out
}

func (t *Task) requests(doc *Doc, ctx string) []Request {
	var rs []Request
	switch t.Kind {
	case MultipleChoice, MC2:
		for _, c := range doc.Choices {
			rs = append(rs, Request{Context: ctx, Continuation: " " + c})
		}
	case Partial:
		// The few-shot part stays; the document's own gold-filled context
		// is replaced by each option's (the harness's append_context).
		head := strings.TrimSuffix(ctx, doc.Text)
		for _, c := range doc.Contexts {
			rs = append(rs, Request{Context: head + c, Continuation: doc.Target})
		}
	case Generate:
		rs = append(rs, Request{Context: ctx})
	}
	return rs
}

// Score computes the document's metric values from its requests' results
// (in request order).
func (t *Task) Score(inst *Instance, res []Result) map[string]float64 {
	doc := inst.Doc
	switch t.Kind {
	case MultipleChoice:
		best, bestNorm := 0, 0
		for i := range res {
			if res[i].LogLikelihood > res[best].LogLikelihood {
				best = i
			}
			if norm(res[i].LogLikelihood, doc.Choices[i]) > norm(res[bestNorm].LogLikelihood, doc.Choices[bestNorm]) {
				bestNorm = i
			}
		}
		return map[string]float64{"acc": b2f(best == doc.Gold), "acc_norm": b2f(bestNorm == doc.Gold)}
	case MC2:
		// As the harness does, the answers before the first 0 label are the
		// true ones and every answer after it false, whatever its label
		// (two mc_task.json items list a true answer after a false one).
		split := len(doc.Labels)
		for i, l := range doc.Labels {
			if l == 0 {
				split = i
				break
			}
		}
		var pt, pa float64
		for i := range res {
			p := math.Exp(res[i].LogLikelihood)
			pa += p
			if i < split {
				pt += p
			}
		}
		return map[string]float64{"mc2": pt / pa}
	case Partial:
		best := 0
		for i := range res {
			if res[i].LogLikelihood > res[best].LogLikelihood {
				best = i
			}
		}
		return map[string]float64{"acc": b2f(best == doc.Gold)}
	case Generate:
		gen := res[0].Generation
		if t.Protocol == HarnessV04 {
			gold := normalizeV04(doc.Answer)
			return map[string]float64{
				"exact_match,strict-match":     b2f(normalizeV04(StrictAnswer(gen)) == gold),
				"exact_match,flexible-extract": b2f(normalizeV04(FlexibleAnswer(gen)) == gold),
			}
		}
		return map[string]float64{"acc": b2f(GSM8KAnswer(gen) == GSM8KAnswer(doc.Answer))}
	}
	panic(fmt.Sprintf("eval: unknown task kind %d", t.Kind))
}

// norm is the log-likelihood per character of the choice (Python len:
// code points).
func norm(ll float64, choice string) float64 { return ll / float64(utf8.RuneCountInString(choice)) }

// perm returns 0, 1, …, n−1.
func perm(n int) []int {
	x := make([]int, n)
	for i := range x {
		x[i] = i
	}
	return x
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// InvalidAnswer is what the GSM8K extractors return when nothing matches.
const InvalidAnswer = "[invalid]"

var (
	gsm8kRe    = regexp.MustCompile(`#### (\-?[0-9\.\,]+)`)
	flexibleRe = regexp.MustCompile(`(-?[$0-9.,]{2,})|(-?[0-9]+)`)
)

// GSM8KAnswer extracts the answer as the leaderboard-v1 GSM8K task does:
// the first "#### N", stripped, commas removed; InvalidAnswer without one.
func GSM8KAnswer(s string) string {
	m := gsm8kRe.FindStringSubmatch(s)
	if m == nil {
		return InvalidAnswer
	}
	return strings.ReplaceAll(strings.TrimSpace(m[1]), ",", "")
}

// StrictAnswer is harness v0.4's strict-match filter: the first
// "#### N" capture, unchanged; InvalidAnswer without one.
func StrictAnswer(s string) string {
	m := gsm8kRe.FindStringSubmatch(s)
	if m == nil {
		return InvalidAnswer
	}
	return m[1]
}

// FlexibleAnswer is harness v0.4's flexible-extract filter: the last match
// of (-?[$0-9.,]{2,})|(-?[0-9]+), its first non-empty group; InvalidAnswer
// without one.
func FlexibleAnswer(s string) string {
	ms := flexibleRe.FindAllStringSubmatch(s, -1)
	if ms == nil {
		return InvalidAnswer
	}
	m := ms[len(ms)-1]
	if m[1] != "" {
		return m[1]
	}
	return m[2]
}

// v04Ignore are harness v0.4 GSM8K exact_match's regexes_to_ignore in
// order, with the replacement that makes Go's regexp act as Python's
// re.sub(pattern, "", s): Python's "$" also matches before a final
// newline, so "\.$" is written `\.(\n?)\z` and keeps the newline.
var v04Ignore = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`,`), ""},
	{regexp.MustCompile(`\$`), ""},
	{regexp.MustCompile(`(?s).*#### `), ""},
	{regexp.MustCompile(`\.(\n?)\z`), "$1"},
}

// normalizeV04 applies harness v0.4 GSM8K exact_match's regexes_to_ignore
// (",", "\$", "(?s).*#### ", "\.$") and then ignore_case to a prediction
// or the gold answer, as its exact_match (HF evaluate's) does.
func normalizeV04(s string) string {
	for _, r := range v04Ignore {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return strings.ToLower(s)
}
