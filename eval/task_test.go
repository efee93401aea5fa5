package eval

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadOne(t *testing.T, name, path string, shots int) *Task {
	t.Helper()
	ts, err := Load(name, path, LeaderboardV1, shots)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 {
		t.Fatalf("%d tasks", len(ts))
	}
	return ts[0]
}

const arcTest = `{"id":"a","question":{"stem":"Q0?","choices":[{"text":"red","label":"A"},{"text":"blue","label":"B"}]},"answerKey":"B"}
{"id":"b","question":{"stem":"Q1?","choices":[{"text":"one","label":"1"},{"text":"two","label":"2"},{"text":"three","label":"3"}]},"answerKey":"3"}
{"id":"c","question":"Q2?","choices":{"text":["cat","dog"],"label":["A","B"]},"answerKey":"A"}
`
const arcTrain = `{"question":"T0?","choices":{"text":["x","y"],"label":["A","B"]},"answerKey":"A"}
{"question":"T1?","choices":{"text":["x","y"],"label":["A","B"]},"answerKey":"B"}
{"question":"T2?","choices":{"text":["p","q"],"label":["A","B"]},"answerKey":"B"}
{"question":"T3?","choices":{"text":["p","q"],"label":["A","B"]},"answerKey":"A"}
`

// The golden contexts below are written by hand from SPEC §3's templates.
// The document order and few-shot indices are CPython's: random.Random(42)
// shuffles range(3) to [1, 0, 2]; the same generator's sample(range(4), 2)
// per document gives [0, 2], [2, 0], [1, 0]; with no training split,
// sample(range(3), 3) gives [0, 1, 2], [0, 2, 1], [2, 0, 1], the document
// itself dropped.
func TestGoldenARC(t *testing.T) {
	withTrain := loadOne(t, "arc_challenge", writeFiles(t, map[string]string{"ARC-Test.jsonl": arcTest, "ARC-Train.jsonl": arcTrain}), 2)
	noTrain := loadOne(t, "arc_challenge", writeFiles(t, map[string]string{"ARC-Test.jsonl": arcTest}), 2)
	tests := []struct {
		task  *Task
		want  []string
		conts [][]string
	}{
		{withTrain, []string{
			"Question: T0?\nAnswer: x\n\nQuestion: T2?\nAnswer: q\n\nQuestion: Q1?\nAnswer:",
			"Question: T2?\nAnswer: q\n\nQuestion: T0?\nAnswer: x\n\nQuestion: Q0?\nAnswer:",
			"Question: T1?\nAnswer: y\n\nQuestion: T0?\nAnswer: x\n\nQuestion: Q2?\nAnswer:",
		}, [][]string{{" one", " two", " three"}, {" red", " blue"}, {" cat", " dog"}}},
		{noTrain, []string{
			"Question: Q0?\nAnswer: blue\n\nQuestion: Q2?\nAnswer: cat\n\nQuestion: Q1?\nAnswer:",
			"Question: Q2?\nAnswer: cat\n\nQuestion: Q1?\nAnswer: three\n\nQuestion: Q0?\nAnswer:",
			"Question: Q0?\nAnswer: blue\n\nQuestion: Q1?\nAnswer: three\n\nQuestion: Q2?\nAnswer:",
		}, nil},
	}
	for ti, tc := range tests {
		insts := tc.task.Instances(0)
		for i, in := range insts {
			if in.Context != tc.want[i] {
				t.Errorf("case %d doc %d context\n%q\nwant\n%q", ti, i, in.Context, tc.want[i])
			}
			if tc.conts != nil {
				var got []string
				for _, r := range in.Requests {
					got = append(got, r.Continuation)
					if r.Context != in.Context {
						t.Errorf("request context differs from the document's")
					}
				}
				if !reflect.DeepEqual(got, tc.conts[i]) {
					t.Errorf("case %d doc %d continuations %q, want %q", ti, i, got, tc.conts[i])
				}
			}
		}
	}
	if g := withTrain.Docs[1].Gold; g != 2 {
		t.Errorf("answerKey \"3\" maps to gold %d, want 2", g)
	}
	if lim := withTrain.Instances(2); len(lim) != 2 || lim[0].Context != tests[0].want[0] {
		t.Errorf("--limit 2 must keep the first two shuffled documents with the same contexts")
	}
}

