package model

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// Arch is one decoder architecture: the config.json settings it runs, the
// parameters it is made of (with Hugging Face names and shapes) and its
// decoder block. Each lives in its own file (llama.go, mistral.go,
// qwen2.go) and registers itself with Register under its config.json
// "architectures" name; hf reads the config.json fields of the
// architectures it knows (hf.Config.Validate).
type Arch interface {
	// CheckConfig reports the first setting of c (already checked by
	// c.Validate) that the architecture cannot run, as an error naming
	// config.json, the line and the field (hf.Config.FieldError). warn
	// (never nil) receives settings it runs but transformers would run
	// differently.
	CheckConfig(c *hf.Config, warn func(string)) error
	// Params lists every parameter c calls for, with its shape, in the
	// order transformers lists them (a tied output layer is not listed).
	Params(c *hf.Config) []ParamShape
	// Block runs decoder layer l of m on the rows x of span s.
	Block(tp *tensor.Tape, m *Model, l *Layer, x *tensor.Tensor, s *Span) *tensor.Tensor
}

// ParamShape is the Hugging Face name and shape of a parameter.
type ParamShape struct {
	Name  string
	Shape []int
}

var (
	archMu sync.RWMutex
	archs  = map[string]Arch{}
)

// Register makes an architecture available under its config.json
// "architectures" name ("LlamaForCausalLM"). It panics when the name is
// already registered or a is nil, as database/sql.Register does.
func Register(name string, a Arch) {
	archMu.Lock()
	defer archMu.Unlock()
	if a == nil {
		panic("model: Register of a nil Arch for " + name)
	}
	if _, dup := archs[name]; dup {
		panic("model: Register called twice for " + name)
	}
	archs[name] = a
}

// Architectures returns the registered architecture names, sorted.
func Architectures() []string {
	archMu.RLock()
	defer archMu.RUnlock()
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ArchOf returns the registered architecture that runs c (by
// c.Architecture(), which falls back on model_type).
func ArchOf(c *hf.Config) (Arch, error) {
	name := c.Architecture()
	archMu.RLock()
	a, ok := archs[name]
	archMu.RUnlock()
	if !ok {
		return nil, c.FieldError("architectures", "no registered architecture %q (registered: %v)", name, Architectures())
	}
	return a, nil
}

// CheckConfig is the one check that a config is one the model can run: the
// format (c.Validate), then what every architecture here needs (an even
// head_dim, a rope scaling InvFreq computes: linear or llama3), then the
// architecture's own rules (Arch.CheckConfig). Errors name config.json, the
// line and the field; warn (nil drops them) receives settings that are run
// differently from transformers. Load, LoadFrozen, New and NewRandom call
// it before allocating anything.
func CheckConfig(c *hf.Config, warn func(string)) error {
	_, err := checkConfig(c, warn)
	return err
}

func checkConfig(c *hf.Config, warn func(string)) (Arch, error) {
	if warn == nil {
		warn = func(string) {}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.HeadDim%2 != 0 {
		return nil, c.FieldError("head_dim", "%d is odd: rotary embeddings need an even head size", c.HeadDim)
	}
	if s := c.RopeScaling; s != nil && !slices.Contains(ropeTypes, s.Type) {
		return nil, c.FieldError(c.RopeScalingField(), "rope type %q is not supported (supported: default, %s)", s.Type, strings.Join(ropeTypes, ", "))
	}
	a, err := ArchOf(c)
	if err != nil {
		return nil, err
	}
	if err := a.CheckConfig(c, warn); err != nil {
		return nil, err
	}
	return a, nil
}

// ropeTypes are the rope scalings InvFreq computes.
var ropeTypes = []string{"linear", "llama3"}

// LoadConfig reads config.json (path is the file or its folder) and checks
// that the model can run it (CheckConfig): a config LoadConfig accepts is
// one New, NewRandom and Load accept.
func LoadConfig(path string, warn func(string)) (*hf.Config, error) {
	c, err := hf.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if err := CheckConfig(c, warn); err != nil {
		return nil, err
	}
	return c, nil
}

// Span describes the rows a decoder block runs on, row r at position
// pos[r]: either rows whose attention is laid out by spans (a right-padded
// batch, sequences packed without padding, branches of shared prefixes; see
// tensor.AttnSpan), or, for a KV-cache forward, new positions of sequences
// whose earlier keys and values are cached: sequence i's rows
// [offsets[i], offsets[i+1]) continue caches[i].
type Span struct {
	pos     []int
	spans   []tensor.AttnSpan
	caches  []*layerCache
	offsets []int
}

// Attention is layer l's causal self-attention on h, the normed rows of
// the span: the q/k/v projections, RoPE, grouped-query attention over the
// sequence so far (the cache included, and only the last sliding_window
// positions where the config sets one) and the output projection. It is the
// one place attention is called.
func (s *Span) Attention(tp *tensor.Tape, m *Model, l *Layer, h *tensor.Tensor) *tensor.Tensor {
	c := m.Config
	// The projections' outputs are rotated in place (nothing else reads them).
	q := tensor.RoPEInPlace(tp, l.Q.Forward(tp, h), c.NumAttentionHeads, m.Rope, s.pos)
	k := tensor.RoPEInPlace(tp, l.K.Forward(tp, h), c.NumKeyValueHeads, m.Rope, s.pos)
	v := l.V.Forward(tp, h)
	spans := s.spans
	if s.caches != nil {
		k, v, spans = s.cached(k, v)
	}
	a := tensor.Attention(tp, q, k, v, c.NumAttentionHeads, c.NumKeyValueHeads, spans, c.SlidingWindow)
	return l.O.Forward(tp, a)
}

// cached appends each sequence's new keys and values to its cache and
// returns the keys and values of every sequence (the caches laid end to end
// when there are several) with one span per sequence: its new rows attend
// to its own cache, the new positions last.
func (s *Span) cached(k, v *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, []tensor.AttnSpan) {
	dim := k.Cols()
	if len(s.caches) == 1 {
		k, v = s.caches[0].append(k, v)
		return k, v, tensor.PaddedSpans(1, s.offsets[1], k.Rows(), []int{k.Rows()})
	}
	ks := make([]*tensor.Tensor, len(s.caches))
	vs := make([]*tensor.Tensor, len(s.caches))
	spans := make([]tensor.AttnSpan, len(s.caches))
	rows := 0
	for i, c := range s.caches {
		lo, hi := s.offsets[i], s.offsets[i+1]
		ks[i], vs[i] = c.append(
			tensor.FromData(k.Data[lo*dim:hi*dim], hi-lo, dim),
			tensor.FromData(v.Data[lo*dim:hi*dim], hi-lo, dim))
		n := ks[i].Rows()
		spans[i] = tensor.AttnSpan{Q: lo, N: hi - lo, Keys: []tensor.RowRange{{Start: rows, Len: n}}, Off: n - (hi - lo)}
		rows += n
	}
	ka, va := tensor.New(rows, dim), tensor.New(rows, dim)
	at := 0
	for i := range ks {
		copy(ka.Data[at:], ks[i].Data)
		copy(va.Data[at:], vs[i].Data)
		at += len(ks[i].Data)
	}
	return ka, va, spans
}
