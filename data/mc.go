package data

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
)

// Task names a multiple-choice benchmark layout.
type Task string

// The multiple-choice tasks DecodeMC understands, and TaskGSM8K.
const (
	// TaskARC reads ARC: Hugging Face (question, choices{text,label},
	// answerKey), the original release (question{stem,choices[{text,label}]},
	// answerKey), or llm-foundry ICL (query "Question: …", choices, gold).
	TaskARC Task = "arc"
	// TaskHellaSwag reads HellaSwag: Hugging Face (activity_label, ctx_a,
	// ctx_b, endings, label) or llama.cpp text (activity_label, ctx, label,
	// endings).
	TaskHellaSwag Task = "hellaswag"
	// TaskMMLU reads MMLU: Hugging Face (question, choices, answer, and
	// subject) or the per-subject CSVs (question, choice0…choice3, answer,
	// subject from the file name "<subject>_dev.csv").
	TaskMMLU Task = "mmlu"
	// TaskWinogrande reads Winogrande: Hugging Face (sentence, option1,
	// option2, answer "1"/"2") or llm-foundry ICL (context_options,
	// continuation, gold).
	TaskWinogrande Task = "winogrande"
	// TaskMC reads generic multiple choice (llm-foundry ICL): query,
	// choices, gold (an index or a letter). The query is used verbatim.
	TaskMC Task = "mc"
	// TaskGSM8K names the GSM8K few-shot layout of MathItem's items, for
	// NewFewShotPool; DecodeMC does not read it (math rows give pairs
	// through MathPairs).
	TaskGSM8K Task = "gsm8k"
)

// MCItem is one multiple-choice question in evaluation form: for each
// choice, the context it is scored after and the continuation scored.
type MCItem struct {
	// ID identifies the question: the row's id field, else "file:line".
	ID     string
	Source string
	Line   int
	// Description is the task description placed before the few-shot
	// examples (MMLU's subject line), or "".
	Description string
	// Contexts holds each choice's context; they are all equal except for
	// Winogrande's partial scoring.
	Contexts []string
	// Targets holds each choice's continuation, leading space included.
	Targets []string
	// Gold is the index of the correct choice.
	Gold int
}

// FewShotText is the item as a few-shot example: its gold context
// followed by the gold continuation.
func (it MCItem) FewShotText() string {
	return it.Contexts[it.Gold] + it.Targets[it.Gold]
}

// MCOptions tunes DecodeMC.
type MCOptions struct {
	// Fields maps canonical names to the file's columns.
	Fields FieldMap
	// Delimiter is put between a TaskMC query and each choice; "" means " ".
	Delimiter string
}

// DecodeMC reads one multiple-choice item of the given task from row,
// recognising the layouts listed with each Task.
func DecodeMC(task Task, row Row, opts MCOptions) (MCItem, error) {
	m := opts.Fields
	it := MCItem{Source: row.Source, Line: row.Line}
	if id, ok := row.Fields[m.Column("id")].(string); ok && id != "" {
		it.ID = id
	} else if id, ok := row.Fields[m.Column("ind")].(float64); ok {
		it.ID = strconv.Itoa(int(id))
	} else {
		it.ID = filepath.Base(row.Source) + ":" + strconv.Itoa(row.Line)
	}
	var err error
	switch task {
	case TaskARC:
		err = decodeARC(row, m, &it)
	case TaskHellaSwag:
		err = decodeHellaSwag(row, m, &it)
	case TaskMMLU:
		err = decodeMMLU(row, m, &it)
	case TaskWinogrande:
		err = decodeWinogrande(row, m, &it)
	case TaskMC:
		d := opts.Delimiter
		if d == "" {
			d = " "
		}
		err = decodeGenericMC(row, m, d, &it)
	default:
		return it, fmt.Errorf("unknown task %q", task)
	}
	if err != nil {
		return it, err
	}
	if len(it.Targets) < 2 {
		return it, fieldErr(row, "", "%d choices, want at least 2", len(it.Targets))
	}
	return it, nil
}

// sameContext gives every choice the same context.
func sameContext(ctx string, n int) []string {
	c := make([]string, n)
	for i := range c {
		c[i] = ctx
	}
	return c
}

func spaced(choices []string, delim string) []string {
	t := make([]string, len(choices))
	for i, c := range choices {
		t[i] = delim + c
	}
	return t
}

