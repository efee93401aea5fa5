package train

import (
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
	write(`{"prompt":"what is two plus two","chosen":"four","rejected":"five"}` + "\n")
	miss("other data", c, o)

	ids := filepath.Join(dir, "ids.jsonl")
	os.WriteFile(ids, []byte(`{"prompt_ids":[1,5],"chosen_ids":[6,2],"rejected_ids":[7,2]}`+"\n"), 0o644)
	if _, _, _, err := c.Load(ids, o); err != nil || c.Text {
		t.Errorf("token-id data: text %v, err %v", c.Text, err)
	}
}
