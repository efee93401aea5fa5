package train

import (
	"fmt"
	"github.com/smaug-dev/smaug/promptfmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// wordEncoder encodes each space-separated word as its length + 3.
type wordEncoder struct{}

func (wordEncoder) Encode(text string, addSpecial bool) []int {
	var ids []int
	if addSpecial {
		ids = append(ids, 1)
	}
	for _, w := range strings.Fields(text) {
		ids = append(ids, 3+len(w)%20)
	}
	return ids
}
func (wordEncoder) BOS() int { return 1 }
func (wordEncoder) EOS() int { return 2 }

// TestTokenCache: the second load of the same data with the same settings
// is a hit (counted) and gives identical examples and stats; other
// settings, other contents or another tokenizer identity miss.
func TestTokenCache(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	write := func(s string) {
		if err := os.WriteFile(data, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"prompt":"what is two plus two","chosen":"four of course","rejected":"five"}
{"prompt":"name a colour","chosen":"red","rejected":"a very long answer that will be cut off here"}
`)
	o := LoadOptions{Mode: Preference, Encoder: wordEncoder{}, MaxLength: 10, MaxPromptLength: 6}
	c := &TokenCache{Dir: filepath.Join(dir, "cache"), Tokenizer: "words"}
	want, wantSt, err := LoadExamples(data, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, wantHit := range []bool{false, true, true} {
		exs, st, hit, err := c.Load(data, o)
		if err != nil {
			t.Fatal(err)
		}
		if hit != wantHit || !reflect.DeepEqual(exs, want) || !reflect.DeepEqual(st, wantSt) || !c.Text {
			t.Fatalf("load %d: hit %v (want %v), text %v, examples equal %v, stats %+v vs %+v", i, hit, wantHit, c.Text, reflect.DeepEqual(exs, want), st, wantSt)
		}
	}
	if c.Hits != 2 || c.Misses != 1 {
		t.Errorf("hits %d misses %d, want 2 and 1", c.Hits, c.Misses)
	}
	miss := func(what string, c *TokenCache, o LoadOptions) {
		t.Helper()
		if _, _, hit, err := c.Load(data, o); err != nil || hit {
			t.Errorf("%s: hit %v, err %v; want a miss", what, hit, err)
		}
	}
	o2 := o
	o2.MaxLength = 12
	miss("another max length", c, o2)
	miss("another tokenizer", &TokenCache{Dir: c.Dir, Tokenizer: "other"}, o)
	o3 := o
	o3.OptionalRejected = true
	miss("rejected optional", c, o3)
	gsm, err := promptfmt.Parse("gsm8k")
	if err != nil {
		t.Fatal(err)
	}
	o4 := o
	o4.Format = gsm
	miss("another prompt template", c, o4)
	write(`{"prompt":"what is two plus two","chosen":"four","rejected":"five"}` + "\n")
	miss("other data", c, o)

	ids := filepath.Join(dir, "ids.jsonl")
	os.WriteFile(ids, []byte(`{"prompt_ids":[1,5],"chosen_ids":[6,2],"rejected_ids":[7,2]}`+"\n"), 0o644)
	if _, _, _, err := c.Load(ids, o); err != nil || c.Text {
		t.Errorf("token-id data: text %v, err %v", c.Text, err)
	}
}

// TestLoadExamplesParallel: over 2500 rows (three chunks) with bad rows,
// truncation and both row layouts, the parallel loader gives what
// LoadExamples gives: examples, stats, and without SkipBadRows the same
// first error.
func TestLoadExamplesParallel(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 2500; i++ {
		switch {
		case i%997 == 5:
			b.WriteString(`{"prompt":"bad row","chosen":"no rejected"}` + "\n")
		case i%2 == 0:
			fmt.Fprintf(&b, `{"prompt":"question %d %s","chosen":"yes %s","rejected":"no"}`+"\n", i, strings.Repeat("w ", i%9), strings.Repeat("x ", i%13))
		default:
			fmt.Fprintf(&b, `{"prompt_ids":[1,%d],"chosen_ids":[5,%d,2],"rejected_ids":[6,2]}`+"\n", 3+i%20, 3+i%25)
		}
	}
	data := filepath.Join(dir, "rows.jsonl")
	os.WriteFile(data, []byte(b.String()), 0o644)
	for _, skip := range []bool{true, false} {
		o := LoadOptions{Mode: Preference, Encoder: wordEncoder{}, MaxLength: 12, MaxPromptLength: 6, SkipBadRows: skip}
		want, wantSt, wantErr := LoadExamples(data, o)
		for _, workers := range []int{2, 3} {
			got, st, err := LoadExamplesParallel(data, o, workers)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(st, wantSt) {
				t.Errorf("skip %v, %d workers: %d examples, %+v, %v; LoadExamples: %d, %+v, %v", skip, workers, len(got), st, err, len(want), wantSt, wantErr)
			}
		}
		if skip && (wantSt.Skipped != 3 || wantSt.TruncatedCompletion == 0) {
			t.Errorf("the data does not exercise skips and truncation: %+v", wantSt)
		}
	}
}
