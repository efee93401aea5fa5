package optim

import (
	"strings"
	"testing"
)

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings(1e-5).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"negative lr", func(s *Settings) { s.LR = -1 }, "base learning rate -1"},
		{"schedule", func(s *Settings) { s.Schedule = "step" }, `kind "step"`},
		{"warmup", func(s *Settings) { s.WarmupSteps = -2 }, "warmup -2"},
		{"beta1", func(s *Settings) { s.Beta1 = 1 }, "beta1 = 1"},
		{"eps", func(s *Settings) { s.Eps = -1e-8 }, "eps = -1e-08"},
		{"decay", func(s *Settings) { s.WeightDecay = -0.1 }, "weight decay = -0.1"},
		{"clip", func(s *Settings) { s.MaxGradNorm = -1 }, "MaxGradNorm = -1"},
	} {
		s := DefaultSettings(1e-5)
		tc.edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
