package model

import (
	"fmt"
	"sync"

	"github.com/smaug-dev/smaug/tensor"
)

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
	return m.decoder(tp, ids, pos, tensor.PaddedSpans(len(seqs), t, t, lengths)), t, nil
}

// decoder runs the embedding, every decoder layer and the final norm on
// rows of token ids at positions pos, attention laid out by spans.
func (m *Model) decoder(tp *tensor.Tape, ids, pos []int, spans []tensor.AttnSpan) *tensor.Tensor {
	span := &Span{pos: pos, spans: spans}
	x := tensor.Embedding(tp, m.Embed, ids)
	for i := range m.Layers {
		l := &m.Layers[i]
		switch {
		case tp.Recording() && m.GradientCheckpointing:
			x = tensor.Checkpoint(tp, x, func(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
				return m.arch.Block(tp, m, l, x, span)
			}, m.dropoutReplay)
		case tp != nil && !tp.Recording():
			// Inference: keep only the layer's output; its temporaries'
			// memory is reused by the next layer.
			mark := tp.Mark()
			y := m.arch.Block(tp, m, l, x, span)
			copy(x.Data, y.Data)
			tp.Release(mark)
		case tp.Recording():
			// Each layer's activation gradients are recycled once its
			// backward is done (one layer's worth at a time).
			x = tensor.Segment(tp, x, func(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
				return m.arch.Block(tp, m, l, x, span)
			})
		default:
			x = m.arch.Block(tp, m, l, x, span)
		}
	}
	return tensor.RMSNorm(tp, x, m.Norm, m.Config.RMSNormEps)
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
	logits := tensor.LinearAs(tp, tensor.GatherRows(tp, h, rows), m.LMHead, nil, m.ComputeDType)
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
	// Positions is the number of positions the decoder ran (padding
	// included, with Model.Padded); SeqTokens the
	// number of tokens of the sequences (prompt + completion, summed), what
	// a padding-free trainer without prefix sharing runs. Shared prefixes
	// and the last token of each sequence (which predicts nothing) make
	// the difference: 1 − Positions/SeqTokens is the share saved.
	Positions, SeqTokens int
}

// LogProbs scores each completion given its prompt. The sequences are
// packed into rows without padding, and, unless NoSharePrefix is set, every
// prefix common to several of them (the same prompt, the identical start of
// a chosen and a rejected completion) runs once, its keys and values seen
// by every sequence that continues it. Only the positions that predict
// completion tokens go through the output layer, fused with the log-softmax
// and chunked (OutputChunk rows at a time) so the whole logits never exist.
// (Model.Padded and Model.UnfusedOutput turn packing and the fusion off,
// to measure them.) The results equal those of scoring each sequence alone
// (to float32 rounding). With a non-nil tape, Seq carries gradients to every parameter
// that requires one.
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
	s := &Scores{Tokens: make([][]float32, len(items)), MeanLogit: make([]float32, len(items))}
	for i, it := range items {
		if len(it.Prompt) == 0 {
			return nil, fmt.Errorf("item %d: empty prompt: the first completion token needs a position before it (add a BOS token)", i)
		}
		if len(it.Completion) == 0 {
			return nil, fmt.Errorf("item %d: empty completion", i)
		}
		seqs[i] = append(append(make([]int, 0, len(it.Prompt)+len(it.Completion)), it.Prompt...), it.Completion...)
		s.SeqTokens += len(seqs[i])
	}
	if err := m.checkIDs(seqs); err != nil {
		return nil, err
	}
	for i, seq := range seqs {
		// The last token predicts nothing: its position is not run.
		seqs[i] = seq[:len(seq)-1]
	}
	var lay *packed
	if m.Padded && m.NoSharePrefix {
		lay = padSequences(seqs)
	} else {
		lay = packSequences(seqs, !m.NoSharePrefix)
	}
	s.Positions = len(lay.ids)
	h := m.decoder(tp, lay.ids, lay.pos, lay.spans)
	// One output-layer row per distinct (position, target): a token of a
	// shared prefix is scored once for every sequence that has it.
	type entry struct{ row, target int }
	seen := map[entry]int{}
	var rows, targets, index []int
	offsets := []int{0}
	for i, it := range items {
		p := len(it.Prompt)
		for j, tok := range it.Completion {
			e := entry{lay.rowOf[i][p+j-1], tok}
			k, ok := seen[e]
			if !ok {
				k = len(rows)
				seen[e] = k
				rows, targets = append(rows, e.row), append(targets, tok)
			}
			index = append(index, k)
		}
		offsets = append(offsets, len(index))
	}
	var tok *tensor.Tensor
	var meanRow []float32
	if m.UnfusedOutput {
		tok, meanRow = tensor.LogSoftmaxGather(tp, tensor.LinearAs(tp, h, m.LMHead, nil, m.ComputeDType), rows, targets)
	} else {
		tok, meanRow = tensor.LinearLogSoftmaxGatherAs(tp, h, m.LMHead, rows, targets, m.OutputChunk, m.ComputeDType)
	}
	s.Seq = tensor.SegmentSum(tp, tok, index, offsets)
	for i := range items {
		lo, hi := offsets[i], offsets[i+1]
		s.Tokens[i] = make([]float32, hi-lo)
		var sum float64
		for j, k := range index[lo:hi] {
			s.Tokens[i][j] = tok.Data[k]
			sum += float64(meanRow[k])
		}
		s.MeanLogit[i] = float32(sum / float64(hi-lo))
	}
	return s, nil
}

