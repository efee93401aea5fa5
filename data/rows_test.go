package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestOpenRowsFormats(t *testing.T) {
	jsonl := "{\"a\": \"x\", \"n\": 1}\n\n{\"a\": \"y\", \"n\": 2}\r\n"
	csvText := "a,n\nx,1\n\"y\nz\",2\n"
	hs := "Cooking: A man cuts. he\n2\ne0\ne1\ne2\ne3\n"
	tests := []struct {
		name  string
		file  string
		data  []byte
		stdin string
		want  []string // "a@line" per row
	}{
		{"jsonl", "r.jsonl", []byte(jsonl), "", []string{"x@1", "y@3"}},
		{"jsonl gz", "r.jsonl.gz", gzipped(t, jsonl), "", []string{"x@1", "y@3"}},
		{"stdin", "-", nil, jsonl, []string{"x@1", "y@3"}},
		{"json array", "r.json", []byte(" \n[{\"a\": \"x\"},\n {\"a\": \"y\"}]\n"), "", []string{"x@1", "y@2"}},
		{"csv with a quoted newline", "r.csv", []byte(csvText), "", []string{"x@2", "y\nz@3"}},
		{"hellaswag text", "h.txt", []byte(hs), "", []string{"Cooking@1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.file
			if path != "-" {
				path = writeFile(t, tt.file, tt.data)
			}
			rows, _, err := ReadAllRows(path, ReadOptions{Stdin: strings.NewReader(tt.stdin)}, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				a, _ := r.Fields["a"].(string)
				if a == "" {
					a, _ = r.Fields["activity_label"].(string)
				}
				got = append(got, a+"@"+strconv.Itoa(r.Line))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("rows %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOpenRowsErrors(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{"bad json", "b.jsonl", "{\"a\":1}\n[1,2]\n", ":2: not a JSON object: json: cannot unmarshal array into Go value of type map[string]interface {}"},
		{"null line", "b.jsonl", "null\n", ":1: not a JSON object: null"},
		{"array element not an object", "b.json", "[{\"a\": 1}, 7]", ":2: element 2 is not a JSON object"},
		{"short csv row", "b.csv", "a,b\n1,2\n3\n", ":3: 1 fields, header has 2"},
		{"hellaswag without label", "b.txt", "no colon here\n0\na\nb\nc\nd\n", `:1: field "activity_label": want "activity_label: context"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, []byte(tt.content))
			_, _, err := ReadAllRows(path, ReadOptions{}, false)
			var re *RowError
			if !errors.As(err, &re) || err.Error() != path+tt.want {
				t.Fatalf("error %v, want %s%s", err, path, tt.want)
			}
			// With skipping the bad row is reported and the rest read.
			_, skipped, err := ReadAllRows(path, ReadOptions{}, true)
			if err != nil || len(skipped) != 1 {
				t.Errorf("skipping: %v, %d skipped", err, len(skipped))
			}
		})
	}
	if _, err := OpenRows("x.xml", ReadOptions{}); err == nil {
		t.Error("no error for an unknown extension")
	}
	p := writeFile(t, "h.txt", []byte("A: b\n0\ne\n"))
	if _, _, err := ReadAllRows(p, ReadOptions{}, true); err == nil || !strings.Contains(err.Error(), "truncated HellaSwag item: 3 of 6 lines") {
		t.Errorf("truncated item: %v", err)
	}
	p = writeFile(t, "bad.parquet", []byte("not parquet at all"))
	if _, err := OpenRows(p, ReadOptions{}); err == nil {
		t.Error("no error for a bad parquet file")
	}
}
