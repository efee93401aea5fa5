package hf

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCopyTokenizerFiles: every tokenizer, template and generation file of
// a folder is copied (chat_template.jinja and the named templates
// included), weights and unrelated files are not, and absent files are
// skipped.
func TestCopyTokenizerFiles(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{
		"tokenizer.json":                           `{"model": {}}`,
		"tokenizer_config.json":                    `{"bos_token": "<s>"}`,
		"chat_template.jinja":                      "{{ messages }}",
		"generation_config.json":                   `{"do_sample": true}`,
		"additional_chat_templates/tool_use.jinja": "{{ tools }}",
		"additional_chat_templates/notes.txt":      "not a template",
		"model.safetensors":                        "weights",
		"README.md":                                "card",
	}
	if err := os.MkdirAll(filepath.Join(src, "additional_chat_templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copied, err := CopyTokenizerFiles(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"additional_chat_templates/tool_use.jinja", "chat_template.jinja", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}
	slices.Sort(copied)
	if !slices.Equal(copied, want) {
		t.Errorf("copied %v, want %v", copied, want)
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		switch {
		case slices.Contains(want, name) && (err != nil || string(got) != body):
			t.Errorf("%s: got %q, %v; want %q", name, got, err, body)
		case !slices.Contains(want, name) && err == nil:
			t.Errorf("%s was copied", name)
		}
	}
	if !slices.Contains(TokenizerFiles(), "chat_template.jinja") {
		t.Error("TokenizerFiles() lacks chat_template.jinja")
	}
	if got, err := CopyTokenizerFiles(src, src); err != nil || len(got) != 0 {
		t.Errorf("copy onto itself: %v, %v; want nothing done", got, err)
	}
}
