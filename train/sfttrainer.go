package train

import (
	"fmt"

	"github.com/smaug-dev/smaug/model"
)

// sftTrainer is the objective of supervised fine-tuning: the mean negative
// log-likelihood of the completion tokens (prompt tokens are not trained
// on).
type sftTrainer struct {
	loss float64 // this step's loss so far
}

func (s *sftTrainer) check(exs []Example) error {
	for _, e := range exs {
		if len(e.Chosen) == 0 {
			return fmt.Errorf("%s: empty completion", where(e))
		}
	}
	return nil
}

func (s *sftTrainer) prepare(*Trainer, func(int, string) func(int)) error { return nil }

func (s *sftTrainer) close() error { return nil }

func (s *sftTrainer) beginStep() { s.loss = 0 }

func (s *sftTrainer) stepMetrics() map[string]float64 { return map[string]float64{"loss": s.loss} }

// completions returns the prompt/completion items of exs and their number
// of completion tokens.
func completions(exs []Example) ([]model.Completion, int) {
	items, _ := PairItems(exs)
	ntok := 0
	for _, e := range exs {
		ntok += len(e.Chosen)
	}
	return items[:len(exs)], ntok
}

// accumulate computes the mean token NLL of the completions of training
// examples idx and accumulates its gradients (scaled by 1/GradAccum).
func (s *sftTrainer) accumulate(t *Trainer, idx []int) (int64, error) {
	exs := subset(t.train, idx)
	items, ntok := completions(exs)
	sc, err := t.Policy.LogProbs(t.tape, items)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where(exs[0]), err)
	}
	t.countPositions(sc)
	if d := checkLogps(t.state.Step+1, sc.Seq.Data, exs); d != nil {
		t.tape.Reset()
		return 0, d
	}
	seed := make([]float32, len(idx))
	g := -1 / (float64(ntok) * float64(t.Cfg.GradAccum))
	var loss float64
	var tokens int64
	for i := range seed {
		loss -= float64(sc.Seq.Data[i])
		seed[i] = float32(g)
		tokens += int64(len(exs[i].Prompt) + len(exs[i].Chosen))
	}
	t.tape.Backward(sc.Seq, seed)
	t.tape.Reset()
	s.loss += loss / float64(ntok) / float64(t.Cfg.GradAccum)
	return tokens, nil
}

func (s *sftTrainer) evaluate(t *Trainer) (map[string]float64, error) {
	var nll float64
	var ntok int
	for lo := 0; lo < len(t.eval); lo += t.Cfg.BatchSize {
		items, n := completions(t.eval[lo:min(lo+t.Cfg.BatchSize, len(t.eval))])
		sc, err := t.Policy.LogProbs(nil, items)
		if err != nil {
			return nil, err
		}
		for _, v := range sc.Seq.Data {
			nll -= float64(v)
		}
		ntok += n
	}
	return map[string]float64{"loss": nll / float64(ntok)}, nil
}