func checkGold(row Row, field string, gold, n int) error {
	if gold < 0 || gold >= n {
		return fieldErr(row, field, "gold choice %d out of range for %d choices", gold, n)
	}
	return nil
}

// goldIndex reads an answer given as an index or a letter A–Z.
func goldIndex(row Row, m FieldMap, n int, names ...string) (int, error) {
	v, col, err := lookup(row, m, names...)
	if err != nil {
		return 0, err
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if len(s) == 1 && s[0] >= 'A' && s[0] <= 'Z' {
			g := int(s[0] - 'A')
			return g, checkGold(row, col, g, n)
		}
	}
	g, err := asInt(v)
	if err != nil {
		return 0, fieldErr(row, col, "%v", err)
	}
	return g, checkGold(row, col, g, n)
}

func decodeARC(row Row, m FieldMap, it *MCItem) error {
	if has(row, m, "query") && !has(row, m, "question") {
		// llm-foundry ICL: the query already starts with "Question: ".
		q, err := getString(row, m, "query")
		if err != nil {
			return err
		}
		choices, _, err := getStrings(row, m, "choices")
		if err != nil {
			return err
		}
		gold, err := goldIndex(row, m, len(choices), "gold")
		if err != nil {
			return err
		}
		it.Contexts = sameContext(ARCQuery(strings.TrimPrefix(q, "Question: ")), len(choices))
		it.Targets = spaced(choices, " ")
		it.Gold = gold
		return nil
	}
	qv, qcol, err := lookup(row, m, "question")
	if err != nil {
		return err
	}
	var question string
	var texts, labels []string
	switch q := qv.(type) {
	case string:
		// Hugging Face: choices {text: [...], label: [...]}.
		question = q
		cv, ccol, err := lookup(row, m, "choices")
		if err != nil {
			return err
		}
		c, ok := cv.(map[string]any)
		if !ok {
			return fieldErr(row, ccol, "want {text, label}, got %s", typeName(cv))
		}
		if texts, err = asStrings(c["text"]); err != nil {
			return fieldErr(row, ccol+".text", "%v", err)
		}
		if labels, err = asStrings(c["label"]); err != nil {
			return fieldErr(row, ccol+".label", "%v", err)
		}
	case map[string]any:
		// Original release: question {stem, choices [{text, label}]}.
		stem, ok := q["stem"].(string)
		if !ok {
			return fieldErr(row, qcol+".stem", "want a string, got %s", typeName(q["stem"]))
		}
		question = stem
		list, ok := q["choices"].([]any)
		if !ok {
			return fieldErr(row, qcol+".choices", "want a list, got %s", typeName(q["choices"]))
		}
		for i, e := range list {
			c, _ := e.(map[string]any)
			t, ok1 := c["text"].(string)
			l, ok2 := c["label"].(string)
			if !ok1 || !ok2 {
				return fieldErr(row, fmt.Sprintf("%s.choices[%d]", qcol, i), "want {text, label} strings")
			}
			texts, labels = append(texts, t), append(labels, l)
		}
	default:
		return fieldErr(row, qcol, "want a string or {stem, choices}, got %s", typeName(qv))
	}
	if len(texts) != len(labels) {
		return fieldErr(row, "choices", "%d texts but %d labels", len(texts), len(labels))
	}
	key, err := getString(row, m, "answerKey")
	if err != nil {
		return err
	}
	gold, err := ARCGold(key, labels)
	if err != nil {
		return fieldErr(row, m.Column("answerKey"), "%v", err)
	}
	it.Contexts = sameContext(ARCQuery(question), len(texts))
	it.Targets = spaced(texts, " ")
	it.Gold = gold
	return nil
}

func decodeHellaSwag(row Row, m FieldMap, it *MCItem) error {
	label, err := getString(row, m, "activity_label")
	if err != nil {
		return err
	}
	var query string
	if has(row, m, "ctx_a") {
		a, err := getString(row, m, "ctx_a")
		if err != nil {
			return err
		}
		b, err := getString(row, m, "ctx_b")
		if err != nil {
			return err
		}
		query = HellaSwagQuery(label, a, b)
	} else {
		ctx, err := getString(row, m, "ctx")
		if err != nil {
			return err
		}
		a, b := SplitHellaSwagContext(ctx)
		query = HellaSwagQuery(label, a, b)
	}
	endings, _, err := getStrings(row, m, "endings")
	if err != nil {
		return err
	}
	gold, err := goldIndex(row, m, len(endings), "label")
	if err != nil {
		return err
	}
	pre := make([]string, len(endings))
	for i, e := range endings {
		pre[i] = HellaSwagPreprocess(e)
	}
	it.Contexts = sameContext(query, len(endings))
	it.Targets = spaced(pre, " ")
	it.Gold = gold
	return nil
}