// packed is a batch of sequences laid out as rows without padding.
type packed struct {
	ids, pos []int             // token and position of each row
	spans    []tensor.AttnSpan // attention layout
	rowOf    [][]int           // rowOf[i][t]: the row of position t of sequence i
}

// padSequences lays sequences out as Model.Padded does: each in a row of
// its own, right-padded (id 0) to the longest.
func padSequences(seqs [][]int) *packed {
	ids, pos, lengths, t := padded(seqs)
	p := &packed{ids: ids, pos: pos, spans: tensor.PaddedSpans(len(seqs), t, t, lengths), rowOf: make([][]int, len(seqs))}
	for i, s := range seqs {
		p.rowOf[i] = make([]int, len(s))
		for j := range s {
			p.rowOf[i][j] = i*t + j
		}
	}
	return p
}

// trieNode is one position of a prefix tree of token sequences.
type trieNode struct {
	tok      int
	row      int
	children []*trieNode
}

// packSequences lays sequences out as rows. With share, sequences are
// merged into a prefix tree — a position whose token and all earlier tokens
// are those of another sequence is that sequence's row — and each path of
// first children becomes one causal span, every other child starting a
// span that sees its ancestors' rows as context. Without, each sequence is
// its own span (packing without padding).
func packSequences(seqs [][]int, share bool) *packed {
	root := &trieNode{}
	nodes := make([][]*trieNode, len(seqs))
	for i, s := range seqs {
		nodes[i], _ = root.insert(s, share)
	}
	p := &packed{}
	// chain emits the span starting at node n after context ctx (ctxLen
	// positions), following first children, then the spans of the other
	// children.
	var chain func(n *trieNode, ctx []tensor.RowRange, ctxLen int)
	chain = func(n *trieNode, ctx []tensor.RowRange, ctxLen int) {
		start := len(p.ids)
		type branch struct {
			n    *trieNode
			upTo int // rows of this span its context includes
		}
		var later []branch
		for cur := n; cur != nil; {
			cur.row = len(p.ids)
			p.ids = append(p.ids, cur.tok)
			p.pos = append(p.pos, ctxLen+cur.row-start)
			var next *trieNode
			for j, c := range cur.children {
				if j == 0 {
					next = c
				} else {
					later = append(later, branch{c, cur.row - start + 1})
				}
			}
			cur = next
		}
		n0 := len(p.ids) - start
		keys := append(append([]tensor.RowRange(nil), ctx...), tensor.RowRange{Start: start, Len: n0})
		p.spans = append(p.spans, tensor.AttnSpan{Q: start, N: n0, Keys: keys, Off: ctxLen})
		for _, b := range later {
			sub := append(append([]tensor.RowRange(nil), ctx...), tensor.RowRange{Start: start, Len: b.upTo})
			chain(b.n, sub, ctxLen+b.upTo)
		}
	}
	for _, c := range root.children {
		chain(c, nil, 0)
	}
	p.rowOf = make([][]int, len(seqs))
	for i, ns := range nodes {
		p.rowOf[i] = make([]int, len(ns))
		for t, n := range ns {
			p.rowOf[i][t] = n.row
		}
	}
	return p
}

// TokenBatches splits examples 0…n−1, in order, into consecutive batches
// whose LogProbs positions (Scores.Positions: shared prefixes once unless
// NoSharePrefix, no padding, no last token) stay within budget, so a
// trainer can fill batches by a token budget instead of a pair count
// (TRL's padding_free). items(i) returns example i's completions (a pair's
// chosen and rejected, which always go in the same batch). An example that
// alone exceeds the budget is a batch of its own.
func (m *Model) TokenBatches(n int, items func(i int) []Completion, budget int) [][]int {
	var out [][]int
	var cur []int
	root, used := &trieNode{}, 0
	for i := 0; i < n; i++ {
		its := items(i)
		added := insertCount(root, its, !m.NoSharePrefix)
		if len(cur) > 0 && used+added > budget {
			// The tree now holds example i too, but is dropped with its batch.
			out = append(out, cur)
			cur, root, used = nil, &trieNode{}, 0
			added = insertCount(root, its, !m.NoSharePrefix)
		}
		cur, used = append(cur, i), used+added
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// insertCount inserts each item's sequence but its last token into the
// prefix tree at root and returns how many positions that added.
func insertCount(root *trieNode, items []Completion, share bool) int {
	n := 0
	for _, it := range items {
		seq := append(append([]int(nil), it.Prompt...), it.Completion...)
		_, added := root.insert(seq[:max(len(seq)-1, 0)], share)
		n += added
	}
	return n
}

// insert adds seq below n — following existing nodes as far as seq agrees
// with them when share, else always new nodes — and returns the node of
// each position and how many nodes it created.
func (n *trieNode) insert(seq []int, share bool) (nodes []*trieNode, added int) {
	nodes = make([]*trieNode, len(seq))
	cur := n
	for t, tok := range seq {
		var next *trieNode
		if share {
			next = cur.child(tok)
		}
		if next == nil {
			next = &trieNode{tok: tok}
			cur.children = append(cur.children, next)
			added++
		}
		nodes[t], cur = next, next
	}
	return nodes, added
}

// child returns the child of n holding tok, or nil.
func (n *trieNode) child(tok int) *trieNode {
	for _, c := range n.children {
		if c.tok == tok {
			return c
		}
	}
	return nil
}
