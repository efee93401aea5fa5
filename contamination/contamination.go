// Package contamination owns the checks of whether a benchmark's examples
// were seen in training: the neighbour-comparison method of
// swj0419/detect-pretrain-code-contamination, which produced the
// contamination numbers of the Smaug README, and the real Min-K% Prob of
// Shi et al. (2023), which that tool is named after but does not compute.
package contamination

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/smaug-dev/smaug/eval"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// Method selects the check.
type Method string

const (
	// Neighbours compares each example's loss under the target model with
	// the losses of neighbours sampled by a reference model (SPEC §5).
	Neighbours Method = "neighbours"
	// MinK is Min-K% Prob: minus the mean of the lowest k of the example's
	// token log-probs under the target model.
	MinK Method = "min-k"
)

// Defaults of Config, the values the Smaug README's numbers used.
const (
	DefaultExamples  = 100
	DefaultSamples   = 100
	DefaultRatio     = 0.4
	DefaultK         = 0.2
	DefaultThreshold = 0.1
	// DefaultTopK is Hugging Face generate's default top_k, which the
	// tool's sampling (do_sample=True, no other setting) used.
	DefaultTopK = 50
)

// Example is one text to check.
type Example struct {
	// Index is the example's position in its source.
	Index int    `json:"index"`
	Text  string `json:"text"`
}

// Texts returns the first n examples (all when n ≤ 0) after a Python
// random.seed(seed) shuffle of a task's documents, each as question + " " +
// correct answer (SPEC §5: ARC, TruthfulQA with the mc1 answer, MMLU with
// its subjects in name order, GSM8K with the rationale before "####").
func Texts(docs []eval.Doc, n int, seed int64) []Example {
	ex := make([]Example, len(docs))
	for i, d := range docs {
		ex[i] = Example{Index: d.Index, Text: d.Question + " " + d.Correct}
	}
	Shuffle(ex, seed)
	if n > 0 && n < len(ex) {
		ex = ex[:n]
	}
	return ex
}

// Shuffle permutes examples as Python's random.seed(seed);
// random.shuffle(examples) does.
func Shuffle(ex []Example, seed int64) {
	eval.NewPyRandom(seed).Shuffle(len(ex), func(i, j int) { ex[i], ex[j] = ex[j], ex[i] })
}

// Config configures a check. Zero values take the defaults above.
type Config struct {
	Method Method
	// Target is the model checked, with its tokenizer.
	Target    *model.Model
	TargetTok *tokenizer.Tokenizer
	// Ref samples the neighbours (Neighbours only), with its tokenizer.
	Ref    *model.Model
	RefTok *tokenizer.Tokenizer
	// Examples are the texts to check.
	Examples []Example
	// Samples is the number of neighbours per example; Ratio the fraction
	// of words given to the reference model; TopK its sampling cut;
	// Threshold the score below which an example counts.
	Samples   int
	Ratio     float64
	TopK      int
	Threshold float64
	// K is Min-K%'s fraction of tokens.
	K float64
	// Seed fixes the neighbours' sampling.
	Seed uint64
	// Workers is how many examples run at once (≤ 0: 4).
	Workers int
	// Progress, when set, is called as examples finish.
	Progress func(done, total int)
}

// Result is one example's outcome.
type Result struct {
	Example
	// Loss is the mean token negative log-likelihood under the target.
	Loss float64 `json:"loss"`
	// Score is the fraction of neighbours with a lower loss (Neighbours),
	// or the Min-K% Prob (MinK).
	Score float64 `json:"score"`
	// NeighbourLosses are the neighbours' losses under the target.
	NeighbourLosses []float64 `json:"neighbour_losses,omitempty"`
	// Neighbours are the neighbours' texts.
	Neighbours []string `json:"neighbours,omitempty"`
	// Flagged is Score < Threshold (Neighbours only).
	Flagged bool `json:"flagged,omitempty"`
}

