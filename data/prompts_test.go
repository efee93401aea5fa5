package data

import "testing"

func TestPromptFormats(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"arc", ARCQuery("Which gas do plants take in?"), "Question: Which gas do plants take in?\nAnswer:"},
		{"gsm8k", GSM8KQuery("What is 2+2?"), "Question: What is 2+2?\nAnswer:"},
		{"capitalize lowers the rest", PyCapitalize("the LADY then"), "The lady then"},
		{"capitalize empty", PyCapitalize(""), ""},
		{"capitalize non-letter first", PyCapitalize("1st Place"), "1st place"},
		{"strip", PyStrip("\x1c \t a b \n\x1f"), "a b"},
		// Strip comes first, so a leading "[header]" leaves a space, and
		// three spaces become two in the single replace pass.
		{"hellaswag preprocess wikihow", HellaSwagPreprocess(" [header] How to tie a tie [title] Pick a tie.  [step] Hold it. "),
			" How to tie a tie. Pick a tie.  Hold it."},
		{"hellaswag preprocess one pass of double spaces", HellaSwagPreprocess("a   b"), "a  b"},
		{"hellaswag query", HellaSwagQuery("Roof shingle removal", "A man is sitting on a roof.", "he"),
			"Roof shingle removal: A man is sitting on a roof. He"},
		{"hellaswag query empty ctx_b", HellaSwagQuery("Family Life", "[header] How to play [title] Ask.", ""),
			"Family Life: How to play. Ask."},
		{"mmlu description", MMLUDescription("high_school_biology"),
			"The following are multiple choice questions (with answers) about high school biology."},
		{"mmlu query", MMLUQuery(" What is 1+1? ", []string{"1", "2", "3", "4"}),
			"What is 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:"},
		{"few-shot with description", FewShotContext("Desc.", []string{"Q1 A1", "Q2 A2"}, "Q3"), "Desc.\n\nQ1 A1\n\nQ2 A2\n\nQ3"},
		{"zero-shot with description", FewShotContext("Desc.", nil, "Q3"), "Desc.\n\nQ3"},
		{"zero-shot", FewShotContext("", nil, "Q3"), "Q3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestWinogrande(t *testing.T) {
	s := "Sarah was a much better surgeon than Maria so _ always got the harder cases. "
	ctx, err := WinograndeContext(s, "Maria")
	if err != nil || ctx != "Sarah was a much better surgeon than Maria so Maria" {
		t.Errorf("context %q, %v", ctx, err)
	}
	tgt, err := WinograndeTarget(s)
	if err != nil || tgt != " always got the harder cases." {
		t.Errorf("target %q, %v", tgt, err)
	}
	if _, err := WinograndeContext("no blank", "x"); err == nil {
		t.Error("no error for a sentence without a blank")
	}
}

func TestARCGold(t *testing.T) {
	tests := []struct {
		key    string
		labels []string
		want   int
		ok     bool
	}{
		{"C", []string{"A", "B", "C", "D"}, 2, true},
		{"3", []string{"1", "2", "3", "4"}, 2, true},
		{"2", []string{"A", "B", "C"}, 1, true},
		{"E", []string{"A", "B", "C", "D"}, 0, false},
	}
	for _, tt := range tests {
		got, err := ARCGold(tt.key, tt.labels)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ARCGold(%q, %q) = %d, %v; want %d, ok %v", tt.key, tt.labels, got, err, tt.want, tt.ok)
		}
	}
}

func TestGSM8KAnswer(t *testing.T) {
	tests := []struct {
		text, want string
		ok         bool
	}{
		{"so 5\n#### 1,200", "1200", true},
		{"#### -3.5 and #### 7", "-3.5", true},
		{"The answer is 4", "", false},
	}
	for _, tt := range tests {
		got, ok := GSM8KAnswer(tt.text)
		if got != tt.want || ok != tt.ok {
			t.Errorf("GSM8KAnswer(%q) = %q, %v; want %q, %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
}
