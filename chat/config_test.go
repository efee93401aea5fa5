package chat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles creates files (relative path → content) under a temp folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadTokenizerConfig(t *testing.T) {
	yes := true
	cases := []struct {
		name      string
		files     map[string]string
		pick      string // template name passed to Template
		template  string // expected result of Template(pick)
		bos, eos  string
		pad, unk  string
		addBOS    *bool
		className string
	}{
		{
			name: "string template, AddedToken specials",
			files: map[string]string{"tokenizer_config.json": `{
				"add_bos_token": true,
				"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
				"eos_token": "</s>", "pad_token": null, "unk_token": {"content": "<unk>"},
				"chat_template": "{{ bos_token }}{{ messages[0].content }}",
				"tokenizer_class": "LlamaTokenizer"}`},
			template: "{{ bos_token }}{{ messages[0].content }}",
			bos:      "<s>", eos: "</s>", unk: "<unk>", addBOS: &yes, className: "LlamaTokenizer",
		},
		{
			name: "list of named templates",
			files: map[string]string{"tokenizer_config.json": `{"chat_template": [
				{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}],
				"eos_token": "<|im_end|>", "pad_token": "<pad>"}`},
			pick: "tool_use", template: "T", eos: "<|im_end|>", pad: "<pad>",
		},
		{
			name: "list default",
			files: map[string]string{"tokenizer_config.json": `{"chat_template": [
				{"name": "default", "template": "D"}, {"name": "rag", "template": "R"}]}`},
			template: "D",
		},
		{
			name: "chat_template.jinja takes precedence",
			files: map[string]string{
				"tokenizer_config.json": `{"chat_template": "old"}`,
				"chat_template.jinja":   "new {{ x }}\n",
			},
			template: "new {{ x }}\n",
		},
		{
			name: "additional_chat_templates folder",
			files: map[string]string{
				"tokenizer_config.json":                    `{}`,
				"chat_template.jinja":                      "main",
				"additional_chat_templates/tool_use.jinja": "tools",
			},
			pick: "tool_use", template: "tools",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			for _, path := range []string{dir, filepath.Join(dir, "tokenizer_config.json")} {
				cfg, err := LoadTokenizerConfig(path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := cfg.Template(c.pick)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.template {
					t.Errorf("Template(%q) = %q, want %q", c.pick, got, c.template)
				}
				if cfg.BOSToken != c.bos || cfg.EOSToken != c.eos || cfg.PadToken != c.pad || cfg.UnkToken != c.unk {
					t.Errorf("specials = %q %q %q %q, want %q %q %q %q", cfg.BOSToken, cfg.EOSToken, cfg.PadToken, cfg.UnkToken, c.bos, c.eos, c.pad, c.unk)
				}
				if (cfg.AddBOSToken == nil) != (c.addBOS == nil) || cfg.AddBOSToken != nil && *cfg.AddBOSToken != *c.addBOS {
					t.Errorf("AddBOSToken = %v, want %v", cfg.AddBOSToken, c.addBOS)
				}
				if cfg.TokenizerClass != c.className {
					t.Errorf("TokenizerClass = %q, want %q", cfg.TokenizerClass, c.className)
				}
				if cfg.Path != filepath.Join(dir, "tokenizer_config.json") {
					t.Errorf("Path = %q", cfg.Path)
				}
			}
		})
	}
}

func TestLoadTokenizerConfigErrors(t *testing.T) {
	cases := []struct{ name, content, want string }{
		{"malformed JSON", "{\n  \"bos_token\": \"<s>\",\n  \"eos_token\" \"</s>\"\n}", "tokenizer_config.json: line 3, column 15"},
		{"truncated", `{"bos_token": "<s>"`, "unexpected end of JSON input"},
		{"not an object", `[1]`, "want a JSON object"},
		{"bad special token", "{\n\n  \"bos_token\": 5}", "line 3: field bos_token: want a string"},
		{"AddedToken without content", `{"eos_token": {"lstrip": true}}`, "field eos_token: AddedToken object without"},
		{"bad template type", `{"chat_template": 3}`, "field chat_template: want a string or a list"},
		{"template list entry", `{"chat_template": [{"name": "x"}]}`, "field chat_template[0]: want both"},
		{"bad add_bos_token", `{"add_bos_token": "yes"}`, "field add_bos_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"tokenizer_config.json": c.content})
			_, err := LoadTokenizerConfig(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want error containing %q", err, c.want)
			}
		})
	}
	if _, err := LoadTokenizerConfig(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("missing path loaded without error")
	}
}

func TestTemplateSelectionErrors(t *testing.T) {
	cases := []struct{ name, content, pick, want string }{
		{"no template", `{"bos_token": "<s>"}`, "", "has no chat template"},
		{"no default among several", `{"chat_template": [{"name": "a", "template": "A"}, {"name": "b", "template": "B"}]}`, "", "several chat templates (a, b)"},
		{"unknown name", `{"chat_template": "X"}`, "rag", `no chat template named "rag"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadTokenizerConfig(writeFiles(t, map[string]string{"tokenizer_config.json": c.content}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cfg.Template(c.pick); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Template(%q) error = %v, want one containing %q", c.pick, err, c.want)
			}
		})
	}
}

// TestRenderOptionsFromConfig checks the special tokens handed to templates.
func TestRenderOptionsFromConfig(t *testing.T) {
	cfg := &TokenizerConfig{BOSToken: "<s>", EOSToken: "</s>", UnkToken: "<unk>"}
	o := cfg.RenderOptions(true)
	if !o.AddGenerationPrompt || o.BOSToken != "<s>" || o.EOSToken != "</s>" || o.Extra["unk_token"] != "<unk>" || len(o.Extra) != 1 {
		t.Errorf("RenderOptions = %+v", o)
	}
}