// SplitHellaSwagContext recovers ctx_a and ctx_b from HellaSwag's joined
// ctx (ctx_a + " " + ctx_b), which is all llama.cpp's text keeps. In the
// original data ctx_b is the lower-case start of the context's unfinished
// last sentence (ActivityNet items) or empty; so ctx_b is taken to be the
// text after the last ". ", "! " or "? " when that text starts with a
// lower-case letter and does not itself end a sentence, and "" otherwise.
// HellaSwagQuery(label, SplitHellaSwagContext(ctx)) then equals the
// harness query whenever that holds.
func SplitHellaSwagContext(ctx string) (ctxA, ctxB string) {
	end := -1
	for _, sep := range []string{". ", "! ", "? "} {
		if i := strings.LastIndex(ctx, sep); i > end {
			end = i
		}
	}
	if end < 0 {
		return ctx, ""
	}
	tail := ctx[end+2:]
	if tail == "" || !(tail[0] >= 'a' && tail[0] <= 'z') || strings.ContainsAny(tail[len(tail)-1:], ".!?") {
		return ctx, ""
	}
	return ctx[:end+1], tail
}

func decodeMMLU(row Row, m FieldMap, it *MCItem) error {
	q, err := getString(row, m, "question")
	if err != nil {
		return err
	}
	var choices []string
	if has(row, m, "choices") {
		if choices, _, err = getStrings(row, m, "choices"); err != nil {
			return err
		}
	} else {
		for i := 0; ; i++ {
			name := "choice" + strconv.Itoa(i)
			if !has(row, m, name) {
				break
			}
			c, err := getString(row, m, name)
			if err != nil {
				return err
			}
			choices = append(choices, c)
		}
		if len(choices) == 0 {
			return fieldErr(row, m.Column("choices"), "missing (nor choice0, choice1, …)")
		}
	}
	gold, err := goldIndex(row, m, len(choices), "answer")
	if err != nil {
		return err
	}
	subject, _ := row.Fields[m.Column("subject")].(string)
	if subject == "" {
		subject = mmluSubjectFromFile(row.Source)
	}
	if subject != "" {
		it.Description = MMLUDescription(subject)
	}
	targets := make([]string, len(choices))
	for i := range choices {
		targets[i] = " " + ChoiceLetter(i)
	}
	it.Contexts = sameContext(MMLUQuery(q, choices), len(choices))
	it.Targets = targets
	it.Gold = gold
	return nil
}

// mmluSubjectFromFile turns ".../high_school_biology_test.csv" into
// "high_school_biology"; it returns "" for standard input.
func mmluSubjectFromFile(path string) string {
	if path == "-" {
		return ""
	}
	name := filepath.Base(path)
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".bz2")
	name = strings.TrimSuffix(name, filepath.Ext(name))
	for _, split := range []string{"_dev", "_test", "_val", "_validation", "_train", "_auxiliary_train"} {
		if s, ok := strings.CutSuffix(name, split); ok {
			return s
		}
	}
	return name
}

func decodeWinogrande(row Row, m FieldMap, it *MCItem) error {
	if has(row, m, "context_options") {
		ctxs, _, err := getStrings(row, m, "context_options")
		if err != nil {
			return err
		}
		cont, err := getString(row, m, "continuation")
		if err != nil {
			return err
		}
		gold, err := goldIndex(row, m, len(ctxs), "gold")
		if err != nil {
			return err
		}
		it.Contexts = ctxs
		it.Targets = sameContext(" "+PyStrip(cont), len(ctxs))
		it.Gold = gold
		return nil
	}
	sentence, err := getString(row, m, "sentence")
	if err != nil {
		return err
	}
	var ctxs []string
	for _, name := range []string{"option1", "option2"} {
		o, err := getString(row, m, name)
		if err != nil {
			return err
		}
		c, err := WinograndeContext(sentence, o)
		if err != nil {
			return fieldErr(row, m.Column("sentence"), "%v", err)
		}
		ctxs = append(ctxs, c)
	}
	target, _ := WinograndeTarget(sentence)
	av, acol, err := lookup(row, m, "answer")
	if err != nil {
		return err
	}
	a, err := asInt(av)
	if err != nil || (a != 1 && a != 2) {
		return fieldErr(row, acol, "want \"1\" or \"2\", got %v", av)
	}
	it.Contexts = ctxs
	it.Targets = sameContext(target, 2)
	it.Gold = a - 1
	return nil
}

