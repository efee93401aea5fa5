package chat

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

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
	pinClock(t, fixtureDate)
	rows, path := readFixtureRows(t)
	pass := 0
	for i, row := range rows {
		line := i + 1
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
	t.Logf("%d of %d fixture rows match transformers", pass, len(rows))
}

// fixtureDate is the day renders.jsonl was made; templates that call
// strftime_now (Llama-3.2's "Today Date") printed it.
var fixtureDate = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// pinClock makes strftime_now read d for the rest of the test.
func pinClock(t *testing.T, d time.Time) {
	saved := now
	t.Cleanup(func() { now = saved })
	now = func() time.Time { return d }
}

// TestFixtureRendersOnOtherDates renders the fixture with the clock set to
// two other days: rows whose template does not call strftime_now render
// exactly as on the fixture's day, and the rows that do show the pinned
// date where the fixture shows its own ("27 Nov 2026"), and nowhere else
// differ.
func TestFixtureRendersOnOtherDates(t *testing.T) {
	rows, path := readFixtureRows(t)
	dated := 0
	for _, day := range []time.Time{
		time.Date(2024, 2, 29, 23, 59, 0, 0, time.UTC),
		time.Date(2031, 7, 4, 0, 0, 1, 0, time.UTC),
	} {
		pinClock(t, day)
		want := day.Format("02 Jan 2006")
		for i, row := range rows {
			if row.Rendered == nil {
				continue
			}
			tmpl, err := Parse(row.Template)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			got, err := tmpl.Render(row.Messages, Options{AddGenerationPrompt: row.AddGenerationPrompt, BOSToken: row.BOSToken, EOSToken: row.EOSToken})
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			expect := *row.Rendered
			if strings.Contains(row.Template, "strftime_now") {
				if !strings.Contains(expect, "27 Nov 2026") {
					t.Fatalf("%s:%d %s: fixture row calls strftime_now but shows no date", path, i+1, row.TemplateName)
				}
				expect = strings.ReplaceAll(expect, "27 Nov 2026", want)
				dated++
			}
			if got != expect {
				t.Errorf("clock %s, %s:%d %s:\n got %q\nwant %q", want, path, i+1, row.TemplateName, got, expect)
			}
		}
	}
	if dated == 0 {
		t.Fatal("no fixture row calls strftime_now: the test checks nothing date-dependent")
	}
	t.Logf("%d dated renders followed the clock", dated)
}

// readFixtureRows reads every row of renders.jsonl.
func readFixtureRows(t *testing.T) ([]fixtureRow, string) {
	t.Helper()
	path := sharedtest.Path(t, "fixtures/chat/renders.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	var rows []fixtureRow
	for line := 1; sc.Scan(); line++ {
		var row fixtureRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no fixture rows read")
	}
	return rows, path
}
