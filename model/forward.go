package model

import (
	"fmt"
	"sync"

	"github.com/smaug-dev/smaug/tensor"
)

// block runs decoder layer l on x [batch·t, hidden]. For a KV-cache forward
// (batch 1), cache holds the layer's earlier keys and values and receives the
// new ones; attention then reads the whole cache.
func (m *Model) block(tp *tensor.Tape, l *Layer, x *tensor.Tensor, pos []int, batch int, lengths []int, cache *layerCache) *tensor.Tensor {
	c := m.Config
	eps := c.RMSNormEps
	h := tensor.RMSNorm(tp, x, l.InputNorm, eps)
	q := tensor.RoPE(tp, l.Q.Forward(tp, h), c.NumAttentionHeads, m.Rope, pos)
	k := tensor.RoPE(tp, l.K.Forward(tp, h), c.NumKeyValueHeads, m.Rope, pos)
	v := l.V.Forward(tp, h)
	if cache != nil {
		k, v = cache.append(k, v)
		lengths = []int{k.Rows()}
	}
	a := tensor.CausalAttention(tp, q, k, v, batch, c.NumAttentionHeads, c.NumKeyValueHeads, lengths, c.SlidingWindow)
	x = tensor.Add(tp, x, l.O.Forward(tp, a))
	h = tensor.RMSNorm(tp, x, l.PostNorm, eps)
	mlp := l.Down.Forward(tp, tensor.SwiGLU(tp, l.Gate.Forward(tp, h), l.Up.Forward(tp, h)))
	return tensor.Add(tp, x, mlp)
}

// inferenceTapes recycles the arenas of forwards without gradients.
var inferenceTapes = sync.Pool{New: func() any { return tensor.NewInferenceTape() }}

func getInferenceTape() *tensor.Tape { return inferenceTapes.Get().(*tensor.Tape) }

func putInferenceTape(tp *tensor.Tape) {
	tp.Reset()
	inferenceTapes.Put(tp)
}

// padded lays out sequences right-padded to a common length t and returns
// the flat ids (padding id 0, never attended to), positions and lengths.
func padded(seqs [][]int) (ids, pos, lengths []int, t int) {
	for _, s := range seqs {
		t = max(t, len(s))
	}
	ids = make([]int, len(seqs)*t)
	pos = make([]int, len(seqs)*t)
	lengths = make([]int, len(seqs))
	for b, s := range seqs {
		copy(ids[b*t:], s)
		for i := 0; i < t; i++ {
			pos[b*t+i] = i
		}
		lengths[b] = len(s)
	}
	return ids, pos, lengths, t
}

// Hidden runs the embedding, every decoder layer and the final norm on a
// right-padded batch, returning the final hidden states [batch·t, hidden]
// and t, the padded length. Padding rows hold values that nothing reads.
func (m *Model) Hidden(tp *tensor.Tape, seqs [][]int) (*tensor.Tensor, int, error) {
	if err := m.checkIDs(seqs); err != nil {
		return nil, 0, err
	}
	ids, pos, lengths, t := padded(seqs)
	x := tensor.Embedding(tp, m.Embed, ids)
	for i := range m.Layers {
		l := &m.Layers[i]
		switch {
		case tp.Recording() && m.GradientCheckpointing:
			x = tensor.Checkpoint(tp, x, func(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
				return m.block(tp, l, x, pos, len(seqs), lengths, nil)
			}, m.dropoutReplay)
		case tp != nil && !tp.Recording():
			// Inference: keep only the layer's output; its temporaries'
			// memory is reused by the next layer.
			mark := tp.Mark()
			y := m.block(tp, l, x, pos, len(seqs), lengths, nil)
			copy(x.Data, y.Data)
			tp.Release(mark)
		default:
			x = m.block(tp, l, x, pos, len(seqs), lengths, nil)
		}
	}
	return tensor.RMSNorm(tp, x, m.Norm, m.Config.RMSNormEps), t, nil
}

func (m *Model) checkIDs(seqs [][]int) error {
	v := m.Config.VocabSize
	for b, s := range seqs {
		if len(s) == 0 {
			return fmt.Errorf("sequence %d is empty", b)
		}
		for i, id := range s {
			if id < 0 || id >= v {
				return fmt.Errorf("sequence %d: token %d at position %d is outside the vocabulary of %d", b, id, i, v)
			}
		}
	}
	return nil
}

