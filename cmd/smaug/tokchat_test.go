package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// TestChatCommand renders fixture conversations through `smaug chat` (a
// tokenizer_config.json written from the fixture row) and compares the
// output byte for byte with transformers' rendering, or expects an error
// where transformers raised one.
func TestChatCommand(t *testing.T) {
	path := sharedtest.Path(t, "fixtures/chat/renders.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var rendered, errored int
	for line := 1; sc.Scan() && rendered+errored < 12; line++ {
		if line%40 != 1 { // a spread of templates, to keep the test short
			continue
		}
		var row struct {
			Template            string          `json:"template"`
			Messages            json.RawMessage `json:"messages"`
			AddGenerationPrompt bool            `json:"add_generation_prompt"`
			BOS                 string          `json:"bos_token"`
			EOS                 string          `json:"eos_token"`
			Rendered            *string         `json:"rendered"`
			Error               *string         `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		dir := t.TempDir()
		cfg, _ := json.Marshal(map[string]any{"chat_template": row.Template, "bos_token": row.BOS, "eos_token": row.EOS})
		os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644)
		msgs := filepath.Join(dir, "messages.json")
		os.WriteFile(msgs, row.Messages, 0o644)
		args := []string{"chat", "--tokenizer-config", dir, "--messages", msgs}
		if row.AddGenerationPrompt {
			args = append(args, "--add-generation-prompt")
		}
		out, err := runCLI(t, args...)
		switch {
		case row.Error != nil:
			errored++
			if err == nil {
				t.Errorf("%s:%d: transformers raised %q, smaug chat printed %q", path, line, *row.Error, out)
			}
		case err != nil:
			t.Errorf("%s:%d: smaug chat: %v\n%s", path, line, err, out)
		default:
			rendered++
			if out != *row.Rendered {
				t.Errorf("%s:%d: smaug chat printed\n%q\nwant\n%q", path, line, out, *row.Rendered)
			}
		}
	}
	t.Logf("%d rows rendered identically, %d raised as in transformers", rendered, errored)
	if rendered == 0 {
		t.Fatal("no row rendered")
	}
}

// TestTokenizeCommand encodes fixture strings through `smaug tokenize`
// and compares the printed ids with Hugging Face's (encodings.json), then
// decodes them back with --decode.
func TestTokenizeCommand(t *testing.T) {
	enc := sharedtest.Path(t, "fixtures/tokenizers/encodings.json")
	b, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Strings []string
		Cases   map[string]struct {
			File             string
			AddSpecialTokens bool `json:"add_special_tokens"`
			IDs              [][]int
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	c, ok := f.Cases["llama3/plain"]
	if !ok {
		t.Fatal("encodings.json has no llama3/plain case")
	}
	tok := filepath.Join(filepath.Dir(enc), filepath.Dir(c.File))
	for _, i := range []int{1, 7, 20} {
		s := f.Strings[i]
		out, err := runCLI(t, "tokenize", "--tokenizer", tok, "--text", s)
		if err != nil {
			t.Fatalf("smaug tokenize: %v\n%s", err, out)
		}
		var ids []int
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ids); err != nil {
			t.Fatalf("output %q is not a JSON list of ids: %v", out, err)
		}
		if want, _ := json.Marshal(c.IDs[i]); strings.TrimSpace(out) != string(want) && !(len(ids) == 0 && len(c.IDs[i]) == 0) {
			t.Errorf("string %d %q: ids %v, want %v", i, s, ids, c.IDs[i])
		}
		if len(ids) == 0 {
			continue
		}
		list, _ := json.Marshal(ids)
		back, err := runCLI(t, "tokenize", "--tokenizer", tok, "--decode", "--text", string(list))
		if err != nil {
			t.Fatalf("smaug tokenize --decode: %v\n%s", err, back)
		}
		if back != s { // printed as is, no newline added

			t.Errorf("decode of string %d: %q, want %q", i, back, s)
		}
	}
}
