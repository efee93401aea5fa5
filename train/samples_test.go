package train

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/model"
)

// TestSamples: at every evaluation (steps 2 and 4 of 4), greedy
// generations of the first 3 eval prompts go to samples.jsonl; the last
// ones equal model.Generate's greedy continuation under the saved model
// (an independent run of the generator), and the eval rows carry their
// mean length and EOS rate, recomputed here from the rows. An SFT model
// taught to end its completions with EOS (id 2) reaches an EOS rate of 1.
func TestSamples(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, tinyConfig(32), filepath.Join(dir, "init"), 7)
	var exs []Example
	for i := 0; i < 24; i++ {
		s := countingSeq(i, 1, 8)
		exs = append(exs, Example{Prompt: append([]int{1}, s[:3]...), Chosen: append(slices.Clone(s[3:]), 2), Source: "sft", Line: i + 1})
	}
	c := Defaults(SFT)
	c.Model, c.Output = filepath.Join(dir, "init"), filepath.Join(dir, "run")
	c.Optim.LR, c.Optim.Schedule, c.BatchSize, c.MaxSteps, c.EvalSteps, c.MaxLength, c.MaxPromptLength = 1e-2, "constant", 8, 60, 30, 32, 8
	c.Samples = SamplesConfig{Prompts: 3, MaxNewTokens: 12}
	tr, err := New(c, Options{Train: exs, Eval: exs[:5], Decode: func(ids []int) string { return strings.Repeat("t", len(ids)) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	summary := tr.Summary()
	tr.Close()

	f, err := os.Open(filepath.Join(c.Output, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byStep := map[int][]Sample{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		byStep[s.Step] = append(byStep[s.Step], s)
	}
	if len(byStep) != 2 || len(byStep[30]) != 3 || len(byStep[60]) != 3 {
		t.Fatalf("samples by step: %v", byStep)
	}
	m, err := model.Load(c.Output)
	if err != nil {
		t.Fatal(err)
	}
	var length, eos float64
	for i, s := range byStep[60] {
		want, err := m.Generate(exs[i].Prompt, model.GenerateOptions{MaxNewTokens: 12, StopIDs: []int{2}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Completion, want) || s.Text != strings.Repeat("t", len(want)) || s.Source != where(exs[i]) {
			t.Errorf("sample %d: %v %q, generate gives %v", i, s.Completion, s.Text, want)
		}
		length += float64(len(s.Completion))
		if s.EOS {
			eos++
		}
	}
	rows := metricRows(t, c.Output)
	var last map[string]float64
	for _, r := range rows {
		if _, ok := r["eval_"+MetricSampleEOSRate]; ok {
			last = r
		}
	}
	if last == nil || last["step"] != 60 || math.Abs(last["eval_"+MetricSampleLength]-length/3) > 1e-12 || last["eval_"+MetricSampleEOSRate] != eos/3 {
		t.Errorf("last eval row %v; samples: mean length %v, EOS rate %v", last, length/3, eos/3)
	}
	if eos != 3 {
		t.Errorf("after SFT on completions ending with EOS, %v of 3 samples end with it: %v", eos, byStep[60])
	}
	if !strings.Contains(summary, "samples at step 60 (samples.jsonl): mean length") {
		t.Errorf("summary:\n%s", summary)
	}

	// A fresh run into the same folder (emptied first) starts samples.jsonl
	// again.
	c.OverwriteOutput = true
	tr, err = New(c, Options{Train: exs, Eval: exs[:5]})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	b, err := os.ReadFile(filepath.Join(c.Output, "samples.jsonl"))
	if n := strings.Count(string(b), "\n"); err != nil || n != 6 {
		t.Errorf("samples.jsonl after a second run: %d rows, want 6 (%v)", n, err)
	}
}
