package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

func runEvalCmd(args ...string) (string, error) {
	cmd := newEvalCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// evalModelDir saves a tiny random model over the Llama-2 vocabulary with
// that tokenizer beside it.
func evalModelDir(t *testing.T) string {
	t.Helper()
	src := sharedtest.Path(t, "fixtures/tokenizers/llama2_hf")
	dir := t.TempDir()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 32000, HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 8, MaxPositionEmbeddings: 512,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2}}
	m, err := model.NewRandom(&c, 5, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// smaug eval writes the results JSON, the samples and the table; a second
// run resuming from --cache gives the same JSON; compare reads both and
// draws the chart.
func TestEvalCommand(t *testing.T) {
	mdir := evalModelDir(t)
	out := t.TempDir()
	args := []string{"--model", mdir, "--tasks", "arc_challenge,truthfulqa_mc2", "--limit", "3", "--no-progress",
		"--data", "arc_challenge=" + sharedtest.Path(t, "data/arc_challenge_partial"),
		"--data", "truthfulqa_mc2=" + sharedtest.Path(t, "data/truthfulqa/data"),
		"--cache", filepath.Join(out, "cache.jsonl")}
	first := filepath.Join(out, "a.json")
	stdout, err := runEvalCmd(append(args, "--output", first, "--log-samples", filepath.Join(out, "s.jsonl"))...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "| Model | Average | ARC | HellaSwag | MMLU | TruthfulQA | Winogrande | GSM8K |") {
		t.Errorf("table missing:\n%s", stdout)
	}
	var res struct {
		Results map[string]map[string]any `json:"results"`
		NShot   map[string]int            `json:"n-shot"`
	}
	b, _ := os.ReadFile(first)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Results["arc_challenge"]["acc_norm,none"].(float64); !ok || res.NShot["arc_challenge"] != 25 {
		t.Errorf("results %v n-shot %v", res.Results["arc_challenge"], res.NShot)
	}
	if _, ok := res.Results["truthfulqa_mc2"]["mc2_stderr,none"].(float64); !ok {
		t.Errorf("truthfulqa row %v", res.Results["truthfulqa_mc2"])
	}
	s, _ := os.ReadFile(filepath.Join(out, "s.jsonl"))
	if n := strings.Count(string(s), "\n"); n != 6 || !strings.Contains(string(s), `"loglikelihood"`) {
		t.Errorf("%d sample rows", n)
	}
	cache, _ := os.ReadFile(filepath.Join(out, "cache.jsonl"))
	// 3 ARC documents (4 or 5 choices) and 3 TruthfulQA documents.
	if n := strings.Count(string(cache), "\n"); n < 20 {
		t.Errorf("cache holds %d requests", n)
	}
	second := filepath.Join(out, "b.json")
	if _, err := runEvalCmd(append(args, "--output", second)...); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(second)
	if !bytes.Equal(b, b2) {
		t.Error("the run resumed from the cache gives different results")
	}
	cache2, _ := os.ReadFile(filepath.Join(out, "cache.jsonl"))
	if len(cache2) != len(cache) {
		t.Error("the resumed run recomputed cached requests")
	}

	cmd := newEvalCompareCmd()
	var buf bytes.Buffer
	cmd.SetOut(&buf)
	png := filepath.Join(out, "chart.png")
	cmd.SetArgs([]string{first, second, "--names", "base,dpop", "--plot", png})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[3], "| dpop | ") || !strings.Contains(lines[3], "*") {
		t.Errorf("compare table:\n%s", buf.String())
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Errorf("chart: %v", err)
	}
}

func TestEvalCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "x", "--protocol", "v9", "--data-dir", "."}, "--protocol"},
		{[]string{"--model", "x", "--tasks", "arc_challenge", "--data", "arc_challenge"}, "task=PATH"},
		{[]string{"--model", "x", "--tasks", "arc_challenge", "--data", "arc_challenge=./missing.jsonl"}, "not a hub dataset"},
		{[]string{"--model", "x", "--tasks", "gsm8k", "--data-dir", "."}, "does not exist"},
		{[]string{"--model", "x", "--tasks", "piqa", "--data", "piqa=."}, "unknown task"},
	} {
		if _, err := runEvalCmd(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// smaug eval --tasks leaderboard gives the same results JSON (but for the
// recorded batch size) with --batch-size 1 and 16.
func TestEvalCommandBatchSize(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the six tasks twice")
	}
	mdir := evalModelDir(t)
	out := t.TempDir()
	var docs []map[string]any
	for _, bs := range []string{"1", "16"} {
		p := filepath.Join(out, bs+".json")
		_, err := runEvalCmd("--model", mdir, "--tasks", "leaderboard", "--limit", "2", "--batch-size", bs, "--no-progress",
			"--data", "arc_challenge="+sharedtest.Path(t, "data/arc_challenge_partial"),
			"--data", "hellaswag="+sharedtest.Path(t, "data/hellaswag_llamacpp_txt"),
			"--data", "mmlu="+sharedtest.Path(t, "data/mmlu_derived"),
			"--data", "truthfulqa_mc2="+sharedtest.Path(t, "data/truthfulqa/data"),
			"--data", "winogrande="+sharedtest.Path(t, "data/llmfoundry_icl/winogrande.jsonl"),
			"--data", "gsm8k="+sharedtest.Path(t, "data/gsm8k"), "--output", p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		delete(d["config"].(map[string]any), "batch_size")
		docs = append(docs, d)
	}
	a, _ := json.Marshal(docs[0])
	b, _ := json.Marshal(docs[1])
	if !bytes.Equal(a, b) {
		t.Error("results differ between --batch-size 1 and 16")
	}
	if len(docs[0]["results"].(map[string]any)) != 6+57 {
		t.Errorf("%d result rows, want 6 tasks + 57 subjects", len(docs[0]["results"].(map[string]any)))
	}
}

// The six tasks' rows in the hub datasets' schemas: written as parquet
// shards in the hub's layouts and as local files, they must give the
// same results.
type (
	hubARCRow struct {
		ID       string `parquet:"id" json:"id"`
		Question string `parquet:"question" json:"question"`
		Choices  struct {
			Text  []string `parquet:"text,list" json:"text"`
			Label []string `parquet:"label,list" json:"label"`
		} `parquet:"choices" json:"choices"`
		AnswerKey string `parquet:"answerKey" json:"answerKey"`
	}
	hubHellaSwagRow struct {
		Ind           int64    `parquet:"ind" json:"ind"`
		ActivityLabel string   `parquet:"activity_label" json:"activity_label"`
		CtxA          string   `parquet:"ctx_a" json:"ctx_a"`
		CtxB          string   `parquet:"ctx_b" json:"ctx_b"`
		Endings       []string `parquet:"endings,list" json:"endings"`
		Label         string   `parquet:"label" json:"label"`
	}
	hubMMLURow struct {
		Question string   `parquet:"question"`
		Subject  string   `parquet:"subject"`
		Choices  []string `parquet:"choices,list"`
		Answer   int64    `parquet:"answer"`
	}
	hubTargets struct {
		Choices []string `parquet:"choices,list" json:"choices"`
		Labels  []int32  `parquet:"labels,list" json:"labels"`
	}
	hubTruthfulQARow struct {
		Question string     `parquet:"question" json:"question"`
		MC1      hubTargets `parquet:"mc1_targets" json:"mc1_targets"`
		MC2      hubTargets `parquet:"mc2_targets" json:"mc2_targets"`
	}
	hubWinograndeRow struct {
		Sentence string `parquet:"sentence" json:"sentence"`
		Option1  string `parquet:"option1" json:"option1"`
		Option2  string `parquet:"option2" json:"option2"`
		Answer   string `parquet:"answer" json:"answer"`
	}
	hubGSM8KRow struct {
		Question string `parquet:"question" json:"question"`
		Answer   string `parquet:"answer" json:"answer"`
	}
)

// writeParquetRows writes rows as a parquet file at path (folders made).
func writeParquetRows[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeJSONLRows writes rows as JSONL at path (folders made).
func writeJSONLRows[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, r := range rows {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hubEvalData writes small splits of the six tasks twice: local files in
// a data folder (DIR/<task>/, the layouts --data-dir reads) and hub
// repositories for miniHub in the harness's datasets' layouts, with decoy
// configs beside the ones read, Rowan/hellaswag only as its parquet
// conversion (main holds a loading script), GSM8K's test split in two
// shards and MMLU as all/ with a subject column (local: per-subject CSVs).
func hubEvalData(t *testing.T) (local string, repos map[string]string) {
	dir := t.TempDir()
	local = filepath.Join(dir, "local")
	repo := func(key string) string {
		return filepath.Join(dir, "hub", strings.NewReplacer("/", "_", "@", "_").Replace(key))
	}
	repos = map[string]string{}
	for _, k := range []string{"datasets/allenai/ai2_arc", "datasets/Rowan/hellaswag", "datasets/Rowan/hellaswag@refs/convert/parquet",
		"datasets/cais/mmlu", "datasets/truthfulqa/truthful_qa", "datasets/allenai/winogrande", "datasets/openai/gsm8k", "datasets/me/arc-copy"} {
		repos[k] = repo(k)
	}

	arc := func(n, off int) []hubARCRow {
		var rows []hubARCRow
		for i := range n {
			var r hubARCRow
			r.ID, r.Question = fmt.Sprintf("q%d", off+i), fmt.Sprintf("Which of these is item %d?", off+i)
			r.Choices.Text = []string{"a stone", "the river " + fmt.Sprint(i), "one leaf", "dry sand"}
			r.Choices.Label = []string{"A", "B", "C", "D"}
			if i%2 == 1 {
				r.Choices.Label = []string{"1", "2", "3", "4"}
			}
			r.AnswerKey = r.Choices.Label[i%4]
			rows = append(rows, r)
		}
		return rows
	}
	writeJSONLRows(t, filepath.Join(local, "arc_challenge", "ARC-Challenge-Test.jsonl"), arc(4, 0))
	writeJSONLRows(t, filepath.Join(local, "arc_challenge", "ARC-Challenge-Train.jsonl"), arc(5, 100))
	writeParquetRows(t, filepath.Join(repos["datasets/allenai/ai2_arc"], "ARC-Challenge", "test-00000-of-00001.parquet"), arc(4, 0))
	writeParquetRows(t, filepath.Join(repos["datasets/allenai/ai2_arc"], "ARC-Challenge", "train-00000-of-00001.parquet"), arc(5, 100))
	writeParquetRows(t, filepath.Join(repos["datasets/allenai/ai2_arc"], "ARC-Easy", "test-00000-of-00001.parquet"), arc(3, 500))
	writeParquetRows(t, filepath.Join(repos["datasets/me/arc-copy"], "data", "test-00000-of-00001.parquet"), arc(4, 0))
	writeParquetRows(t, filepath.Join(repos["datasets/me/arc-copy"], "data", "train-00000-of-00001.parquet"), arc(5, 100))

	hs := func(n, off int, labelled bool) []hubHellaSwagRow {
		var rows []hubHellaSwagRow
		for i := range n {
			r := hubHellaSwagRow{Ind: int64(off + i), ActivityLabel: "Making tea", CtxA: fmt.Sprintf("A man boils water %d times.", off+i),
				CtxB: "then he", Endings: []string{"pours it [title] out.", "drinks  it.", "sings.", "leaves."}}
			if labelled {
				r.Label = fmt.Sprint(i % 4)
			}
			rows = append(rows, r)
		}
		return rows
	}
	writeJSONLRows(t, filepath.Join(local, "hellaswag", "validation.jsonl"), hs(4, 0, true))
	writeJSONLRows(t, filepath.Join(local, "hellaswag", "train.jsonl"), hs(12, 100, true))
	writeJSONLRows(t, filepath.Join(local, "hellaswag", "test.jsonl"), hs(2, 900, false)) // labels hidden: not scored
	os.MkdirAll(repos["datasets/Rowan/hellaswag"], 0o755)
	os.WriteFile(filepath.Join(repos["datasets/Rowan/hellaswag"], "hellaswag.py"), []byte("# a loading script\n"), 0o644)
	conv := repos["datasets/Rowan/hellaswag@refs/convert/parquet"]
	writeParquetRows(t, filepath.Join(conv, "default", "validation", "0000.parquet"), hs(4, 0, true))
	writeParquetRows(t, filepath.Join(conv, "default", "train", "0000.parquet"), hs(12, 100, true))
	writeParquetRows(t, filepath.Join(conv, "default", "test", "0000.parquet"), hs(2, 900, false))

	var mmluTest, mmluDev []hubMMLURow
	for _, subj := range []string{"anatomy", "college_physics"} {
		var csvTest, csvDev strings.Builder
		csvTest.WriteString("question,A,B,C,D,answer\n")
		csvDev.WriteString("question,A,B,C,D,answer\n")
		for i := range 5 {
			for _, sp := range []struct {
				rows *[]hubMMLURow
				csv  *strings.Builder
				q    string
			}{{&mmluTest, &csvTest, "Test"}, {&mmluDev, &csvDev, "Dev"}} {
				r := hubMMLURow{Question: fmt.Sprintf(" %s %s question %d? ", subj, sp.q, i), Subject: subj,
					Choices: []string{"one", "two", fmt.Sprint(i), "four"}, Answer: int64((i + 1) % 4)}
				*sp.rows = append(*sp.rows, r)
				fmt.Fprintf(sp.csv, "%q,%s,%s,%s,%s,%d\n", r.Question, r.Choices[0], r.Choices[1], r.Choices[2], r.Choices[3], r.Answer)
			}
		}
		os.MkdirAll(filepath.Join(local, "mmlu", "test"), 0o755)
		os.MkdirAll(filepath.Join(local, "mmlu", "dev"), 0o755)
		os.WriteFile(filepath.Join(local, "mmlu", "test", subj+"_test.csv"), []byte(csvTest.String()), 0o644)
		os.WriteFile(filepath.Join(local, "mmlu", "dev", subj+"_dev.csv"), []byte(csvDev.String()), 0o644)
	}
	writeParquetRows(t, filepath.Join(repos["datasets/cais/mmlu"], "all", "test-00000-of-00001.parquet"), mmluTest)
	writeParquetRows(t, filepath.Join(repos["datasets/cais/mmlu"], "all", "dev-00000-of-00001.parquet"), mmluDev)
	writeParquetRows(t, filepath.Join(repos["datasets/cais/mmlu"], "anatomy", "test-00000-of-00001.parquet"), mmluTest[:3]) // decoy

	var tqa []hubTruthfulQARow
	for i := range 3 {
		tqa = append(tqa, hubTruthfulQARow{Question: fmt.Sprintf("Is claim %d true?", i),
			MC1: hubTargets{[]string{"No.", "Yes.", "Maybe."}, []int32{1, 0, 0}},
			MC2: hubTargets{[]string{"No.", "It is not.", "Yes.", fmt.Sprintf("Claim %d is true.", i)}, []int32{1, 1, 0, 0}}})
	}
	writeJSONLRows(t, filepath.Join(local, "truthfulqa_mc2", "validation.jsonl"), tqa)
	writeParquetRows(t, filepath.Join(repos["datasets/truthfulqa/truthful_qa"], "multiple_choice", "validation-00000-of-00001.parquet"), tqa)
	writeParquetRows(t, filepath.Join(repos["datasets/truthfulqa/truthful_qa"], "generation", "validation-00000-of-00001.parquet"), []hubGSM8KRow{{"decoy", "decoy"}})

	wg := func(n, off int, labelled bool) []hubWinograndeRow {
		var rows []hubWinograndeRow
		for i := range n {
			r := hubWinograndeRow{Sentence: fmt.Sprintf("Sam gave Kim the book %d because _ had read it.", off+i), Option1: "Sam", Option2: "Kim"}
			if labelled {
				r.Answer = fmt.Sprint(1 + i%2)
			}
			rows = append(rows, r)
		}
		return rows
	}
	writeJSONLRows(t, filepath.Join(local, "winogrande", "dev.jsonl"), wg(4, 0, true))
	writeJSONLRows(t, filepath.Join(local, "winogrande", "train_xl.jsonl"), wg(8, 100, true))
	writeJSONLRows(t, filepath.Join(local, "winogrande", "test.jsonl"), wg(2, 900, false))
	for split, rows := range map[string][]hubWinograndeRow{"validation": wg(4, 0, true), "train": wg(8, 100, true), "test": wg(2, 900, false)} {
		writeParquetRows(t, filepath.Join(repos["datasets/allenai/winogrande"], "winogrande_xl", split+"-00000-of-00001.parquet"), rows)
	}

	gsm := func(n, off int) []hubGSM8KRow {
		var rows []hubGSM8KRow
		for i := range n {
			rows = append(rows, hubGSM8KRow{fmt.Sprintf("Tom has %d apples and buys 2. How many?", off+i),
				fmt.Sprintf("%d+2=<<%d+2=%d>>%d\n#### %d", off+i, off+i, off+i+2, off+i+2, off+i+2)})
		}
		return rows
	}
	writeJSONLRows(t, filepath.Join(local, "gsm8k", "test.jsonl"), gsm(4, 0))
	writeJSONLRows(t, filepath.Join(local, "gsm8k", "train.jsonl"), gsm(6, 100))
	g := repos["datasets/openai/gsm8k"]
	writeParquetRows(t, filepath.Join(g, "main", "test-00000-of-00002.parquet"), gsm(4, 0)[:3])
	writeParquetRows(t, filepath.Join(g, "main", "test-00001-of-00002.parquet"), gsm(4, 0)[3:])
	writeParquetRows(t, filepath.Join(g, "main", "train-00000-of-00001.parquet"), gsm(6, 100))
	writeParquetRows(t, filepath.Join(g, "socratic", "test-00000-of-00001.parquet"), gsm(2, 700))
	return local, repos
}

// smaug eval reads the tasks' datasets through the hub cache: with no
// data argument (the harness's datasets, HF_ENDPOINT at a mini hub), with
// --data task=ORG/NAME[@REVISION][/FOLDER], and offline from the filled
// cache, and online from the cache with the hub gone (no request made), the
// results JSON is byte for byte the one the same rows give as local files.
// Offline with an empty cache, or with the hub unreachable,
// the error says how to pass local data instead. smaug contamination
// --task gsm8k reads the hub dataset the same way.
func TestEvalHubDatasets(t *testing.T) {
	mdir := evalModelDir(t)
	local, repos := hubEvalData(t)
	hub := miniHub(t, repos)
	out := t.TempDir()
	home := filepath.Join(out, "hf")
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	run := func(name string, extra ...string) (string, error) {
		p := filepath.Join(out, name+".json")
		args := append([]string{"--model", mdir, "--tasks", "leaderboard", "--limit", "3", "--no-progress", "--output", p}, extra...)
		if stdout, err := runEvalCmd(args...); err != nil {
			return stdout, err
		}
		b, err := os.ReadFile(p)
		return string(b), err
	}
	want, err := run("local", "--data-dir", local)
	if err != nil {
		t.Fatalf("local files: %v\n%s", err, want)
	}
	if !strings.Contains(want, `"mmlu"`) || !strings.Contains(want, `"hendrycksTest-college_physics"`) {
		t.Fatalf("local results lack MMLU's subjects:\n%s", want)
	}
	got, err := run("default")
	if err != nil {
		t.Fatalf("the harness's datasets from the hub: %v\n%s", err, got)
	}
	if got != want {
		t.Errorf("the harness's datasets from the hub give other results than the local files:\n%s\nwant\n%s", got, want)
	}
	// Explicit hub ids in each syntax; ARC's copy keeps its data/ folder.
	got, err = run("explicit", "--data", "arc_challenge=me/arc-copy", "--data", "hellaswag=Rowan/hellaswag@refs%2Fconvert%2Fparquet/default",
		"--data", "mmlu=hf://datasets/cais/mmlu/all", "--data", "truthfulqa_mc2=truthfulqa/truthful_qa",
		"--data", "winogrande=allenai/winogrande@main/winogrande_xl", "--data", "gsm8k=openai/gsm8k/main")
	if err != nil || got != want {
		t.Errorf("--data task=ORG/NAME...: %v\n%s\nwant\n%s", err, got, want)
	}
	// Offline, from the cache the downloads filled.
	t.Setenv("HF_HUB_OFFLINE", "1")
	if got, err = run("offline"); err != nil || got != want {
		t.Errorf("offline from the cache: %v\n%s", err, got)
	}
	// Offline with an empty cache; then the hub unreachable.
	t.Setenv("HF_HOME", filepath.Join(out, "empty"))
	if msg, err := run("uncached", "--tasks", "arc_challenge"); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") ||
		!strings.Contains(err.Error(), "--data arc_challenge=PATH") {
		t.Errorf("offline, uncached: %v\n%s", err, msg)
	}
	t.Setenv("HF_HUB_OFFLINE", "")
	hub.Close()
	if msg, err := run("unreachable", "--tasks", "gsm8k"); err == nil || !strings.Contains(err.Error(), "openai/gsm8k") ||
		!strings.Contains(err.Error(), "--data-dir DIR holding gsm8k/") {
		t.Errorf("hub unreachable: %v\n%s", err, msg)
	}
	// Online with the hub gone, the filled cache is read without a request.
	t.Setenv("HF_HOME", home)
	if got, err = run("cached"); err != nil || got != want {
		t.Errorf("online from the cache, no request: %v\n%s", err, got)
	}

	// contamination --task gsm8k: the hub's dataset (from the filled cache,
	// offline) and the local file give the same scores.
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_OFFLINE", "1")
	fromHub, err := runContaminationCmd("--model", mdir, "--task", "gsm8k", "--method", "min-k", "--n", "3", "--no-progress")
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := runContaminationCmd("--model", mdir, "--task", "gsm8k", "--data", filepath.Join(local, "gsm8k"), "--method", "min-k", "--n", "3", "--no-progress")
	logLine := "task gsm8k: reading hub dataset openai/gsm8k/main through the hub cache\n"
	if err != nil || logLine+fromFile != fromHub || !strings.Contains(fromHub, "min-k:") {
		t.Errorf("contamination from the hub:\n%s\nfrom the file:\n%s (%v)", fromHub, fromFile, err)
	}
}