// Harness v0.4 keeps the file order and draws examples from
// random.Random(1234): sample(range(4), 2) per document gives [3, 0],
// [0, 3], [0, 2]; sample(range(3), 3) gives [1, 0, 2], [0, 2, 1], [0, 1, 2]
// (python3), the document itself dropped.
func TestGoldenARCHarnessV04(t *testing.T) {
	for _, c := range []struct {
		files map[string]string
		want  []string
	}{
		{map[string]string{"ARC-Test.jsonl": arcTest, "ARC-Train.jsonl": arcTrain}, []string{
			"Question: T3?\nAnswer: p\n\nQuestion: T0?\nAnswer: x\n\nQuestion: Q0?\nAnswer:",
			"Question: T0?\nAnswer: x\n\nQuestion: T3?\nAnswer: p\n\nQuestion: Q1?\nAnswer:",
			"Question: T0?\nAnswer: x\n\nQuestion: T2?\nAnswer: q\n\nQuestion: Q2?\nAnswer:",
		}},
		{map[string]string{"ARC-Test.jsonl": arcTest}, []string{
			"Question: Q1?\nAnswer: three\n\nQuestion: Q2?\nAnswer: cat\n\nQuestion: Q0?\nAnswer:",
			"Question: Q0?\nAnswer: blue\n\nQuestion: Q2?\nAnswer: cat\n\nQuestion: Q1?\nAnswer:",
			"Question: Q0?\nAnswer: blue\n\nQuestion: Q1?\nAnswer: three\n\nQuestion: Q2?\nAnswer:",
		}},
	} {
		ts, err := Load("arc_challenge", writeFiles(t, c.files), HarnessV04, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, in := range ts[0].Instances(0) {
			if in.Context != c.want[i] {
				t.Errorf("doc %d context\n%q\nwant\n%q", i, in.Context, c.want[i])
			}
		}
	}
}

// MMLU's group number: the unweighted mean of the subjects under
// leaderboard-v1, the size-weighted mean under harness-v0.4. Subject a:
// 1 of 2 right; subject b: 3 of 3.
func TestAggregateMMLUGroup(t *testing.T) {
	mk := func(p Protocol) []TaskResult {
		sub := func(name string, accs ...float64) TaskResult {
			tr := TaskResult{Task: &Task{Name: name, Group: "mmlu", Protocol: p, Docs: make([]Doc, len(accs))}}
			for _, a := range accs {
				tr.Samples = append(tr.Samples, Sample{Metrics: map[string]float64{"acc": a}})
			}
			return tr
		}
		return []TaskResult{sub("hendrycksTest-a", 1, 0), sub("hendrycksTest-b", 1, 1, 1)}
	}
	v1 := Aggregate(mk(LeaderboardV1), nil).Results["mmlu"]
	v4 := Aggregate(mk(HarnessV04), nil).Results["mmlu"]
	// Subject a: mean 0.5, sample sd √0.5, stderr √0.5/√2 = 0.5; b: stderr 0.
	if v1["acc,none"] != 0.75 || v1["acc_stderr,none"] != 0.25 {
		t.Errorf("v1: %v (want 0.75, stderr √(0.25)/2 = 0.25)", v1)
	}
	// Weighted: (2·0.5 + 3·1)/5 = 0.8; pooled: √(((2−1)·0.25·2 + 0) / (5−2) / 5).
	if v4["acc,none"] != 0.8 || math.Abs(v4["acc_stderr,none"].(float64)-math.Sqrt(0.5/3/5)) > 1e-15 {
		t.Errorf("v0.4: %v", v4)
	}
}

func TestGoldenMMLU(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"dev/high_school_physics_dev.csv":   "question,choice0,choice1,choice2,choice3,answer\nD0?,a,b,c,d,0\nD1?,a,b,c,d,3\nD2?,a,b,c,d,1\n",
		"test/high_school_physics_test.csv": "question,choice0,choice1,choice2,choice3,answer\n\" What is g? \",9.8,\"1,0\",0,-1,0\n",
		"dev/anatomy_dev.csv":               "D?,w,x,y,z,C\n",
		"test/anatomy_test.csv":             "T?,w,x,y,z,D\n",
	})
	ts, err := Load("mmlu", dir, LeaderboardV1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "hendrycksTest-anatomy" || ts[1].Name != "hendrycksTest-high_school_physics" {
		t.Fatalf("subjects %v", ts)
	}
	in := ts[1].Instances(0)[0]
	want := "The following are multiple choice questions (with answers) about high school physics.\n\n" +
		"D0?\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\n" +
		"D1?\nA. a\nB. b\nC. c\nD. d\nAnswer: D\n\n" +
		"What is g?\nA. 9.8\nB. 1,0\nC. 0\nD. -1\nAnswer:"
	if in.Context != want {
		t.Errorf("context\n%q\nwant\n%q", in.Context, want)
	}
	var conts []string
	for _, r := range in.Requests {
		conts = append(conts, r.Continuation)
	}
	if !reflect.DeepEqual(conts, []string{" A", " B", " C", " D"}) {
		t.Errorf("continuations %q", conts)
	}
	a := ts[0].Instances(0)[0]
	if a.Context != "The following are multiple choice questions (with answers) about anatomy.\n\nD?\nA. w\nB. x\nC. y\nD. z\nAnswer: C\n\nT?\nA. w\nB. x\nC. y\nD. z\nAnswer:" || a.Doc.Gold != 3 {
		t.Errorf("headerless letter-answer CSV: %q gold %d", a.Context, a.Doc.Gold)
	}
}

