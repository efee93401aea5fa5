package data

import (
	"bytes"
	"testing"

	"github.com/smaug-dev/smaug/internal/fuzzlimit"
)

// FuzzReadJSONL reads arbitrary bytes as a JSONL (or JSON array) file with
// bad rows skipped, under a memory limit: a panic, or more than 64 MiB
// allocated for an input of a few kilobytes, is a finding.
func FuzzReadJSONL(f *testing.F) {
	for _, s := range []string{
		"{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}\n{\"a\": [1, 2, {\"b\": null}]}\n",
		"\ufeff[{\"a\": 1}, {\"a\": \"x\"}]",
		"{\"a\": \"caf\xe9\"}\n\n  \n{}\n",
		"[1, 2",
	} {
		f.Add([]byte(s))
	}
	fuzzlimit.Set(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzlimit.Run(t, 64<<20, string(b), func() {
			rows, _, err := ReadAllRows("-", ReadOptions{Format: FormatJSONL, Stdin: bytes.NewReader(b)}, true)
			if err == nil {
				for _, r := range rows {
					if r.Fields == nil || r.Line < 1 {
						t.Fatalf("row %+v without fields or line", r)
					}
				}
			}
		})
	})
}
