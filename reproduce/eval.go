package reproduce

import (
	"path/filepath"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/train"
)

// ModelResult is the evaluation of one model.
type ModelResult struct {
	Name string `json:"name"`
	// Accuracy is the fraction of held-out problems whose greedy answer's
	// "#### N" equals the gold one.
	Accuracy float64 `json:"accuracy"`
	Correct  int     `json:"correct"`
	Problems int     `json:"problems"`
	// ChosenLogp and RejectedLogp are mean sequence log-probs (nats,
	// summed over the completion's tokens) of the held-out pairs'
	// completions; LogpGap is ChosenLogp − RejectedLogp. (The training
	// metric rewards/margins is another quantity: β times the difference
	// of the two log-prob changes against the reference.)
	ChosenLogp   float64 `json:"chosen_logp"`
	RejectedLogp float64 `json:"rejected_logp"`
	LogpGap      float64 `json:"logp_gap"`
	// ChosenAfterDiff is the mean log-prob of the chosen tokens after the
	// first token where chosen and rejected differ (the paper's −0.37
	// reference, −1.82 DPO, −0.26 DPOP on MetaMath).
	ChosenAfterDiff float64 `json:"chosen_token_logp_after_first_difference"`
	Pairs           int     `json:"pairs"`
	// Samples holds a few generations for the report.
	Samples []Sample `json:"samples,omitempty"`
}

// Sample is one generation shown in the report.
type Sample struct {
	Question  string `json:"question"`
	Generated string `json:"generated"`
	Gold      string `json:"gold"`
	Correct   bool   `json:"correct"`
}

// Results is what a run measured.
type Results struct {
	Models []ModelResult `json:"models"`
	// Quick is set for `smaug reproduce --quick`, a size at which the
	// effect is not expected: such a run never claims a reproduction.
	Quick bool `json:"quick"`
	// VocabSize is the base model's true vocabulary size (the BPE trainer
	// stops below Settings.Vocab when the data has no more merges).
	VocabSize    int                `json:"vocab_size"`
	Seed         uint64             `json:"seed"`
	Settings     Settings           `json:"settings"`
	CommandLine  string             `json:"command_line"`
	StageSeconds map[string]float64 `json:"stage_seconds,omitempty"`
	TotalSeconds float64            `json:"total_seconds"`
}

// Model returns the result of the named model.
func (r *Results) Model(name string) ModelResult {
	for _, m := range r.Models {
		if m.Name == name {
			return m
		}
	}
	return ModelResult{}
}

// evaluate measures base, DPO and DPOP.
func (p *pipeline) evaluate() (*Results, error) {
	s, o := p.s, p.o
	probs, err := readJSONL[problem](filepath.Join(o.Out, "data", "test.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(probs) > s.EvalProblems {
		probs = probs[:s.EvalProblems]
	}
	pairs, err := p.pairExamples(filepath.Join(o.Out, "pairs", "test.jsonl"), s.EvalPairs)
	if err != nil {
		return nil, err
	}
	res := &Results{}
	for _, who := range []struct{ name, dir string }{{"base", p.base}, {"DPO", filepath.Join(o.Out, "dpo")}, {"DPOP", filepath.Join(o.Out, "dpop")}} {
		m, err := model.Load(who.dir)
		if err != nil {
			return nil, err
		}
		r := ModelResult{Name: who.name}
		if err := p.scorePairs(m, pairs, &r); err != nil {
			return nil, err
		}
		bar := p.bar(len(probs), "eval "+who.name)
		if err := p.accuracy(m, probs, &r, bar); err != nil {
			return nil, err
		}
		p.logf("eval %s: accuracy %.3f (%d/%d), held-out chosen log-prob %.2f, rejected %.2f, chosen tokens after the difference %.3f",
			who.name, r.Accuracy, r.Correct, r.Problems, r.ChosenLogp, r.RejectedLogp, r.ChosenAfterDiff)
		res.Models = append(res.Models, r)
	}
	return res, nil
}

// scorePairs fills the held-out log-prob measurements.
func (p *pipeline) scorePairs(m *model.Model, pairs []train.Example, r *ModelResult) error {
	const batch = 16
	var sumC, sumR, sumAfter float64
	nAfter := 0
	for lo := 0; lo < len(pairs); lo += batch {
		hi := min(lo+batch, len(pairs))
		var items []model.Completion
		for _, e := range pairs[lo:hi] {
			items = append(items, model.Completion{Prompt: e.Prompt, Completion: e.Chosen})
		}
		for _, e := range pairs[lo:hi] {
			items = append(items, model.Completion{Prompt: e.Prompt, Completion: e.Rejected})
		}
		sc, err := m.LogProbs(nil, items)
		if err != nil {
			return err
		}
		n := hi - lo
		for i, e := range pairs[lo:hi] {
			sumC += float64(sc.Seq.Data[i])
			sumR += float64(sc.Seq.Data[n+i])
			k := 0
			for k < len(e.Chosen) && k < len(e.Rejected) && e.Chosen[k] == e.Rejected[k] {
				k++
			}
			var s float64
			cnt := 0
			for j := k + 1; j < len(e.Chosen); j++ {
				s += float64(sc.Tokens[i][j])
				cnt++
			}
			if cnt > 0 {
				sumAfter += s / float64(cnt)
				nAfter++
			}
		}
	}
	r.Pairs = len(pairs)
	r.ChosenLogp = sumC / float64(len(pairs))
	r.RejectedLogp = sumR / float64(len(pairs))
	r.LogpGap = r.ChosenLogp - r.RejectedLogp
	if nAfter > 0 {
		r.ChosenAfterDiff = sumAfter / float64(nAfter)
	}
	return nil
}

// accuracy generates greedy answers and compares their "#### N".
func (p *pipeline) accuracy(m *model.Model, probs []problem, r *ModelResult, bar func(int)) error {
	type out struct {
		text string
		err  error
	}
	outs := make([]out, len(probs))
	var stop []int
	if eos := p.tok.EOS(); eos >= 0 {
		stop = []int{eos}
	}
	for i, q := range probs {
		ids, err := m.Generate(p.encodePrompt(q.Question), model.GenerateOptions{MaxNewTokens: p.s.MaxNewTokens, StopIDs: stop})
		outs[i] = out{p.tok.Decode(ids, true), err}
		bar(1)
	}
	for i, q := range probs {
		if outs[i].err != nil {
			return outs[i].err
		}
		gold, _ := data.GSM8KAnswer(q.Answer)
		got, ok := data.GSM8KAnswer(outs[i].text)
		correct := ok && got == gold
		if correct {
			r.Correct++
		}
		if len(r.Samples) < 3 {
			r.Samples = append(r.Samples, Sample{Question: q.Question, Generated: outs[i].text, Gold: gold, Correct: correct})
		}
	}
	r.Problems = len(probs)
	if r.Problems > 0 {
		r.Accuracy = float64(r.Correct) / float64(r.Problems)
	}
	return nil
}