// Report is the outcome of a check.
type Report struct {
	Method  Method   `json:"method"`
	Results []Result `json:"-"`
	// Headline is the fraction of flagged examples (Neighbours) or the mean
	// Min-K% Prob (MinK).
	Headline float64 `json:"headline"`
}

func (c *Config) defaults() {
	if c.Samples <= 0 {
		c.Samples = DefaultSamples
	}
	if c.Ratio <= 0 {
		c.Ratio = DefaultRatio
	}
	if c.TopK == 0 {
		c.TopK = DefaultTopK
	}
	if c.Threshold <= 0 {
		c.Threshold = DefaultThreshold
	}
	if c.K <= 0 {
		c.K = DefaultK
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Method == "" {
		c.Method = Neighbours
	}
}

// Run checks every example.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.defaults()
	if c.Target == nil || c.TargetTok == nil {
		return nil, fmt.Errorf("contamination check needs a target model and its tokenizer")
	}
	switch c.Method {
	case Neighbours:
		if c.Ref == nil || c.RefTok == nil {
			return nil, fmt.Errorf("the neighbours method needs a reference model and its tokenizer")
		}
	case MinK:
		if c.K > 1 {
			return nil, fmt.Errorf("k = %v: want a fraction in (0, 1]", c.K)
		}
	default:
		return nil, fmt.Errorf("method %q: want neighbours or min-k", c.Method)
	}
	if c.Ratio > 1 {
		return nil, fmt.Errorf("ratio = %v: want a fraction in (0, 1]", c.Ratio)
	}
	rep := &Report{Method: c.Method, Results: make([]Result, len(c.Examples))}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(c.Examples))
	for w := 0; w < min(c.Workers, len(c.Examples)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(c.Examples) || ctx.Err() != nil {
					return
				}
				rep.Results[i], errs[i] = c.one(i)
				if errs[i] != nil {
					next.Store(int64(len(c.Examples)))
					return
				}
				if d := done.Add(1); c.Progress != nil {
					c.Progress(int(d), len(c.Examples))
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("example %d: %w", c.Examples[i].Index, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range rep.Results {
		if c.Method == MinK {
			rep.Headline += r.Score
		} else if r.Flagged {
			rep.Headline++
		}
	}
	if len(rep.Results) > 0 {
		rep.Headline /= float64(len(rep.Results))
	}
	return rep, nil
}

// tokenLogProbs returns the target's log-probs of tokens 2..n of text
// (encoded with the tokenizer's special tokens, as transformers' tokenizer
// call does).
func tokenLogProbs(m *model.Model, tok *tokenizer.Tokenizer, texts []string) ([][]float32, error) {
	items := make([]model.Completion, len(texts))
	for i, t := range texts {
		ids := tok.Encode(t, true)
		if len(ids) < 2 {
			return nil, fmt.Errorf("text %q encodes to %d tokens; at least 2 are needed", t, len(ids))
		}
		items[i] = model.Completion{Prompt: ids[:1], Completion: ids[1:]}
	}
	var out [][]float32
	const batch = 8
	for lo := 0; lo < len(items); lo += batch {
		s, err := m.LogProbs(nil, items[lo:min(lo+batch, len(items))])
		if err != nil {
			return nil, err
		}
		out = append(out, s.Tokens...)
	}
	return out, nil
}

// MeanNLL is minus the mean of token log-probs (the loss transformers
// reports with labels = input_ids).
func MeanNLL(lp []float32) float64 {
	var s float64
	for _, v := range lp {
		s -= float64(v)
	}
	return s / float64(len(lp))
}

// MinKProb is Min-K% Prob: minus the mean of the lowest ⌊k·n⌋ (at least
// one) of the n token log-probs.
func MinKProb(lp []float32, k float64) float64 {
	s := make([]float64, len(lp))
	for i, v := range lp {
		s[i] = float64(v)
	}
	sort.Float64s(s)
	n := max(1, int(float64(len(s))*k))
	var sum float64
	for _, v := range s[:n] {
		sum += v
	}
	return -sum / float64(n)
}

// PrefixWords returns the first ⌈ratio·words⌉ whitespace-separated words
// joined by spaces and how many words remain (the number of new tokens
// the reference model samples, at least 1).
func PrefixWords(text string, ratio float64) (prefix string, newTokens int) {
	w := strings.Fields(text)
	n := int(math.Ceil(ratio * float64(len(w))))
	return strings.Join(w[:n], " "), max(1, len(w)-n)
}

// FractionBelow is the fraction of values strictly below x.
func FractionBelow(values []float64, x float64) float64 {
	n := 0
	for _, v := range values {
		if v < x {
			n++
		}
	}
	return float64(n) / float64(len(values))
}

func (c *Config) one(i int) (Result, error) {
	ex := c.Examples[i]
	r := Result{Example: ex}
	lps, err := tokenLogProbs(c.Target, c.TargetTok, []string{ex.Text})
	if err != nil {
		return r, err
	}
	r.Loss = MeanNLL(lps[0])
	if c.Method == MinK {
		r.Score = MinKProb(lps[0], c.K)
		return r, nil
	}
	prefix, newTok := PrefixWords(ex.Text, c.Ratio)
	pids := c.RefTok.Encode(prefix, true)
	var stops []int
	if e := c.RefTok.EOS(); e >= 0 {
		stops = append(stops, e)
	}
	stops = append(stops, c.Ref.Config.EOSTokenIDs...)
	for j := 0; j < c.Samples; j++ {
		gen, err := c.Ref.Generate(pids, model.GenerateOptions{MaxNewTokens: newTok, StopIDs: stops,
			Sampling: model.Sampling{Temperature: 1, TopK: c.TopK, Seed: mix(c.Seed, uint64(ex.Index), uint64(j))}})
		if err != nil {
			return r, err
		}
		r.Neighbours = append(r.Neighbours, c.RefTok.Decode(append(append([]int(nil), pids...), gen...), true))
	}
	nlps, err := tokenLogProbs(c.Target, c.TargetTok, r.Neighbours)
	if err != nil {
		return r, err
	}
	for _, lp := range nlps {
		r.NeighbourLosses = append(r.NeighbourLosses, MeanNLL(lp))
	}
	r.Score = FractionBelow(r.NeighbourLosses, r.Loss)
	r.Flagged = r.Score < c.Threshold
	return r, nil
}

// mix derives a sampling seed from the run's seed, the example and the
// neighbour (splitmix64 steps).
func mix(xs ...uint64) uint64 {
	var h uint64
	for _, x := range xs {
		h += x + 0x9e3779b97f4a7c15
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
		h = (h ^ (h >> 27)) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// Explain says what a report's number means.
func Explain(r *Report, c Config) string {
	c.defaults()
	if r.Method == MinK {
		return fmt.Sprintf(`Min-K%% Prob (Shi et al. 2023), k = %.0f%%: for each example, minus the mean of
the lowest %.0f%% of its token log-probabilities under the model (tokens 2..n).
Mean over %d examples: %.4f. Lower scores mean the model finds even its least
likely tokens likely, which is typical of text seen in training; the score has
no absolute threshold — compare it with the same model's scores on text known
to be unseen (for example, examples written after its training data).`,
			100*c.K, 100*c.K, len(r.Results), r.Headline)
	}
	verdict := "not flagged"
	if r.Headline > 0.85 {
		verdict = `above 0.85, which the Smaug README calls "highly likely" seen in training`
	}
	return fmt.Sprintf(`Neighbour comparison (the method of detect-pretrain-code-contamination, which
the Smaug README's numbers come from): the reference model continued the first
%.0f%% of each example's words %d times; an example scores the fraction of those
neighbours the model finds more likely (lower loss) than the original. The
number is the fraction of examples scoring below %.2f — the original beats
nearly every neighbour: %.2f of %d examples (%s). Despite the tool's naming,
this is not Min-K%% Prob; run --method min-k for that.`,
		100*c.Ratio, c.Samples, c.Threshold, r.Headline, len(r.Results), verdict)
}