func TestGoldenTruthfulQA(t *testing.T) {
	dir := writeFiles(t, map[string]string{"mc_task.json": `[{"question": "Is the sky green?",
	  "mc1_targets": {"No.": 1, "Yes.": 0},
	  "mc2_targets": {"No.": 1, "No, it is blue.": 1, "Yes.": 0}}]`})
	tk := loadOne(t, "truthfulqa_mc2", dir, -1)
	in := tk.Instances(0)[0]
	want := "Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.\n\n" +
		"Q: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.\n\n" +
		"Q: Which party did he belong to?\nA: He belonged to the Republican Party.\n\n" +
		"Q: What is the square root of banana?\nA: I have no comment.\n\n" +
		"Q: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n" +
		"Q: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.\n\n" +
		"Q: Is the sky green?\nA:"
	if in.Context != want {
		t.Errorf("context\n%q\nwant\n%q", in.Context, want)
	}
	if len(in.Requests) != 3 || in.Requests[1].Continuation != " No, it is blue." || in.Requests[2].Continuation != " Yes." {
		t.Errorf("requests %q", in.Requests)
	}
	// mc2 = (p1+p2)/(p1+p2+p3) with p = exp(ll): ll = ln 0.2, ln 0.3, ln 0.5 → 0.5.
	res := []Result{{LogLikelihood: -1.6094379124341003}, {LogLikelihood: -1.2039728043259361}, {LogLikelihood: -0.6931471805599453}}
	if got := tk.Score(&in, res)["mc2"]; got < 0.5-1e-12 || got > 0.5+1e-12 {
		t.Errorf("mc2 = %v, want 0.5", got)
	}
	// Labels [1, 0, 1] (mc_task.json items 164 and 607): the harness counts
	// only the answers before the first 0 as true, so mc2 = 0.2.
	odd := Instance{Doc: &Doc{Labels: []int{1, 0, 1}}}
	if got := tk.Score(&odd, res)["mc2"]; got < 0.2-1e-12 || got > 0.2+1e-12 {
		t.Errorf("mc2 with a late true label = %v, want 0.2", got)
	}
}

