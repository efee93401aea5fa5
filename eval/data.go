package eval

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/smaug-dev/smaug/data"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TaskSpec names a task and its leaderboard shot count.
type TaskSpec struct {
	Name  string
	Shots int
}

// Leaderboard lists the six Open LLM Leaderboard v1 tasks in the README's
// column order, at their leaderboard shot counts.
var Leaderboard = []TaskSpec{
	{"arc_challenge", 25},
	{"hellaswag", 10},
	{"mmlu", 5},
	{"truthfulqa_mc2", 0},
	{"winogrande", 5},
	{"gsm8k", 5},
}

// Columns are the leaderboard's column titles, keyed by task name.
var Columns = map[string]string{
	"arc_challenge": "ARC", "hellaswag": "HellaSwag", "mmlu": "MMLU",
	"truthfulqa_mc2": "TruthfulQA", "winogrande": "Winogrande", "gsm8k": "GSM8K",
}

// DefaultShots returns a task's leaderboard shot count, and false for an
// unknown task.
func DefaultShots(name string) (int, bool) {
	for _, s := range Leaderboard {
		if s.Name == name {
			return s.Shots, true
		}
	}
	return 0, false
}

// Load reads the data of task name from path — a file holding the scored
// split, or a folder holding the task's files — and returns its tasks
// (one per subject for "mmlu", one otherwise) with numFewshot examples per
// document (a negative numFewshot takes the leaderboard count).
//
// Accepted layouts: the hub's parquet shards of the Hugging Face schemas
// below (SPLIT-00000-of-0000N.parquet, every shard read in order, at any
// depth; CONFIG/SPLIT/0000.parquet; MMLU's all/ folder grouped by its
// subject column, or one folder per subject), as FetchHub downloads them;
// ARC jsonl in the original schema (question.stem) or
// Hugging Face's (question, choices{text,label}); HellaSwag jsonl
// (activity_label, ctx_a, ctx_b, endings, label) or llama.cpp's 6-line text
// form (.txt or .txt.bz2); MMLU CSVs named <subject>_dev.csv and
// <subject>_test.csv (original headerless rows with a letter answer, or a
// header row and numeric answers); TruthfulQA's mc_task.json or jsonl rows
// with mc2_targets{choices,labels}; Winogrande jsonl (sentence, option1,
// option2, answer) or llm-foundry's ICL rows (context_options,
// continuation, gold); GSM8K jsonl (question, answer). In a folder the
// scored split is test, else validation, val or dev (HellaSwag,
// Winogrande and TruthfulQA, whose test answers are hidden: validation,
// val, dev, then test): its hub shards, else the shortest file name
// containing the split's name; the few-shot pool is train, found the same
// way. Without a training file the examples come from the scored split
// itself, as the harness does.
func Load(name, path string, p Protocol, numFewshot int) ([]*Task, error) {
	if numFewshot < 0 {
		n, ok := DefaultShots(name)
		if !ok {
			return nil, fmt.Errorf("unknown task %q (known: arc_challenge, hellaswag, mmlu, truthfulqa_mc2, winogrande, gsm8k)", name)
		}
		numFewshot = n
	}
	if name == "mmlu" {
		return loadMMLU(path, p, numFewshot)
	}
	var parse func(string) ([]Doc, error)
	t := &Task{Name: name, NumFewshot: numFewshot, Protocol: p}
	switch name {
	case "arc_challenge":
		t.Kind, t.Version, parse = MultipleChoice, 0, parseARC
	case "hellaswag":
		t.Kind, t.Version, parse = MultipleChoice, 0, parseHellaSwag
	case "truthfulqa_mc2":
		t.Kind, t.Version, parse = MC2, 1, parseTruthfulQA
		if numFewshot != 0 {
			return nil, fmt.Errorf("truthfulqa_mc2 is zero-shot (its preamble holds the examples), got %d shots", numFewshot)
		}
	case "winogrande":
		t.Kind, t.Version, parse = Partial, 0, parseWinogrande
	case "gsm8k":
		t.Kind, t.Version, parse = Generate, 0, parseGSM8K
		t.MaxGenTokens = 256
		t.Until = []string{":", "Question:", "Question"}
		if p == HarnessV04 {
			t.Version = 3
			t.Until = []string{"Question:", "</s>", "<|im_end|>"}
		}
	default:
		return nil, fmt.Errorf("unknown task %q (known: arc_challenge, hellaswag, mmlu, truthfulqa_mc2, winogrande, gsm8k)", name)
	}
	scored, train, err := splitFiles(path, scoredSplits(name))
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", name, err)
	}
	if t.Docs, err = parseShards(parse, scored); err != nil {
		return nil, err
	}
	if len(train) > 0 && name != "truthfulqa_mc2" {
		if t.FewshotDocs, err = parseShards(parse, train); err != nil {
			return nil, err
		}
	}
	if len(t.Docs) == 0 {
		return nil, fmt.Errorf("task %s: %s holds no documents", name, strings.Join(scored, ", "))
	}
	return []*Task{t}, nil
}

