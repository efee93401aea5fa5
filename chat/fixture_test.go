package chat

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// fixtureRow is one line of shared/fixtures/chat/renders.jsonl: a template
// rendered by transformers 5.17.0's apply_chat_template.
type fixtureRow struct {
	TemplateName        string    `json:"template_name"`
	Template            string    `json:"template"`
	Messages            []Message `json:"messages"`
	AddGenerationPrompt bool      `json:"add_generation_prompt"`
	BOSToken            string    `json:"bos_token"`
	EOSToken            string    `json:"eos_token"`
	Rendered            *string   `json:"rendered"`
	Error               *string   `json:"error"`
}

// TestFixtureRenders renders every fixture row and requires the exact
// output, or, where transformers raised, the same exception type and
// message (the fixture's "Kind: message").
func TestFixtureRenders(t *testing.T) {
	path := sharedtest.Path(t, "fixtures/chat/renders.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	pass, total := 0, 0
	for line := 1; sc.Scan(); line++ {
		var row fixtureRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		total++
		tmpl, err := Parse(row.Template)
		if err != nil {
			t.Errorf("%s:%d %s: parse: %v", path, line, row.TemplateName, err)
			continue
		}
		got, err := tmpl.Render(row.Messages, Options{
			AddGenerationPrompt: row.AddGenerationPrompt,
			BOSToken:            row.BOSToken,
			EOSToken:            row.EOSToken,
		})
		switch {
		case row.Error != nil:
			e, ok := err.(*Error)
			if !ok || e.Kind+": "+e.Msg != *row.Error {
				t.Errorf("%s:%d %s: want error %q, got %q (err %v)", path, line, row.TemplateName, *row.Error, got, err)
				continue
			}
		case err != nil:
			t.Errorf("%s:%d %s: %v", path, line, row.TemplateName, err)
			continue
		case got != *row.Rendered:
			t.Errorf("%s:%d %s:\n got %q\nwant %q", path, line, row.TemplateName, got, *row.Rendered)
			continue
		}
		pass++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d fixture rows match transformers", pass, total)
	if total == 0 {
		t.Fatal("no fixture rows read")
	}
}