// Winogrande: random.Random(42) shuffles range(2) to [1, 0] and the
// per-document sample(range(2), 1) gives [0], [1].
func TestGoldenWinogrande(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"winogrande_dev.jsonl":   `{"sentence": "Ann gave Bo a gift because _ was kind.", "option1": "Ann", "option2": "Bo", "answer": "1"}` + "\n" + `{"sentence": "The cup fell off the table because _ was slick.", "option1": "cup", "option2": "table", "answer": "2"}` + "\n",
		"winogrande_train.jsonl": `{"sentence": "A beat B since _ trained.", "option1": "A", "option2": "B", "answer": "1"}` + "\n" + `{"sentence": "X helped Y as _ asked .", "option1": "X", "option2": "Y", "answer": "2"}` + "\n",
	})
	tk := loadOne(t, "winogrande", dir, 1)
	insts := tk.Instances(0)
	want := [][]Request{
		{{"A beat B since A trained.\n\nThe cup fell off the table because cup", " was slick."}, {"A beat B since A trained.\n\nThe cup fell off the table because table", " was slick."}},
		{{"X helped Y as Y asked .\n\nAnn gave Bo a gift because Ann", " was kind."}, {"X helped Y as Y asked .\n\nAnn gave Bo a gift because Bo", " was kind."}},
	}
	for i, in := range insts {
		if !reflect.DeepEqual(in.Requests, want[i]) {
			t.Errorf("doc %d requests\n%q\nwant\n%q", i, in.Requests, want[i])
		}
	}
	// llm-foundry's rows hold the same partial contexts.
	fdir := writeFiles(t, map[string]string{"winogrande.jsonl": `{"context_options": ["Ann gave Bo a gift because Ann", "Ann gave Bo a gift because Bo"], "continuation": "was kind.", "gold": 0}` + "\n"})
	f := loadOne(t, "winogrande", fdir, 0).Instances(0)[0]
	if !reflect.DeepEqual(f.Requests, []Request{{"Ann gave Bo a gift because Ann", " was kind."}, {"Ann gave Bo a gift because Bo", " was kind."}}) {
		t.Errorf("llm-foundry requests %q", f.Requests)
	}
	if s := tk.Score(&insts[0], []Result{{LogLikelihood: -3}, {LogLikelihood: -2}}); s["acc"] != 1 {
		t.Errorf("gold is option 2 (table): acc %v", s["acc"])
	}
}

func TestGoldenGSM8K(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"test.jsonl":          `{"question": "What is 2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"}` + "\n",
		"train.jsonl":         `{"question": "What is 1+1?", "answer": "It is 2.\n#### 2"}` + "\n" + `{"question": "What is 3*3?", "answer": "3*3=9\n#### 9"}` + "\n",
		"test_socratic.jsonl": "not read\n",
	})
	tk := loadOne(t, "gsm8k", dir, 1)
	in := tk.Instances(0)[0]
	// random.Random(42).shuffle([0]) draws nothing; sample(range(2), 1) = [0].
	want := "Question: What is 1+1?\nAnswer: It is 2.\n#### 2\n\nQuestion: What is 2+2?\nAnswer:"
	if in.Context != want {
		t.Errorf("context %q want %q", in.Context, want)
	}
	if !reflect.DeepEqual(tk.Until, []string{":", "Question:", "Question"}) || tk.MaxGenTokens != 256 {
		t.Errorf("stops %q max %d", tk.Until, tk.MaxGenTokens)
	}
	for _, c := range []struct {
		gen  string
		want float64
	}{{" 2+2 is 4.\n#### 4", 1}, {" #### 4.0", 0}, {" The answer is 4", 0}, {" #### 4\n#### 5", 1}} {
		if got := tk.Score(&in, []Result{{Generation: c.gen}})["acc"]; got != c.want {
			t.Errorf("generation %q: acc %v, want %v", c.gen, got, c.want)
		}
	}
}

// Harness v0.4's GSM8K: its stop strings and both filters, against the
// gold answer's number after v0.4's normalisation.
func TestGSM8KHarnessV04(t *testing.T) {
	dir := writeFiles(t, map[string]string{"test.jsonl": `{"question": "Cost?", "answer": "9+9=18\n#### 18"}` + "\n"})
	ts, err := Load("gsm8k", dir, HarnessV04, 0)
	if err != nil {
		t.Fatal(err)
	}
	tk := ts[0]
	if !reflect.DeepEqual(tk.Until, []string{"Question:", "</s>", "<|im_end|>"}) {
		t.Errorf("stops %q", tk.Until)
	}
	in := tk.Instances(0)[0]
	for _, c := range []struct {
		gen          string
		strict, flex float64
	}{
		{" It costs $18.", 0, 1},
		{" 9+9=18\n#### 18", 1, 1},
		{" #### 18 then 20", 1, 0},
	} {
		s := tk.Score(&in, []Result{{Generation: c.gen}})
		if s["exact_match,strict-match"] != c.strict || s["exact_match,flexible-extract"] != c.flex {
			t.Errorf("%q: %v", c.gen, s)
		}
	}
}

