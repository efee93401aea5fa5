package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestParseHubDataset(t *testing.T) {
	for _, c := range []struct {
		in   string
		want HubDataset
		err  string
	}{
		{in: "allenai/ai2_arc", want: HubDataset{Repo: "allenai/ai2_arc"}},
		{in: "allenai/ai2_arc/ARC-Challenge", want: HubDataset{Repo: "allenai/ai2_arc", Folder: "ARC-Challenge"}},
		{in: "hf://datasets/cais/mmlu/all", want: HubDataset{Repo: "cais/mmlu", Folder: "all"}},
		{in: "cais/mmlu@main/abstract_algebra", want: HubDataset{Repo: "cais/mmlu", Folder: "abstract_algebra", Revision: "main"}},
		{in: "openai/gsm8k@v1.0", want: HubDataset{Repo: "openai/gsm8k", Revision: "v1.0"}},
		{in: "Rowan/hellaswag@refs%2Fconvert%2Fparquet/default", want: HubDataset{Repo: "Rowan/hellaswag", Folder: "default", Revision: ParquetRevision}},
		{in: "Rowan/hellaswag@refs/convert/parquet/default", want: HubDataset{Repo: "Rowan/hellaswag", Folder: "default", Revision: ParquetRevision}},
		{in: "org/ds@refs/pr/7", want: HubDataset{Repo: "org/ds", Revision: "refs/pr/7"}},
		{in: "org/ds/a/b/", want: HubDataset{Repo: "org/ds", Folder: "a/b"}},
		{in: "gsm8k", err: "not a hub dataset"},
		{in: "org/ds/x@main", err: "right after ORG/NAME"},
		{in: "org/ds/../x", err: "leaves the repository"},
		{in: "org/ds@", err: "revision"},
	} {
		got, err := ParseHubDataset(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if back, err := ParseHubDataset(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q reads back as %+v, %v", c.in, got.String(), back, err)
		}
	}
}

// TaskSources: --data first (a local path, else a hub dataset), then the
// data folder, then the harness's dataset.
func TestTaskSources(t *testing.T) {
	dir := writeFiles(t, map[string]string{"gsm8k/test.jsonl": "", "truthfulqa/mc_task.json": "", "own.jsonl": ""})
	own := filepath.Join(dir, "own.jsonl")
	s, err := TaskSources([]string{"gsm8k", "truthfulqa_mc2", "arc_challenge"}, dir, map[string]string{"arc_challenge": own})
	if err != nil {
		t.Fatal(err)
	}
	if s["gsm8k"].Path != filepath.Join(dir, "gsm8k") || s["truthfulqa_mc2"].Path != filepath.Join(dir, "truthfulqa") || s["arc_challenge"].Path != own {
		t.Errorf("local sources %v", s)
	}
	s, err = TaskSources([]string{"mmlu", "arc_challenge"}, "", map[string]string{"arc_challenge": "me/arc@dev/ARC-Challenge"})
	if err != nil {
		t.Fatal(err)
	}
	if s["mmlu"].Path != "" || s["mmlu"].Hub != DefaultDatasets["mmlu"] {
		t.Errorf("mmlu without data: %v, want the harness's dataset", s["mmlu"])
	}
	if s["arc_challenge"].Hub != (HubDataset{Repo: "me/arc", Folder: "ARC-Challenge", Revision: "dev"}) {
		t.Errorf("arc_challenge: %+v", s["arc_challenge"])
	}
	for _, c := range []struct {
		names   []string
		dataDir string
		data    map[string]string
		want    string
	}{
		{[]string{"hellaswag"}, dir, nil, "does not exist"},
		{[]string{"gsm8k"}, "", map[string]string{"gsm8k": "./gone.jsonl"}, "not a hub dataset"},
		{[]string{"gsm8k"}, "", map[string]string{"gsm8k": "data/gone.jsonl"}, "not a hub dataset"},
		{[]string{"gsm8k"}, "", map[string]string{"mmlu": "cais/mmlu"}, "not evaluated"},
		{[]string{"piqa"}, "", nil, "unknown task"},
	} {
		if _, err := TaskSources(c.names, c.dataDir, c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %q %v: error %v, want %q", c.names, c.dataDir, c.data, err, c.want)
		}
	}
}

type mmluParquetRow struct {
	Question string   `parquet:"question"`
	Subject  string   `parquet:"subject"`
	Choices  []string `parquet:"choices,list"`
	Answer   int64    `parquet:"answer"`
}

func writeParquetT[T any](t *testing.T, path string, rows []T) {
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
	f.Close()
}

// MMLU in the hub's per-subject folders (subject column empty: the folder
// names it; shards named SPLIT-00000-of-00001 or the older mmlu-SPLIT) gives the contexts TestGoldenMMLU's CSVs give; under
// harness-v0.4 the subjects are named mmlu_SUBJECT, as v0.4 names them.
func TestMMLUHubLayouts(t *testing.T) {
	csvDir := writeFiles(t, map[string]string{
		"dev/anatomy_dev.csv":    "D0?,w,x,y,z,C\nD1?,a,b,c,d,A\n",
		"test/anatomy_test.csv":  "T0?,w,x,y,z,D\nT1?,1,2,3,4,B\n",
		"dev/virology_dev.csv":   "V?,p,q,r,s,B\n",
		"test/virology_test.csv": "VT?,p,q,r,s,A\n",
	})
	hubDir := t.TempDir()
	row := func(q, subj string, ch []string, a int64) mmluParquetRow { return mmluParquetRow{q, subj, ch, a} }
	writeParquetT(t, filepath.Join(hubDir, "anatomy", "dev-00000-of-00001.parquet"), []mmluParquetRow{
		row("D0?", "", []string{"w", "x", "y", "z"}, 2), row("D1?", "", []string{"a", "b", "c", "d"}, 0)})
	writeParquetT(t, filepath.Join(hubDir, "anatomy", "test-00000-of-00001.parquet"), []mmluParquetRow{
		row("T0?", "", []string{"w", "x", "y", "z"}, 3), row("T1?", "", []string{"1", "2", "3", "4"}, 1)})
	// virology in the parquet conversion's older names (SUBJECT/mmlu-SPLIT.parquet)
	writeParquetT(t, filepath.Join(hubDir, "virology", "mmlu-dev.parquet"), []mmluParquetRow{row("V?", "", []string{"p", "q", "r", "s"}, 1)})
	writeParquetT(t, filepath.Join(hubDir, "virology", "mmlu-test.parquet"), []mmluParquetRow{row("VT?", "", []string{"p", "q", "r", "s"}, 0)})
	for _, p := range []Protocol{LeaderboardV1, HarnessV04} {
		a, err := Load("mmlu", csvDir, p, 2)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Load("mmlu", hubDir, p, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 2 || len(b) != 2 {
			t.Fatalf("%d and %d subjects", len(a), len(b))
		}
		prefix := map[Protocol]string{LeaderboardV1: "hendrycksTest-", HarnessV04: "mmlu_"}[p]
		for i := range a {
			if a[i].Name != prefix+[]string{"anatomy", "virology"}[i] || b[i].Name != a[i].Name {
				t.Errorf("%s: subjects %s and %s", p, a[i].Name, b[i].Name)
			}
			ia, ib := a[i].Instances(0), b[i].Instances(0)
			for j := range ia {
				if ia[j].Context != ib[j].Context || ia[j].Doc.Gold != ib[j].Doc.Gold {
					t.Errorf("%s %s doc %d: hub %q (gold %d), CSV %q (gold %d)", p, a[i].Name, j, ib[j].Context, ib[j].Doc.Gold, ia[j].Context, ia[j].Doc.Gold)
				}
			}
		}
	}
}

type winograndeParquetRow struct {
	Sentence string `parquet:"sentence"`
	Option1  string `parquet:"option1"`
	Option2  string `parquet:"option2"`
	Answer   string `parquet:"answer"`
}

// In a hub folder, Winogrande scores validation, not the test split whose
// answers are hidden (""), and a split in several shards is read whole,
// in shard order.
func TestHubSplitChoiceAndShards(t *testing.T) {
	dir := t.TempDir()
	w := func(s string, a string) winograndeParquetRow { return winograndeParquetRow{s, "Ann", "Bob", a} }
	writeParquetT(t, filepath.Join(dir, "winogrande_xl", "test-00000-of-00001.parquet"), []winograndeParquetRow{w("Hidden _ one.", "")})
	writeParquetT(t, filepath.Join(dir, "winogrande_xl", "validation-00000-of-00002.parquet"), []winograndeParquetRow{w("First _ here.", "1"), w("Second _ here.", "2")})
	writeParquetT(t, filepath.Join(dir, "winogrande_xl", "validation-00001-of-00002.parquet"), []winograndeParquetRow{w("Third _ here.", "2")})
	writeParquetT(t, filepath.Join(dir, "winogrande_xl", "train-00000-of-00001.parquet"), []winograndeParquetRow{w("Shot _ one.", "1")})
	tk := loadOne(t, "winogrande", filepath.Join(dir, "winogrande_xl"), 1)
	if len(tk.Docs) != 3 || len(tk.FewshotDocs) != 1 {
		t.Fatalf("%d documents, %d shots; want validation's 3 and train's 1", len(tk.Docs), len(tk.FewshotDocs))
	}
	for i, want := range []string{"First Ann", "Second Ann", "Third Ann"} {
		if tk.Docs[i].Contexts[0] != want || tk.Docs[i].Index != i {
			t.Errorf("doc %d: %q (index %d), want %q", i, tk.Docs[i].Contexts[0], tk.Docs[i].Index, want)
		}
	}
}
