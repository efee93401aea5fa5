package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// arcParquetRow is ARC in the Hugging Face dataset's parquet layout
// (allenai/ai2_arc: question, choices {text, label}, answerKey).
type arcParquetRow struct {
	ID       string `parquet:"id"`
	Question string `parquet:"question"`
	Choices  struct {
		Text  []string `parquet:"text,list"`
		Label []string `parquet:"label,list"`
	} `parquet:"choices"`
	AnswerKey string `parquet:"answerKey"`
}

// writeARCParquet writes rows as a parquet file at path.
func writeARCParquet(t *testing.T, path string, rows []arcParquetRow) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[arcParquetRow](f)
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

// TestParquetLayout: ARC written as the hub's parquet shards
// (test-00000-of-00001.parquet, train-00000-of-00001.parquet) gives the
// documents and contexts the same rows give as JSONL.
func TestParquetLayout(t *testing.T) {
	row := func(id, q string, text, label []string, key string) arcParquetRow {
		r := arcParquetRow{ID: id, Question: q, AnswerKey: key}
		r.Choices.Text, r.Choices.Label = text, label
		return r
	}
	test := []arcParquetRow{
		row("a", "Q0?", []string{"red", "blue"}, []string{"A", "B"}, "B"),
		row("b", "Q1?", []string{"one", "two", "three"}, []string{"1", "2", "3"}, "3"),
		row("c", "Q2?", []string{"cat", "dog"}, []string{"A", "B"}, "A"),
	}
	train := []arcParquetRow{
		row("t0", "T0?", []string{"x", "y"}, []string{"A", "B"}, "A"),
		row("t1", "T1?", []string{"x", "y"}, []string{"A", "B"}, "B"),
		row("t2", "T2?", []string{"p", "q"}, []string{"A", "B"}, "B"),
		row("t3", "T3?", []string{"p", "q"}, []string{"A", "B"}, "A"),
	}
	dir := t.TempDir()
	writeARCParquet(t, filepath.Join(dir, "test-00000-of-00001.parquet"), test)
	writeARCParquet(t, filepath.Join(dir, "train-00000-of-00001.parquet"), train)
	fromParquet := loadOne(t, "arc_challenge", dir, 2)
	jsonl := `{"id":"a","question":"Q0?","choices":{"text":["red","blue"],"label":["A","B"]},"answerKey":"B"}
{"id":"b","question":"Q1?","choices":{"text":["one","two","three"],"label":["1","2","3"]},"answerKey":"3"}
{"id":"c","question":"Q2?","choices":{"text":["cat","dog"],"label":["A","B"]},"answerKey":"A"}
`
	fromJSONL := loadOne(t, "arc_challenge", writeFiles(t, map[string]string{"ARC-Test.jsonl": jsonl, "ARC-Train.jsonl": arcTrain}), 2)
	a, b := fromParquet.Instances(0), fromJSONL.Instances(0)
	if len(a) != 3 || len(a) != len(b) {
		t.Fatalf("%d documents from parquet, %d from JSONL; want 3", len(a), len(b))
	}
	for i := range a {
		if a[i].Context != b[i].Context || len(a[i].Requests) != len(b[i].Requests) {
			t.Errorf("doc %d: parquet context %q (%d choices), JSONL %q (%d)", i, a[i].Context, len(a[i].Requests), b[i].Context, len(b[i].Requests))
		}
	}
	if fromParquet.Docs[1].Gold != 2 {
		t.Errorf("answerKey \"3\" from parquet maps to gold %d, want 2", fromParquet.Docs[1].Gold)
	}
}