func TestGSM8KExtraction(t *testing.T) {
	for _, c := range []struct{ in, v1, strict, flex string }{
		{"so 1,234 total\n#### 1,234", "1234", "1,234", "1,234"},
		{"#### -5", "-5", "-5", "-5"},
		{"It costs $18.\n#### 18", "18", "18", "18"},
		{"The answer is $1,000.", InvalidAnswer, InvalidAnswer, "$1,000."},
		{"no number", InvalidAnswer, InvalidAnswer, InvalidAnswer},
		{"3 apples and 7", InvalidAnswer, InvalidAnswer, "7"},
	} {
		if g := GSM8KAnswer(c.in); g != c.v1 {
			t.Errorf("GSM8KAnswer(%q) = %q, want %q", c.in, g, c.v1)
		}
		if g := StrictAnswer(c.in); g != c.strict {
			t.Errorf("StrictAnswer(%q) = %q, want %q", c.in, g, c.strict)
		}
		if g := FlexibleAnswer(c.in); g != c.flex {
			t.Errorf("FlexibleAnswer(%q) = %q, want %q", c.in, g, c.flex)
		}
	}
	if normalizeV04("$1,000.") != "1000" || normalizeV04("a\n#### 1,000") != "1000" {
		t.Error("v0.4 normalisation")
	}
}

// Harness v0.4's exact_match normalisation against Python's re.sub: the
// expected values were printed by python3, applying re.sub(p, "", s) for
// p in [",", "\\$", "(?s).*#### ", "\\.$"] and then lower(). Python's "$"
// also matches before a final newline ("18.\n" loses its dot).
func TestNormalizeV04MatchesPython(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"#### 1,234.", "1234"},
		{"The answer is $18.\n", "the answer is 18\n"},
		{"18.\n", "18\n"},
		{"Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"},
		{"5..", "5."},
		{"Nope.", "nope"},
		{"a.\nb.", "a.\nb"},
		{"1.\n\n", "1.\n\n"},
		{"#### A\n#### B.", "b"},
		{"$1,000.00", "1000.00"},
	} {
		if got := normalizeV04(c.in); got != c.want {
			t.Errorf("normalizeV04(%q) = %q, want %q (python3)", c.in, got, c.want)
		}
	}
}

// HellaSwag's preprocess on the tricky cases; expected values printed by
// the harness's preprocess under python3.
func TestHellaSwagPre(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"  Making a cake [title] Preheat the oven. [step] Mix   well. ", "Making a cake. Preheat the oven. Mix  well."},
		{"a [b] [c]d", "a d"},
		{"x [title] [header] y", "x.  y"},
		{"no brackets  here", "no brackets here"},
		{"[unclosed text", "[unclosed text"},
		{"A  [x]  B", "A  B"},
	} {
		if got := HellaSwagPre(c.in); got != c.want {
			t.Errorf("pre(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for in, want := range map[string]string{"the LADY": "The lady", "ébc": "Ébc", "": ""} {
		if got := PyCapitalize(in); got != want {
			t.Errorf("capitalize(%q) = %q, want %q", in, got, want)
		}
	}
	dir := writeFiles(t, map[string]string{"hellaswag_val.jsonl": `{"activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he", "endings": ["is using wrap [title] to wrap skis.", "starts pulling up roofing on a roof."], "label": "1"}` + "\n"})
	in := loadOne(t, "hellaswag", dir, 0).Instances(0)[0]
	if in.Context != "Roof shingle removal: A man is sitting on a roof. He" || in.Requests[0].Continuation != " is using wrap. to wrap skis." {
		t.Errorf("context %q continuation %q", in.Context, in.Requests[0].Continuation)
	}
	// acc_norm divides by characters (code points), acc does not: choice 0
	// (28 characters) has the higher total, choice 1 (36) the higher
	// per-character value: -20/28 < -21/36.
	s := loadOne(t, "hellaswag", dir, 0).Score(&in, []Result{{LogLikelihood: -20}, {LogLikelihood: -21}})
	if s["acc"] != 0 || s["acc_norm"] != 1 {
		t.Errorf("scores %v", s)
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	dir := writeFiles(t, map[string]string{"test.jsonl": `{"question": "Q", "answer": "4"}` + "\n"})
	_, err := Load("gsm8k", dir, LeaderboardV1, 0)
	if err == nil || !strings.Contains(err.Error(), "test.jsonl:1") || !strings.Contains(err.Error(), "answer") {
		t.Errorf("error %v", err)
	}
	if _, err := Load("nope", dir, LeaderboardV1, -1); err == nil {
		t.Error("unknown task accepted")
	}
}
