package data

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFolderOfShards: a folder reads as its data files one after another
// in name order, other files ignored; an empty folder is an error.
func TestFolderOfShards(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "train-00001-of-00002.jsonl"), []byte(`{"n": 3}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "train-00000-of-00002.jsonl"), []byte(`{"n": 1}`+"\n"+`{"n": 2}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# not data\n"), 0o644)
	rows, _, err := ReadAllRows(dir, ReadOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r.Fields["n"] != float64(i+1) {
			t.Errorf("row %d: %v from %s:%d", i, r.Fields, r.Source, r.Line)
		}
	}
	if filepath.Base(rows[2].Source) != "train-00001-of-00002.jsonl" || rows[2].Line != 1 {
		t.Errorf("row 3 comes from %s:%d", rows[2].Source, rows[2].Line)
	}
	if _, err := OpenRows(t.TempDir(), ReadOptions{}); err == nil {
		t.Error("an empty folder opened")
	}
}