func decodeGenericMC(row Row, m FieldMap, delim string, it *MCItem) error {
	q, err := getString(row, m, "query")
	if err != nil {
		return err
	}
	choices, _, err := getStrings(row, m, "choices")
	if err != nil {
		return err
	}
	gold, err := goldIndex(row, m, len(choices), "gold")
	if err != nil {
		return err
	}
	it.Contexts = sameContext(q, len(choices))
	it.Targets = spaced(choices, delim)
	it.Gold = gold
	return nil
}

// MCPairs returns one pair per incorrect choice of it: chosen is the gold
// continuation, rejected the other one, and the prompt is prefix + the
// item's context. prefix is the few-shot block (FewShotContext's output
// before the query). When the choices' contexts differ (Winogrande), the
// prompt is their common prefix cut back to a word boundary and the rest
// of each context starts its completion. Trailing whitespace of the prompt
// moves to the start of both completions, as the harness moves a context's
// trailing spaces to the continuation. Pair IDs are "<item id>/<rejected
// choice index>".
func MCPairs(it MCItem, prefix, source string) []Pair {
	pairs := make([]Pair, 0, len(it.Targets)-1)
	gold := prefix + it.Contexts[it.Gold]
	for j := range it.Targets {
		if j == it.Gold {
			continue
		}
		other := prefix + it.Contexts[j]
		cut := len(gold)
		if other != gold {
			cut = commonWordPrefix(gold, other)
		}
		prompt := strings.TrimRightFunc(gold[:cut], pyIsSpace)
		pairs = append(pairs, Pair{
			Prompt:   prompt,
			Chosen:   gold[len(prompt):] + it.Targets[it.Gold],
			Rejected: other[len(prompt):] + it.Targets[j],
			Source:   source,
			ID:       it.ID + "/" + strconv.Itoa(j),
			Line:     it.Line,
		})
	}
	return pairs
}

// commonWordPrefix returns the length of the longest common prefix of a
// and b that ends at the start of a word in both (after whitespace).
func commonWordPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && !pyIsSpace(rune(a[n-1])) {
		n--
	}
	return n
}

// FewShotPool draws few-shot examples for multiple-choice items and for
// GSM8K-layout math items (MathItem).
type FewShotPool struct {
	items []MCItem
	// inOrder takes the first examples of the item's subject in file
	// order (MMLU) instead of a seeded sample.
	inOrder bool
}

// NewFewShotPool returns a pool over items. For TaskMMLU examples are the
// first k of the item's subject (same Description) in order, as the
// harness takes the first k dev questions; for the other tasks they are a
// sample without replacement, seeded by seed and the item's ID, that never
// includes the item itself (the harness's exact sample needs CPython's
// generator and is not reproduced).
func NewFewShotPool(task Task, items []MCItem) *FewShotPool {
	return &FewShotPool{items: items, inOrder: task == TaskMMLU}
}

// Prefix returns the context that precedes the item's query with k examples:
// the description and the examples, each followed by "\n\n".
func (p *FewShotPool) Prefix(it MCItem, k int, seed int64) string {
	var shots []string
	if p != nil && k > 0 {
		same := func(o MCItem) bool {
			return o.ID == it.ID && o.Source == it.Source || o.FewShotText() == it.FewShotText()
		}
		if p.inOrder {
			for _, o := range p.items {
				if len(shots) == k {
					break
				}
				if o.Description == it.Description && !same(o) {
					shots = append(shots, o.FewShotText())
				}
			}
		} else {
			h := fnv.New64a()
			io.WriteString(h, it.ID)
			rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
			for _, i := range rng.Perm(len(p.items)) {
				if len(shots) == k {
					break
				}
				if !same(p.items[i]) {
					shots = append(shots, p.items[i].FewShotText())
				}
			}
		}
	}
	return FewShotContext(it.Description, shots, "")
}
