package train

import (
	"fmt"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/pref"
)

// PairItems lays out examples as one batch of sequences for
// model.LogProbs, the one layout every scorer of chosen/rejected pairs
// uses: the chosen completions of all n examples in rows 0..n−1, then the
// rejected completion of each example that has one, in example order.
// rejected[i] is the row of example i's rejected completion, or −1 when it
// has none; for a batch of pairs it is n+i.
func PairItems(exs []Example) (items []model.Completion, rejected []int) {
	items = make([]model.Completion, len(exs), 2*len(exs))
	rejected = make([]int, len(exs))
	for i, e := range exs {
		items[i] = model.Completion{Prompt: e.Prompt, Completion: e.Chosen}
	}
	for i, e := range exs {
		rejected[i] = -1
		if e.Rejected != nil {
			rejected[i] = len(items)
			items = append(items, model.Completion{Prompt: e.Prompt, Completion: e.Rejected})
		}
	}
	return items, rejected
}

// pairsOf builds pref.Pairs from the scores s of a PairItems batch of exs
// and the reference log-probs refs (one per example).
func pairsOf(exs []Example, s *model.Scores, refs RefLogps) []pref.Pair {
	n := len(exs)
	pairs := make([]pref.Pair, n)
	for i, e := range exs {
		pairs[i] = pref.Pair{
			PolicyChosen: float64(s.Seq.Data[i]), PolicyRejected: float64(s.Seq.Data[n+i]),
			RefChosen: refs[i][0], RefRejected: refs[i][1],
			ChosenLen: len(e.Chosen), RejectedLen: len(e.Rejected),
			ChosenLogitsMean: float64(s.MeanLogit[i]), RejectedLogitsMean: float64(s.MeanLogit[n+i]),
		}
	}
	return pairs
}

// subset returns the examples at idx.
func subset(exs []Example, idx []int) []Example {
	out := make([]Example, len(idx))
	for i, j := range idx {
		out[i] = exs[j]
	}
	return out
}

// where names an example for an error.
func where(e Example) string { return fmt.Sprintf("%s:%d", e.Source, e.Line) }