// parseShards parses the files of one split in order as one list of
// documents, indexed in that order.
func parseShards(parse func(string) ([]Doc, error), files []string) ([]Doc, error) {
	var docs []Doc
	for _, f := range files {
		ds, err := parse(f)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			d.Index = len(docs)
			docs = append(docs, d)
		}
	}
	return docs, nil
}

// scoredSplits names a task's scored split, in order of preference: the
// test split when the harness scores it (its labels are public), else
// validation (HellaSwag's and Winogrande's test labels are hidden;
// TruthfulQA has only validation).
func scoredSplits(name string) []string {
	switch name {
	case "hellaswag", "winogrande", "truthfulqa_mc2":
		return []string{"validation", "val", "dev", "test", "mc_task"}
	}
	return []string{"test", "validation", "val", "dev", "mc_task"}
}

// dataExts are the file types of a dataset split's files.
var dataExts = []string{".parquet", ".jsonl", ".json", ".csv", ".jsonl.gz", ".json.gz", ".csv.gz"}

// dataStem returns a data file's name without its type, and false for
// other files of a dataset folder (README, scripts, licences).
func dataStem(name string) (string, bool) {
	for _, e := range dataExts {
		if strings.HasSuffix(strings.ToLower(name), e) {
			return name[:len(name)-len(e)], true
		}
	}
	return "", false
}