// Logits returns the output logits of every position of every sequence
// (without a tape): one [len(seq), vocab] row-major slice per sequence.
func (m *Model) Logits(seqs [][]int) ([][]float32, error) {
	tp := getInferenceTape()
	defer putInferenceTape(tp)
	h, t, err := m.Hidden(tp, seqs)
	if err != nil {
		return nil, err
	}
	rows := make([]int, 0, h.Rows())
	for b, s := range seqs {
		for i := range s {
			rows = append(rows, b*t+i)
		}
	}
	logits := tensor.Linear(tp, tensor.GatherRows(tp, h, rows), m.LMHead, nil)
	out := make([][]float32, len(seqs))
	v, off := m.Config.VocabSize, 0
	for b, s := range seqs {
		out[b] = append([]float32(nil), logits.Data[off*v:(off+len(s))*v]...)
		off += len(s)
	}
	return out, nil
}

// Completion is a prompt and a completion to score, as token ids.
type Completion struct {
	Prompt, Completion []int
}

// Scores are the log-probs of a batch of completions.
type Scores struct {
	// Seq[i] = log π(completion_i | prompt_i): the sum over completion tokens
	// of the log-softmax at the position before each token. With a tape it
	// can be backpropagated (Tape.Backward(Seq, ∂loss/∂Seq)).
	Seq *tensor.Tensor
	// Tokens[i] holds the per-token log-probs of completion i.
	Tokens [][]float32
	// MeanLogit[i] is the mean output logit over completion i's tokens and
	// the vocabulary (TRL's logits/chosen and logits/rejected).
	MeanLogit []float32
}

// LogProbs scores each completion given its prompt in one right-padded
// batch. Only the positions that predict completion tokens go through the
// output layer, fused with the log-softmax and chunked (OutputChunk rows at
// a time) so the whole logits never exist. With a non-nil tape, Seq carries
// gradients to every parameter that requires one.
func (m *Model) LogProbs(tp *tensor.Tape, items []Completion) (*Scores, error) {
	if tp == nil {
		itp := getInferenceTape()
		defer putInferenceTape(itp)
		sc, err := m.logProbs(itp, items)
		if err != nil {
			return nil, err
		}
		sc.Seq = tensor.FromData(append([]float32(nil), sc.Seq.Data...), sc.Seq.Len())
		return sc, nil
	}
	return m.logProbs(tp, items)
}

func (m *Model) logProbs(tp *tensor.Tape, items []Completion) (*Scores, error) {
	seqs := make([][]int, len(items))
	for i, it := range items {
		if len(it.Prompt) == 0 {
			return nil, fmt.Errorf("item %d: empty prompt: the first completion token needs a position before it (add a BOS token)", i)
		}
		if len(it.Completion) == 0 {
			return nil, fmt.Errorf("item %d: empty completion", i)
		}
		seqs[i] = append(append(make([]int, 0, len(it.Prompt)+len(it.Completion)), it.Prompt...), it.Completion...)
	}
	h, t, err := m.Hidden(tp, seqs)
	if err != nil {
		return nil, err
	}
	var rows, targets []int
	offsets := []int{0}
	for b, it := range items {
		p := len(it.Prompt)
		for j, tok := range it.Completion {
			rows = append(rows, b*t+p+j-1)
			targets = append(targets, tok)
		}
		offsets = append(offsets, len(rows))
	}
	tok, meanRow := tensor.LinearLogSoftmaxGather(tp, h, m.LMHead, rows, targets, m.OutputChunk)
	s := &Scores{Seq: tensor.SegmentSum(tp, tok, offsets), Tokens: make([][]float32, len(items)), MeanLogit: make([]float32, len(items))}
	for i := range items {
		lo, hi := offsets[i], offsets[i+1]
		s.Tokens[i] = append([]float32(nil), tok.Data[lo:hi]...)
		var sum float64
		for _, v := range meanRow[lo:hi] {
			sum += float64(v)
		}
		s.MeanLogit[i] = float32(sum / float64(hi-lo))
	}
	return s, nil
}
