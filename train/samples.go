package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/smaug-dev/smaug/model"
)

// SamplesConfig sets the greedy generations made at every evaluation, for
// a few fixed eval prompts, so that a model that stops ending its answers
// (or starts repeating itself) is seen during training.
type SamplesConfig struct {
	// Prompts is the number of eval prompts (the first ones of the eval
	// data) to generate from; 0 turns samples off.
	Prompts int
	// MaxNewTokens caps each generation.
	MaxNewTokens int
}

// DefaultSamples are the samples settings of [Defaults].
var DefaultSamples = SamplesConfig{Prompts: 4, MaxNewTokens: 64}

// Validate reports a setting that cannot work.
func (s SamplesConfig) Validate() error {
	switch {
	case s.Prompts < 0:
		return fmt.Errorf("Samples.Prompts must be ≥ 0, got %d", s.Prompts)
	case s.Prompts > 0 && s.MaxNewTokens < 1:
		return fmt.Errorf("Samples.MaxNewTokens must be ≥ 1, got %d", s.MaxNewTokens)
	}
	return nil
}

// Sample is one greedy generation, a row of samples.jsonl.
type Sample struct {
	Step       int    `json:"step"`
	Source     string `json:"source"` // file:line of the eval prompt
	Prompt     []int  `json:"prompt_ids"`
	Completion []int  `json:"completion_ids"`
	// Text is the completion's text, when the trainer has a decoder.
	Text string `json:"completion,omitempty"`
	// EOS reports that generation ended with an end-of-sequence token
	// before MaxNewTokens.
	EOS bool `json:"eos"`
}

// Sample metric names (in eval rows, with the eval_ prefix).
const (
	// MetricSampleLength is the mean number of generated tokens.
	MetricSampleLength = "samples/mean_length"
	// MetricSampleEOSRate is the share of generations that ended with EOS.
	MetricSampleEOSRate = "samples/eos_rate"
)

// generateSamples makes the greedy generations of the first
// Samples.Prompts eval prompts with the current policy, appends them to
// samples.jsonl in the run folder, and returns them.
func (t *Trainer) generateSamples() ([]Sample, error) {
	n := min(t.Cfg.Samples.Prompts, len(t.eval))
	if n == 0 {
		return nil, nil
	}
	eos := t.Policy.Config.EOSTokenIDs
	out := make([]Sample, n)
	var b strings.Builder
	for i, e := range t.eval[:n] {
		ids, err := t.Policy.Generate(e.Prompt, model.GenerateOptions{MaxNewTokens: t.Cfg.Samples.MaxNewTokens, StopIDs: eos})
		if err != nil {
			return nil, fmt.Errorf("samples: %s: %w", where(e), err)
		}
		s := Sample{Step: t.state.Step, Source: where(e), Prompt: e.Prompt, Completion: ids,
			EOS: len(ids) > 0 && slices.Contains(eos, ids[len(ids)-1])}
		if t.decode != nil {
			s.Text = t.decode(ids)
		}
		out[i] = s
		row, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		b.Write(append(row, '\n'))
	}
	f, err := os.OpenFile(filepath.Join(t.Cfg.Output, "samples.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return nil, err
	}
	t.lastSamples = out
	return out, f.Close()
}

// sampleMetrics are the mean length and EOS rate of samples.
func sampleMetrics(ss []Sample) map[string]float64 {
	var length, eos float64
	for _, s := range ss {
		length += float64(len(s.Completion))
		if s.EOS {
			eos++
		}
	}
	n := float64(len(ss))
	return map[string]float64{MetricSampleLength: length / n, MetricSampleEOSRate: eos / n}
}

// samplesSummary describes the last samples for the end-of-run summary.
func (t *Trainer) samplesSummary() string {
	ss := t.lastSamples
	if len(ss) == 0 {
		return ""
	}
	m := sampleMetrics(ss)
	var b strings.Builder
	fmt.Fprintf(&b, "samples at step %d (samples.jsonl): mean length %.1f tokens, EOS rate %.2f", ss[0].Step, m[MetricSampleLength], m[MetricSampleEOSRate])
	if ss[0].Text != "" {
		text := ss[0].Text
		if r := []rune(text); len(r) > 120 {
			text = string(r[:120]) + "…"
		}
		fmt.Fprintf(&b, "\n  first: %q", text)
	}
	return b.String()
}