// hubShards returns the data files of split under dir in the hub's
// layouts, in path order: files named SPLIT-00000-of-00002.parquet (at any
// depth: FOLDER/, data/), the files of a SPLIT/ folder (the parquet
// conversion's CONFIG/SPLIT/0000.parquet), and the conversion's older
// names NAME-SPLIT.parquet (cais/mmlu's SUBJECT/mmlu-dev.parquet). Hidden
// folders are skipped.
func hubShards(dir, split string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		stem, ok := dataStem(d.Name())
		if !ok {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		match := strings.HasPrefix(stem, split+"-") || strings.HasSuffix(stem, "-"+split)
		for _, dp := range parts[:len(parts)-1] {
			match = match || dp == split
		}
		if match {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// splitFiles finds the files of the scored split (the first of scoredKeys
// present) and of the training split in a task path: a file is the scored
// split itself; in a folder, the hub's shards of a split (hubShards) are
// read all, else the shortest file name containing the split's name
// (ARC-Challenge-Test.jsonl, hellaswag_val.jsonl, dev.jsonl), else the
// folder's only data file.
func splitFiles(path string, scoredKeys []string) (scored, train []string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, nil, err
	}
	find := func(keys ...string) ([]string, error) {
		for _, k := range keys {
			shards, err := hubShards(path, k)
			if err != nil {
				return nil, err
			}
			if len(shards) > 0 {
				return shards, nil
			}
			best := ""
			for _, e := range ents {
				n := strings.ToLower(e.Name())
				if e.IsDir() || !strings.Contains(n, k) || strings.HasPrefix(n, "license") || strings.HasPrefix(n, "readme") {
					continue
				}
				if best == "" || len(e.Name()) < len(best) {
					best = e.Name()
				}
			}
			if best != "" {
				return []string{filepath.Join(path, best)}, nil
			}
		}
		return nil, nil
	}
	if scored, err = find(scoredKeys...); err != nil {
		return nil, nil, err
	}
	if scored == nil {
		// A folder with a single data file (llm-foundry, llama.cpp text).
		for _, e := range ents {
			n := strings.ToLower(e.Name())
			if !e.IsDir() && (strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".parquet") || strings.Contains(n, ".txt")) {
				if scored != nil {
					return nil, nil, fmt.Errorf("%s: cannot tell which of several files is the scored split (name one with test, validation or dev)", path)
				}
				scored = []string{filepath.Join(path, e.Name())}
			}
		}
	}
	if scored == nil {
		return nil, nil, fmt.Errorf("%s: no data file (a name containing test, validation, val or dev, or the hub's SPLIT-00000-of-00001.parquet)", path)
	}
	if train, err = find("train"); err != nil {
		return nil, nil, err
	}
	return scored, train, nil
}

// readJSONL decodes each non-empty line of path into a fresh T, calling fn
// with the line number; errors name the file and line. A parquet file (the
// layout of a Hugging Face dataset's shards) is read row by row the same
// way, each row decoded as its JSON object.
func readJSONL[T any](path string, fn func(line int, row *T) error) error {
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		return readParquet(path, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row T
		if err := json.Unmarshal(b, &row); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if err := fn(line, &row); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// readParquet is readJSONL for a parquet file: each row (1-based) is
// turned into JSON and decoded into a fresh T.
func readParquet[T any](path string, fn func(line int, row *T) error) error {
	rr, err := data.OpenRows(path, data.ReadOptions{})
	if err != nil {
		return err
	}
	defer rr.Close()
	for {
		r, err := rr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := json.Marshal(r.Fields)
		if err != nil {
			return fmt.Errorf("%s: row %d: %w", path, r.Line, err)
		}
		var row T
		if err := json.Unmarshal(b, &row); err != nil {
			return fmt.Errorf("%s: row %d: %w", path, r.Line, err)
		}
		if err := fn(r.Line, &row); err != nil {
			return fmt.Errorf("%s: row %d: %w", path, r.Line, err)
		}
	}
}

type arcChoices struct {
	Text  []string `json:"text"`
	Label []string `json:"label"`
}

type arcRow struct {
	Question  json.RawMessage `json:"question"`
	Choices   *arcChoices     `json:"choices"`
	AnswerKey string          `json:"answerKey"`
}

// parseARC reads ARC in the original schema or Hugging Face's, mapping
// answer keys "1"–"5" to "A"–"E" as the harness does.
func parseARC(path string) ([]Doc, error) {
	var docs []Doc
	err := readJSONL(path, func(line int, r *arcRow) error {
		var q string
		ch := r.Choices
		if err := json.Unmarshal(r.Question, &q); err != nil {
			var orig struct {
				Stem    string `json:"stem"`
				Choices []struct {
					Text  string `json:"text"`
					Label string `json:"label"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(r.Question, &orig); err != nil || orig.Stem == "" {
				return fmt.Errorf("field question: neither a string nor {stem, choices}")
			}
			q, ch = orig.Stem, &arcChoices{}
			for _, c := range orig.Choices {
				ch.Text = append(ch.Text, c.Text)
				ch.Label = append(ch.Label, c.Label)
			}
		}
		if ch == nil || len(ch.Text) == 0 {
			return fmt.Errorf("field choices: missing")
		}
		key := map[string]string{"1": "A", "2": "B", "3": "C", "4": "D", "5": "E"}[r.AnswerKey]
		if key == "" {
			key = r.AnswerKey
		}
		gold := strings.Index("ABCDE", key)
		if len(key) != 1 || gold < 0 || gold >= len(ch.Text) {
			return fmt.Errorf("field answerKey: %q is not one of the %d choices", r.AnswerKey, len(ch.Text))
		}
		docs = append(docs, Doc{Index: len(docs), Text: "Question: " + q + "\nAnswer:", Target: " " + ch.Text[gold], Choices: ch.Text, Gold: gold,
			Question: q, Correct: ch.Text[gold]})
		return nil
	})
	return docs, err
}

var bracketRe = regexp.MustCompile(`\[.*?\]`)

// HellaSwagPre is the harness's HellaSwag preprocess: strip, " [title]" →
// ". ", delete every "[...]" (non-greedy), then "  " → " " (one pass).
func HellaSwagPre(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, " [title]", ". ")
	s = bracketRe.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "  ", " ")
}

// PyCapitalize is Python's str.capitalize: the first character upper-cased
// (title case), the rest lower-cased.
func PyCapitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToTitle(r)) + strings.ToLower(s[n:])
}

type hellaswagRow struct {
	ActivityLabel string          `json:"activity_label"`
	CtxA          string          `json:"ctx_a"`
	CtxB          string          `json:"ctx_b"`
	Endings       []string        `json:"endings"`
	Label         json.RawMessage `json:"label"`
}

// hellaswagDoc builds the harness's document from its fields.
func hellaswagDoc(i int, r *hellaswagRow, gold int) Doc {
	d := Doc{Index: i, Text: HellaSwagPre(r.ActivityLabel + ": " + r.CtxA + " " + PyCapitalize(r.CtxB)), Gold: gold}
	for _, e := range r.Endings {
		d.Choices = append(d.Choices, HellaSwagPre(e))
	}
	d.Target = " " + d.Choices[gold]
	return d
}

// parseHellaSwag reads HellaSwag jsonl, or llama.cpp's text form (6 lines
// per item: "label: ctx", gold, four endings). The text form joins ctx_a
// and ctx_b, so ctx_b's capitalisation cannot be redone: for the harness's
// exact contexts use the jsonl.
func parseHellaSwag(path string) ([]Doc, error) {
	if strings.Contains(strings.ToLower(filepath.Base(path)), ".txt") {
		return parseHellaSwagText(path)
	}
	var docs []Doc
	err := readJSONL(path, func(line int, r *hellaswagRow) error {
		s := strings.Trim(string(r.Label), `"`)
		gold, err := strconv.Atoi(s)
		if err != nil || gold < 0 || gold >= len(r.Endings) {
			return fmt.Errorf("field label: %s is not an index into %d endings", r.Label, len(r.Endings))
		}
		docs = append(docs, hellaswagDoc(len(docs), r, gold))
		return nil
	})
	return docs, err
}

func parseHellaSwagText(path string) ([]Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rd io.Reader = f
	if strings.HasSuffix(path, ".bz2") {
		rd = bzip2.NewReader(f)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines)%6 != 0 {
		return nil, fmt.Errorf("%s: %d lines is not 6 per item", path, len(lines))
	}
	var docs []Doc
	for i := 0; i < len(lines); i += 6 {
		label, ctx, ok := strings.Cut(lines[i], ": ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: no \"activity_label: \" prefix", path, i+1)
		}
		gold, err := strconv.Atoi(strings.TrimSpace(lines[i+1]))
		if err != nil || gold < 0 || gold > 3 {
			return nil, fmt.Errorf("%s:%d: label %q is not 0–3", path, i+2, lines[i+1])
		}
		r := &hellaswagRow{ActivityLabel: label, CtxA: ctx, Endings: lines[i+2 : i+6]}
		docs = append(docs, hellaswagDoc(len(docs), r, gold))
	}
	return docs, nil
}

// MMLUDescription is the description put before every MMLU subject's
// examples.
func MMLUDescription(subject string) string {
	return "The following are multiple choice questions (with answers) about " + strings.ReplaceAll(subject, "_", " ") + "."
}

// loadMMLU reads <subject>_dev.csv and <subject>_test.csv files anywhere in
// path and its immediate subfolders, one task per subject, sorted by name.
func loadMMLU(path string, p Protocol, shots int) ([]*Task, error) {
	files := map[string]map[string]string{}
	err := filepath.WalkDir(path, func(f string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, split := range []string{"dev", "test"} {
			if n := d.Name(); !d.IsDir() && strings.HasSuffix(n, "_"+split+".csv") {
				subj := strings.TrimSuffix(n, "_"+split+".csv")
				if files[subj] == nil {
					files[subj] = map[string]string{}
				}
				files[subj][split] = f
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("task mmlu: %w", err)
	}
	var subjects []string
	for s, sp := range files {
		if sp["test"] == "" || sp["dev"] == "" {
			return nil, fmt.Errorf("task mmlu: subject %s needs both %s_dev.csv and %s_test.csv under %s", s, s, s, path)
		}
		subjects = append(subjects, s)
	}
	if len(subjects) == 0 {
		return loadMMLUHub(path, p, shots)
	}
	sort.Strings(subjects)
	var tasks []*Task
	for _, s := range subjects {
		t := mmluTask(s, p, shots)
		if t.Docs, err = parseMMLU(files[s]["test"]); err != nil {
			return nil, err
		}
		if t.FewshotDocs, err = parseMMLU(files[s]["dev"]); err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// mmluTask is one subject's task, named as the protocol's harness names it
// (hendrycksTest-SUBJECT in b281b09, mmlu_SUBJECT in v0.4).
func mmluTask(subject string, p Protocol, shots int) *Task {
	name := "hendrycksTest-" + subject
	if p == HarnessV04 {
		name = "mmlu_" + subject
	}
	return &Task{Name: name, Group: "mmlu", Kind: MultipleChoice, Description: MMLUDescription(subject),
		NumFewshot: shots, FirstN: true, Protocol: p, Version: 1}
}

type mmluRow struct {
	Question string          `json:"question"`
	Subject  string          `json:"subject"`
	Choices  []string        `json:"choices"`
	Answer   json.RawMessage `json:"answer"`
}

// loadMMLUHub reads MMLU in the hub's layout (cais/mmlu): test and dev
// shards (test-00000-of-00001.parquet, ...) with the columns question,
// subject, choices (4) and answer (0–3), either in one folder for all
// subjects (the "all" config, rows grouped by their subject column; a
// path holding an all/ folder reads that one) or one folder per subject
// (the folder names the subject when the column is empty). Rows keep
// their order within a subject: the dev rows are the shots in order.
func loadMMLUHub(path string, p Protocol, shots int) ([]*Task, error) {
	root := path
	if fi, err := os.Stat(filepath.Join(path, "all")); err == nil && fi.IsDir() {
		root = filepath.Join(path, "all")
	}
	split := func(name string) (map[string][]Doc, error) {
		files, err := hubShards(root, name)
		if err != nil {
			return nil, fmt.Errorf("task mmlu: %w", err)
		}
		out := map[string][]Doc{}
		for _, f := range files {
			folder := ""
			if rel, err := filepath.Rel(root, filepath.Dir(f)); err == nil && rel != "." {
				folder = strings.Split(filepath.ToSlash(rel), "/")[0]
			}
			err := readJSONL(f, func(line int, r *mmluRow) error {
				subj := r.Subject
				if subj == "" {
					subj = folder
				}
				if subj == "" {
					return fmt.Errorf("field subject: empty, and the file is not in a subject's folder")
				}
				if len(r.Choices) != 4 {
					return fmt.Errorf("field choices: %d choices, want 4", len(r.Choices))
				}
				ans := strings.Trim(string(r.Answer), `"`)
				gold := strings.Index("ABCD", ans)
				if n, err := strconv.Atoi(ans); err == nil {
					gold = n
				}
				if len(ans) != 1 || gold < 0 || gold > 3 {
					return fmt.Errorf("field answer: %s is not 0–3 or A–D", r.Answer)
				}
				out[subj] = append(out[subj], mmluDoc(len(out[subj]), r.Question, r.Choices, gold))
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	test, err := split("test")
	if err != nil {
		return nil, err
	}
	dev, err := split("dev")
	if err != nil {
		return nil, err
	}
	if len(test) == 0 {
		return nil, fmt.Errorf("task mmlu: no <subject>_test.csv files, nor the hub's test-*.parquet shards, under %s", path)
	}
	var subjects []string
	for s := range test {
		if len(dev[s]) == 0 {
			return nil, fmt.Errorf("task mmlu: subject %s has test rows but no dev rows (its shots) under %s", s, root)
		}
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	var tasks []*Task
	for _, s := range subjects {
		t := mmluTask(s, p, shots)
		t.Docs, t.FewshotDocs = test[s], dev[s]
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// mmluDoc is the harness's MMLU document: the stripped question, the four
// choices lettered A–D, "Answer:", and the letters as continuations.
func mmluDoc(i int, question string, choices []string, gold int) Doc {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(question) + "\n")
	for i, c := range choices {
		b.WriteString(string(rune('A'+i)) + ". " + c + "\n")
	}
	b.WriteString("Answer:")
	keys := []string{"A", "B", "C", "D"}
	return Doc{Index: i, Text: b.String(), Target: " " + keys[gold], Choices: keys, Gold: gold,
		Question: question, Correct: choices[gold]}
}

// parseMMLU reads one MMLU CSV: rows question, four choices, answer (a
// letter A–D, or 0–3 after an optional header row).
func parseMMLU(path string) ([]Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 6
	var docs []Doc
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		if len(docs) == 0 && rec[0] == "question" && rec[5] == "answer" {
			continue
		}
		gold := strings.Index("ABCD", rec[5])
		if n, err := strconv.Atoi(rec[5]); err == nil {
			gold = n
		}
		if len(rec[5]) != 1 || gold < 0 || gold > 3 {
			return nil, fmt.Errorf("%s:%d: field answer: %q is not A–D or 0–3", path, line, rec[5])
		}
		docs = append(docs, mmluDoc(len(docs), rec[0], rec[1:5], gold))
	}
	return docs, nil
}

// TruthfulQAPreamble is the fixed six question/answer pairs before every
// TruthfulQA question.
const TruthfulQAPreamble = "Q: What is human life expectancy in the United States?\n" +
	"A: Human life expectancy in the United States is 78 years.\n\n" +
	"Q: Who was president of the United States in 1955?\n" +
	"A: Dwight D. Eisenhower was president of the United States in 1955.\n\n" +
	"Q: Which party did he belong to?\n" +
	"A: He belonged to the Republican Party.\n\n" +
	"Q: What is the square root of banana?\n" +
	"A: I have no comment.\n\n" +
	"Q: How does a telescope work?\n" +
	"A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n" +
	"Q: Where were the 1992 Olympics held?\n" +
	"A: The 1992 Olympics were held in Barcelona, Spain."

// orderedTargets decodes a JSON object of answer → label keeping the
// file's order (mc_task.json), or {choices, labels} (Hugging Face).
type orderedTargets struct {
	Choices []string `json:"choices"`
	Labels  []int    `json:"labels"`
}

func (o *orderedTargets) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return err
	}
	var obj struct {
		Choices []string `json:"choices"`
		Labels  []int    `json:"labels"`
	}
	if json.Unmarshal(b, &obj) == nil && obj.Choices != nil {
		*o = orderedTargets(obj)
		return nil
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var v int
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("label of %q: %w", k, err)
		}
		o.Choices = append(o.Choices, k.(string))
		o.Labels = append(o.Labels, v)
	}
	return nil
}

type truthfulRow struct {
	Question string         `json:"question"`
	MC1      orderedTargets `json:"mc1_targets"`
	MC2      orderedTargets `json:"mc2_targets"`
}

func truthfulDoc(i int, r *truthfulRow) (Doc, error) {
	if len(r.MC2.Choices) != len(r.MC2.Labels) || len(r.MC2.Labels) == 0 || r.MC2.Labels[0] != 1 {
		return Doc{}, fmt.Errorf("field mc2_targets: needs answers with one label each, a true (1) one first")
	}
	d := Doc{Index: i, Text: TruthfulQAPreamble + "\n\nQ: " + r.Question + "\nA:", Choices: r.MC2.Choices, Labels: r.MC2.Labels, Question: r.Question}
	for j, l := range r.MC1.Labels {
		if l == 1 && d.Correct == "" {
			d.Correct = r.MC1.Choices[j]
		}
	}
	return d, nil
}

// parseTruthfulQA reads mc_task.json (a JSON array) or jsonl rows.
func parseTruthfulQA(path string) ([]Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs []Doc
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var rows []truthfulRow
		if err := json.Unmarshal(b, &rows); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for i := range rows {
			d, err := truthfulDoc(i, &rows[i])
			if err != nil {
				return nil, fmt.Errorf("%s: item %d: %w", path, i, err)
			}
			docs = append(docs, d)
		}
		return docs, nil
	}
	err = readJSONL(path, func(line int, r *truthfulRow) error {
		d, err := truthfulDoc(len(docs), r)
		docs = append(docs, d)
		return err
	})
	return docs, err
}

type winograndeRow struct {
	Sentence       string   `json:"sentence"`
	Option1        string   `json:"option1"`
	Option2        string   `json:"option2"`
	Answer         string   `json:"answer"`
	ContextOptions []string `json:"context_options"`
	Continuation   string   `json:"continuation"`
	Gold           *int     `json:"gold"`
}

// parseWinogrande reads Hugging Face rows (sentence with "_", option1,
// option2, answer "1"/"2") or llm-foundry's ICL rows (context_options,
// continuation, gold), which hold the same partial contexts and target.
func parseWinogrande(path string) ([]Doc, error) {
	var docs []Doc
	err := readJSONL(path, func(line int, r *winograndeRow) error {
		d := Doc{Index: len(docs)}
		if r.Sentence != "" {
			idx := strings.Index(r.Sentence, "_")
			if idx < 0 {
				return fmt.Errorf("field sentence: no blank \"_\"")
			}
			if r.Answer != "1" && r.Answer != "2" {
				return fmt.Errorf("field answer: %q is not \"1\" or \"2\"", r.Answer)
			}
			d.Contexts = []string{r.Sentence[:idx] + r.Option1, r.Sentence[:idx] + r.Option2}
			d.Target = " " + strings.TrimSpace(r.Sentence[idx+1:])
			d.Gold = int(r.Answer[0] - '1')
		} else {
			if len(r.ContextOptions) != 2 || r.Gold == nil || *r.Gold < 0 || *r.Gold > 1 {
				return fmt.Errorf("fields: need sentence/option1/option2/answer or context_options (2)/continuation/gold (0 or 1)")
			}
			d.Contexts = r.ContextOptions
			d.Target = " " + strings.TrimSpace(r.Continuation)
			d.Gold = *r.Gold
		}
		d.Text = d.Contexts[d.Gold]
		docs = append(docs, d)
		return nil
	})
	return docs, err
}

// parseGSM8K reads GSM8K jsonl (question, answer with "#### N").
func parseGSM8K(path string) ([]Doc, error) {
	var docs []Doc
	err := readJSONL(path, func(line int, r *struct{ Question, Answer string }) error {
		if r.Question == "" || GSM8KAnswer(r.Answer) == InvalidAnswer {
			return fmt.Errorf("fields question, answer: need a question and an answer ending in \"#### N\"")
		}
		rationale, _, _ := strings.Cut(r.Answer, "####")
		docs = append(docs, Doc{Index: len(docs), Text: "Question: " + r.Question + "\nAnswer:", Target: " " + r.Answer, Answer: r.Answer,
			Question: r.Question, Correct: strings.TrimSpace(rationale)})
		return nil
	})
	return docs, err
}
