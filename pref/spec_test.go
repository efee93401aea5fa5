package pref

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		losses, weights string
		want            Spec
	}{
		{"dpo", "", Spec{Losses: []string{"dpo"}, Beta: 0.1, SimPOGamma: 0.5, ORPOAlpha: 0.1}},
		{"sigmoid", "", Spec{Losses: []string{"dpo"}, Beta: 0.1, SimPOGamma: 0.5, ORPOAlpha: 0.1}},
		{" DPOP , sft ", "1, 0.2", Spec{Losses: []string{"dpop", "sft"}, Weights: []float64{1, 0.2},
			Beta: 0.3, DPOPLambda: 50, SimPOGamma: 0.5, ORPOAlpha: 0.1}},
		{"simpo,orpo", "0.5,0", Spec{Losses: []string{"simpo", "orpo"}, Weights: []float64{0.5, 0},
			Beta: 0.1, SimPOGamma: 0.5, ORPOAlpha: 0.1}},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.losses, tt.weights)
		if err != nil {
			t.Errorf("ParseSpec(%q, %q): %v", tt.losses, tt.weights, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSpec(%q, %q) = %+v, want %+v", tt.losses, tt.weights, got, tt.want)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		losses, weights string
		want            []string // substrings of the error
	}{
		{"dpo,dop", "", []string{"item 2", `"dop"`, "dpo, dpop, ipo, hinge, robust, cdpo, exo_pair, nca_pair, bco_pair, sppo_hard, apo_zero, apo_down, sft, simpo, orpo"}},
		{"", "", []string{"item 1", `""`}},
		{"dpo,sft", "1", []string{"Weights has 1 values for 2 losses"}},
		{"dpo,sft", "1,x", []string{"item 2", `"x"`}},
		{"dpo", "-1", []string{"Weights[0] = -1"}},
		{"dpo,dpo", "", []string{"Losses[1]", "listed twice"}},
	}
	for _, tt := range tests {
		_, err := ParseSpec(tt.losses, tt.weights)
		if err == nil {
			t.Errorf("ParseSpec(%q, %q): no error", tt.losses, tt.weights)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseSpec(%q, %q): error %q does not mention %q", tt.losses, tt.weights, err, w)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{Losses: []string{"dpop"}, Beta: 0.3, DPOPLambda: 50}
	tests := []struct {
		name   string
		change func(*Spec)
		want   string // "" for valid
	}{
		{"ok", func(*Spec) {}, ""},
		{"no losses", func(s *Spec) { s.Losses = nil }, "Losses is empty"},
		{"unknown", func(s *Spec) { s.Losses = []string{"dpo", "kto"} }, `Losses[1]: unknown loss "kto"`},
		{"zero beta", func(s *Spec) { s.Beta = 0 }, "Beta = 0"},
		{"dpop without lambda", func(s *Spec) { s.DPOPLambda = 0 }, "DPOPLambda = 0"},
		{"negative lambda", func(s *Spec) { s.Losses = []string{"dpo"}; s.DPOPLambda = -1 }, "DPOPLambda = -1"},
		{"lambda on dpo", func(s *Spec) { s.Losses = []string{"dpo"} }, ""},
		{"label smoothing 0.5", func(s *Spec) { s.LabelSmoothing = 0.5 }, "LabelSmoothing = 0.5"},
		{"label smoothing 0.49", func(s *Spec) { s.LabelSmoothing = 0.49 }, ""},
		{"negative alpha", func(s *Spec) { s.ORPOAlpha = -0.1 }, "ORPOAlpha = -0.1"},
		{"weights", func(s *Spec) { s.Weights = []float64{1, 2} }, "Weights has 2 values for 1 losses"},
	}
	for _, tt := range tests {
		s := ok
		tt.change(&s)
		err := s.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestNeedsReference(t *testing.T) {
	tests := []struct {
		losses []string
		want   bool
	}{
		{[]string{"dpo"}, true},
		{[]string{"sft"}, false},
		{[]string{"simpo", "orpo", "sft"}, false},
		{[]string{"orpo", "apo_zero"}, true},
		{[]string{"sppo_hard"}, true},
	}
	for _, tt := range tests {
		if got := (Spec{Losses: tt.losses}).NeedsReference(); got != tt.want {
			t.Errorf("%v: NeedsReference = %v, want %v", tt.losses, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, name := range Names() {
		if Describe(name) == "" {
			t.Errorf("Describe(%q) is empty", name)
		}
	}
	if d := Describe("kto"); d != "" {
		t.Errorf(`Describe("kto") = %q, want ""`, d)
	}
}
