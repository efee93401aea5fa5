package promptfmt

import (
	"strings"
	"testing"
)

// TestFormats checks each preset and a Jinja string against hand-written
// results.
func TestFormats(t *testing.T) {
	fields := map[string]any{"id": "q7", "n": 3.0}
	for _, tc := range []struct {
		spec, prompt, completion string
		wantPrompt, wantComp     string
	}{
		{"", "How many?", "Two.", "How many?", "Two."},
		{"raw", "How many?", "Two.", "How many?", "Two."},
		{"gsm8k", "How many?", "Two.\n#### 2", "Question: How many?\nAnswer:", " Two.\n#### 2"},
		{"question-answer", "How many?", "Two.", "Question: How many?\nAnswer:", " Two."},
		{"Q ({{ id }}): {{ prompt }}\nA:", "How many?", "Two.", "Q (q7): How many?\nA:", "Two."},
	} {
		f, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		p, err := f.Prompt(tc.prompt, fields)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		if p != tc.wantPrompt || f.Completion(tc.completion) != tc.wantComp {
			t.Errorf("%q: prompt %q completion %q, want %q and %q", tc.spec, p, f.Completion(tc.completion), tc.wantPrompt, tc.wantComp)
		}
	}
	for _, bad := range []string{"gsm9k", "{{ question }}", "{{ prompt "} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "prompt template") {
			t.Errorf("%q: err %v, want a prompt template error", bad, err)
		}
	}
}
