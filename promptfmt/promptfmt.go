// Package promptfmt owns the one formatting step between a row's text and
// the text a model is trained or scored on: the prompt template. A
// template is a named preset or a Jinja string; it turns a row's prompt
// into the text the model reads and says what goes before each completion.
// smaug pairs, train, sft, logprobs and reproduce all format text rows
// through it, so the prompt tokens agree from building pairs to training
// and scoring them.
//
// Presets:
//
//	raw              prompt and completion as they are (the default)
//	gsm8k            "Question: " + prompt + "\nAnswer:", completion " " + text
//	                 (the lm-evaluation-harness GSM8K layout; reproduce uses it)
//	question-answer  the same layout as gsm8k, by its general name
//
// A Jinja string renders the prompt with the variable prompt (and every
// other string field of the row by its name), for example
// "Q: {{ prompt }}\nA:"; completions follow it as they are.
package promptfmt

import (
	"fmt"
	"sort"
	"strings"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/data"
)

// Format is a parsed prompt template.
type Format struct {
	// Name is the preset's name or the Jinja source, as given.
	Name string
	// CompletionPrefix goes before every completion (" " for gsm8k).
	CompletionPrefix string

	preset func(prompt string) string
	tmpl   *chat.Template
}

// presets are the named formats.
var presets = map[string]struct {
	prompt func(string) string
	prefix string
	help   string
}{
	"raw":             {func(p string) string { return p }, "", "prompt and completion as they are"},
	"gsm8k":           {data.GSM8KQuery, " ", `"Question: " + prompt + "\nAnswer:", completion " " + text`},
	"question-answer": {data.GSM8KQuery, " ", `as gsm8k`},
}

// Presets returns the preset names, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parse returns the format of a preset name or a Jinja string ("" is raw).
// A string that is no preset must be a Jinja template that uses prompt.
func Parse(s string) (*Format, error) {
	if s == "" {
		s = "raw"
	}
	if p, ok := presets[s]; ok {
		return &Format{Name: s, CompletionPrefix: p.prefix, preset: p.prompt}, nil
	}
	if !strings.Contains(s, "{{") || !strings.Contains(s, "prompt") {
		return nil, fmt.Errorf("prompt template %q: not a preset (%s) and not a Jinja string using {{ prompt }}", s, strings.Join(Presets(), ", "))
	}
	t, err := chat.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("prompt template %q: %w", s, err)
	}
	return &Format{Name: s, tmpl: t}, nil
}

// IsRaw reports whether the format leaves text as it is.
func (f *Format) IsRaw() bool { return f == nil || f.Name == "raw" }

// Prompt formats a prompt; fields are the row's other fields, which a
// Jinja template may use by name.
func (f *Format) Prompt(prompt string, fields map[string]any) (string, error) {
	if f == nil {
		return prompt, nil
	}
	if f.preset != nil {
		return f.preset(prompt), nil
	}
	vars := map[string]any{}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			vars[k] = s
		}
	}
	vars["prompt"] = prompt
	s, err := f.tmpl.Render(nil, chat.Options{Extra: vars})
	if err != nil {
		return "", fmt.Errorf("prompt template: %w", err)
	}
	return s, nil
}

// Completion formats a completion.
func (f *Format) Completion(c string) string {
	if f == nil {
		return c
	}
	return f.CompletionPrefix + c
}
