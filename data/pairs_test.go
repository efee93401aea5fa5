package data

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestPairFileRoundTrip(t *testing.T) {
	pairs := []Pair{
		{Prompt: "Q1 <<a>> & b", Chosen: "yes", Rejected: "no", Source: "s", ID: "1"},
		{Prompt: "Q2", Chosen: "ünïcode\n", Rejected: "", Source: "s", ID: "2"},
	}
	for _, name := range []string{"p.jsonl", "p.parquet"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			w, err := CreatePairFile(path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pairs {
				if err := w.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("%s exists before Close", path)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPairs(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Line = 0
			}
			if !reflect.DeepEqual(got, pairs) {
				t.Errorf("read back %+v, want %+v", got, pairs)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("%d files left in the folder, want 1", len(entries))
			}
		})
	}
	// JSONL keeps "<" and "&" as they are.
	var b bytes.Buffer
	w, _ := CreatePairFile("-", "", &b)
	w.Write(pairs[0])
	w.Close()
	if want := `{"prompt":"Q1 <<a>> & b","chosen":"yes","rejected":"no","source":"s","id":"1"}` + "\n"; b.String() != want {
		t.Errorf("JSONL line %q, want %q", b.String(), want)
	}
}

func TestPairFileAbortAndErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.parquet")
	w, err := CreatePairFile(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(Pair{Prompt: []any{map[string]any{"role": "user", "content": "hi"}}, Chosen: "a", Rejected: "b", ID: "m"})
	if err == nil || !strings.Contains(err.Error(), "parquet output holds strings only") {
		t.Errorf("message list to parquet: %v", err)
	}
	w.Abort()
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("%d files left after Abort", len(entries))
	}
	if _, err := CreatePairFile("-", FormatParquet, nil); err == nil {
		t.Error("parquet to stdout accepted")
	}
}

func TestReadPairsMessagesAndFieldMap(t *testing.T) {
	content := `{"question":"Q","better":[{"role":"user","content":"Q"},{"role":"assistant","content":"A1"}],"worse":[{"role":"user","content":"Q"},{"role":"assistant","content":"A2"}]}
{"question":"Q","better":"x","worse":3}
`
	path := writeFile(t, "m.jsonl", []byte(content))
	fm := FieldMap{"prompt": "question", "chosen": "better", "rejected": "worse"}
	_, err := ReadPairs(path, fm)
	var re *RowError
	if !errors.As(err, &re) || err.Error() != path+`:2: field "worse": want a string or a message list, got a number` {
		t.Fatalf("error %v", err)
	}
	rows, _, _ := ReadAllRows(path, ReadOptions{}, false)
	p, err := PairFromRow(rows[0], fm)
	if err != nil {
		t.Fatal(err)
	}
	if Text(p.Chosen) != "Q\nA1" || Text(p.Rejected) != "Q\nA2" {
		t.Errorf("texts %q, %q", Text(p.Chosen), Text(p.Rejected))
	}
	// "Q\nA1" vs "Q\nA2": one substitution in four characters.
	if d := CharDistance(p); d != 0.25 {
		t.Errorf("distance %v, want 0.25", d)
	}
}

// TestParquetNestedLayout reads a parquet file in the Hugging Face ARC
// layout (a struct of two lists) through the generic row reader.
func TestParquetNestedLayout(t *testing.T) {
	type choices struct {
		Text  []string `parquet:"text,list"`
		Label []string `parquet:"label,list"`
	}
	type arcRow struct {
		ID        string  `parquet:"id"`
		Question  string  `parquet:"question"`
		Choices   choices `parquet:"choices"`
		AnswerKey string  `parquet:"answerKey"`
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[arcRow](&b)
	if _, err := w.Write([]arcRow{{"q1", "Why?", choices{[]string{"a", "b", "c"}, []string{"A", "B", "C"}}, "C"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "arc.parquet", b.Bytes())
	rows, _, err := ReadAllRows(path, ReadOptions{}, false)
	if err != nil || len(rows) != 1 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	it, err := DecodeMC(TaskARC, rows[0], MCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pairs := MCPairs(it, "", "arc")
	if len(pairs) != 2 || pairs[0].Prompt != "Question: Why?\nAnswer:" || pairs[0].Chosen != " c" || pairs[1].Rejected != " b" || pairs[1].ID != "q1/1" {
		t.Errorf("pairs %+v", pairs)
	}
}

func TestDeduper(t *testing.T) {
	d := NewDeduper()
	msgs := []any{map[string]any{"role": "user", "content": "a"}}
	tests := []struct {
		p    Pair
		seen bool
	}{
		{Pair{Prompt: "p", Chosen: "a", Rejected: "b", ID: "1"}, false},
		{Pair{Prompt: "p", Chosen: "a", Rejected: "b", ID: "2"}, true}, // IDs do not matter
		{Pair{Prompt: "p", Chosen: "ab", Rejected: ""}, false},         // lengths keep fields apart
		{Pair{Prompt: "p", Chosen: "a", Rejected: "c"}, false},
		{Pair{Prompt: msgs, Chosen: "a", Rejected: "b"}, false}, // message list vs string "a"
		{Pair{Prompt: "a", Chosen: "a", Rejected: "b"}, false},
		{Pair{Prompt: msgs, Chosen: "a", Rejected: "b"}, true},
	}
	for i, tt := range tests {
		if got := d.Seen(tt.p); got != tt.seen {
			t.Errorf("pair %d: Seen = %v, want %v", i, got, tt.seen)
		}
	}
}

func TestInEvalSplit(t *testing.T) {
	const n = 20000
	for _, f := range []float64{0, 0.05, 0.3} {
		in := 0
		for i := range n {
			if InEvalSplit(fmt.Sprintf("question %d", i), f, 1) {
				in++
			}
		}
		// Binomial standard deviation sqrt(f(1-f)/n) <= 0.0033; allow 5 of them.
		if got := float64(in) / n; got < f-0.017 || got > f+0.017 {
			t.Errorf("fraction %v: %v in the split", f, got)
		}
	}
	if first, again := InEvalSplit("q", 0.5, 1), InEvalSplit("q", 0.5, 1); first != again {
		t.Error("not deterministic")
	}
	differ := 0
	for i := range 100 {
		k := fmt.Sprint(i)
		if InEvalSplit(k, 0.5, 1) != InEvalSplit(k, 0.5, 2) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("the seed does not change the split")
	}
}
