package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTextQuirks reads files with a byte order mark, invalid UTF-8, null
// fields and a directory in place of a file, checking rows and messages.
func TestTextQuirks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, file, content string
		skipBad             bool
		wantRows            int
		wantFirst           string // Fields["a"] of the first row
		wantErr             string // error, or the first skipped row's message
	}{
		{name: "BOM before JSONL", file: "bom.jsonl", content: "\ufeff{\"a\": \"x\"}\n{\"a\": \"y\"}\n", wantRows: 2, wantFirst: "x"},
		{name: "BOM before a JSON array", file: "bom.json", content: "\ufeff [{\"a\": \"x\"}]", wantRows: 1, wantFirst: "x"},
		{name: "BOM before CSV", file: "bom.csv", content: "\ufeffa,b\nx,y\n", wantRows: 1, wantFirst: "x"},
		{name: "invalid UTF-8 in JSONL", file: "bad.jsonl", content: "{\"a\": \"x\"}\n{\"a\": \"caf\xe9\"}\n",
			wantErr: `bad.jsonl:2: invalid UTF-8 (byte 0xe9 at byte 11 of the line): the file must be UTF-8 text`},
		{name: "invalid UTF-8 skipped", file: "skip.jsonl", content: "{\"a\": \"x\"}\n{\"a\": \"caf\xe9\"}\n{\"a\": \"z\"}\n", skipBad: true,
			wantRows: 2, wantFirst: "x", wantErr: `skip.jsonl:2: invalid UTF-8`},
		{name: "invalid UTF-8 in a JSON array", file: "bad.json", content: "[{\"a\": \"x\"}, {\"a\": \"\xff\"}]",
			wantErr: `bad.json:2: element 2: invalid UTF-8 (byte 0xff`},
		{name: "invalid UTF-8 in CSV", file: "bad.csv", content: "a,b\nx,\xff\n", wantErr: `bad.csv:2: field "b": invalid UTF-8`},
		{name: "invalid UTF-8 in HellaSwag text", file: "hs.txt", content: "A: c\n0\n\xff\ne2\ne3\ne4\nB: d\n1\nf1\nf2\nf3\nf4\n", skipBad: true,
			wantRows: 1, wantErr: `hs.txt:3: invalid UTF-8`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(c.file, c.content)
			rows, skipped, err := ReadAllRows(p, ReadOptions{}, c.skipBad)
			if !c.skipBad && c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != c.wantRows {
				t.Fatalf("got %d rows, want %d", len(rows), c.wantRows)
			}
			if c.wantFirst != "" && rows[0].Fields["a"] != c.wantFirst {
				t.Errorf("first row a = %v, want %q", rows[0].Fields["a"], c.wantFirst)
			}
			if c.wantErr != "" && (len(skipped) != 1 || !strings.Contains(skipped[0].Error(), c.wantErr)) {
				t.Errorf("skipped %v, want one containing %q", skipped, c.wantErr)
			}
		})
	}

	sub := filepath.Join(dir, "pairs.jsonl")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadAllRows(sub, ReadOptions{}, false); err == nil || !strings.Contains(err.Error(), "pairs.jsonl is a directory, not a data file") {
		t.Errorf("directory named like a file: got %v", err)
	}
}

// TestLongLineIsRefused reads a JSONL file whose second line passes the
// line limit (lowered to 1 KiB for the test) and checks the error names
// where it happened instead of the reader growing without bound.
func TestLongLineIsRefused(t *testing.T) {
	old := maxLineBytes
	maxLineBytes = 1 << 10
	defer func() { maxLineBytes = old }()
	p := filepath.Join(t.TempDir(), "long.jsonl")
	long := `{"a": "` + strings.Repeat("x", 70000) + `"}`
	if err := os.WriteFile(p, []byte("{\"a\": 1}\n"+long+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := ReadAllRows(p, ReadOptions{}, true)
	if err == nil || !strings.Contains(err.Error(), "long.jsonl after line 1: a line longer than 1024 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestNullIsNotMissing checks that a field set to null is reported as null,
// and one absent as missing.
func TestNullIsNotMissing(t *testing.T) {
	for _, c := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"chosen": nil}, `f.jsonl:4: field "chosen": is null`},
		{map[string]any{}, `f.jsonl:4: field "chosen": missing`},
		{map[string]any{"chosen": 3.0}, `f.jsonl:4: field "chosen": want a string, got a number`},
	} {
		_, err := getString(Row{Fields: c.fields, Source: "f.jsonl", Line: 4}, nil, "chosen")
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: got %v, want %q", c.fields, err, c.want)
		}
	}
}
