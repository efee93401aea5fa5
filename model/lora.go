package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/smaug-dev/smaug/internal/memlimit"
	"github.com/smaug-dev/smaug/kernels"
	"github.com/smaug-dev/smaug/tensor"
)

// LoRAConfig describes a LoRA adapter as PEFT's LoraConfig does.
type LoRAConfig struct {
	// R is the rank r of every adapter.
	R int
	// Alpha is lora_alpha: the update is scaled by Alpha/R (Alpha/√R with
	// RSLoRA).
	Alpha float64
	// Dropout is lora_dropout, applied to the adapter's input in training.
	Dropout float64
	// Targets are PEFT target_modules: a projection is adapted when its full
	// name ("model.layers.3.self_attn.q_proj") equals a target or ends with
	// "." + target, so "q_proj" selects every layer's query projection and
	// "layers.0.mlp.up_proj" one layer's. The single target "all-linear"
	// stands for all seven projections (q_proj, k_proj, v_proj, o_proj,
	// gate_proj, up_proj, down_proj); the output layer is never adapted.
	Targets []string
	// RSLoRA selects rank-stabilised scaling Alpha/√R (use_rslora).
	RSLoRA bool
}

// projections are the seven linear modules of a decoder layer, by PEFT name.
var projections = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// AllLinear is the target_modules value that adapts every projection.
const AllLinear = "all-linear"

// Scaling returns the factor applied to B·A: Alpha/R, or Alpha/√R with
// RSLoRA.
func (c LoRAConfig) Scaling() float64 {
	if c.RSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// targets returns the configured targets with "all-linear" expanded, as
// PEFT rewrites target_modules when it injects the adapter.
func (c LoRAConfig) targets() []string {
	if len(c.Targets) == 1 && c.Targets[0] == AllLinear {
		return slices.Clone(projections)
	}
	return c.Targets
}

// validate reports the first value PEFT would refuse or smaug cannot honour.
func (c LoRAConfig) validate() error {
	switch {
	case c.R <= 0:
		return fmt.Errorf("lora r = %d: the rank must be positive", c.R)
	case math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0):
		return fmt.Errorf("lora_alpha = %v: must be finite", c.Alpha)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("lora_dropout = %v: must be in [0, 1)", c.Dropout)
	case len(c.Targets) == 0:
		return fmt.Errorf("target_modules is empty: name projections (%s) or %q", strings.Join(projections, ", "), AllLinear)
	case len(c.Targets) > 1 && slices.Contains(c.Targets, AllLinear):
		return fmt.Errorf("target_modules: %q stands alone, not in a list with other names", AllLinear)
	}
	return nil
}

// LoRA is the low-rank adapter of one projection, held as PEFT's lora.Linear
// holds it: the projection computes W·x + b + Scaling·B·A·dropout(x).
type LoRA struct {
	A       *tensor.Tensor // lora_A.weight [r, in]
	B       *tensor.Tensor // lora_B.weight [out, r]
	Scaling float32
	Dropout float64
	shared  *adapterState
}

// adapterState is what every LoRA of one model shares: the configuration,
// the on/off switch and the dropout generator (one stream for all modules,
// drawn in forward order, so a seed fixes every mask of a step).
type adapterState struct {
	config   LoRAConfig
	disabled bool
	src      *rand.PCG
	rng      *rand.Rand
}

// module is an adaptable projection with its full Hugging Face name.
type module struct {
	name string // "model.layers.0.self_attn.q_proj"
	lin  *Linear
}

// modules lists every projection in the order PEFT lists parameters: layer
// by layer, attention (q, k, v, o) then MLP (gate, up, down).
func (m *Model) modules() []module {
	out := make([]module, 0, 7*len(m.Layers))
	for i := range m.Layers {
		l := &m.Layers[i]
		for j, lin := range []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down} {
			block := "self_attn"
			if j >= 4 {
				block = "mlp"
			}
			out = append(out, module{fmt.Sprintf("model.layers.%d.%s.%s", i, block, projections[j]), lin})
		}
	}
	return out
}

// matches is PEFT's rule for a list of target_modules.
func matches(name, target string) bool {
	return name == target || strings.HasSuffix(name, "."+target)
}

// adapted returns the modules the configuration targets, or an error naming
// a target that selects no projection.
func (m *Model) adapted(c LoRAConfig) ([]module, error) {
	all := m.modules()
	var out []module
	for _, t := range c.targets() {
		if !slices.ContainsFunc(all, func(mod module) bool { return matches(mod.name, t) }) {
			return nil, fmt.Errorf("target_modules: %q matches no projection of this model (adaptable: %s, or %q)", t, strings.Join(projections, ", "), AllLinear)
		}
	}
	for _, mod := range all {
		if slices.ContainsFunc(c.targets(), func(t string) bool { return matches(mod.name, t) }) {
			out = append(out, mod)
		}
	}
	return out, nil
}

// AttachLoRA adds a LoRA adapter to every targeted projection, initialised
// as PEFT does (init_lora_weights=True): A ~ U(−1/√in, 1/√in), which is
// kaiming_uniform_ with a = √5, and B = 0, so the model's output is
// unchanged until B is trained. Every base parameter is frozen; A and B are
// the trainable parameters (LoRAParams). seed fixes A and, until
// SetDropoutSeed, the dropout masks.
func (m *Model) AttachLoRA(c LoRAConfig, seed uint64) error {
	if _, ok := m.LoRAConfig(); ok {
		return fmt.Errorf("attach LoRA: the model already has an adapter")
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("attach LoRA: %w", err)
	}
	mods, err := m.adapted(c)
	if err != nil {
		return fmt.Errorf("attach LoRA: %w", err)
	}
	c.Targets = slices.Sorted(slices.Values(c.targets()))
	src := rand.NewPCG(seed, dropoutStream)
	shared := &adapterState{config: c, src: src, rng: rand.New(src)}
	init := rand.New(rand.NewPCG(seed, 0x10a1))
	scaling := float32(c.Scaling())
	var values float64 // adapter weights, each with a gradient buffer
	for _, mod := range mods {
		values += 2 * float64(c.R) * float64(mod.lin.W.Shape[0]+mod.lin.W.Shape[1])
	}
	if err := memlimit.Check(int64(min(4*values, math.MaxInt64)), fmt.Sprintf("LoRA adapters of rank %d (weights and gradients)", c.R)); err != nil {
		return fmt.Errorf("attach LoRA: %w", err)
	}
	m.Freeze()
	for _, mod := range mods {
		out, in := mod.lin.W.Shape[0], mod.lin.W.Shape[1]
		a := make([]float32, c.R*in)
		bound := 1 / math.Sqrt(float64(in))
		for i := range a {
			a[i] = float32((2*init.Float64() - 1) * bound)
		}
		mod.lin.LoRA = &LoRA{
			A:       tensor.NewParam(a, c.R, in),
			B:       tensor.NewParam(make([]float32, out*c.R), out, c.R),
			Scaling: scaling,
			Dropout: c.Dropout,
			shared:  shared,
		}
	}
	return nil
}

// dropoutStream is the PCG stream of the dropout generator, apart from the
// one that initialises A.
const dropoutStream = 0xd209

// seed restarts the dropout stream.
func (s *adapterState) seed(seed uint64) { s.src.Seed(seed, dropoutStream) }

// state returns the adapter's shared state, or nil without an adapter.
func (m *Model) state() *adapterState {
	for _, mod := range m.modules() {
		if mod.lin.LoRA != nil {
			return mod.lin.LoRA.shared
		}
	}
	return nil
}

// LoRAConfig returns the configuration of the attached adapter (Targets
// sorted, "all-linear" expanded), and false when there is none.
func (m *Model) LoRAConfig() (LoRAConfig, bool) {
	s := m.state()
	if s == nil {
		return LoRAConfig{}, false
	}
	c := s.config
	c.Targets = slices.Clone(c.Targets)
	return c, true
}

// LoRAParams returns the adapter matrices under PEFT's in-memory names
// (base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight),
// in PEFT's order: layer by layer, q, k, v, o, gate, up, down, A before B.
// It is empty without an adapter.
func (m *Model) LoRAParams() []Param {
	var out []Param
	for _, mod := range m.modules() {
		if a := mod.lin.LoRA; a != nil {
			out = append(out,
				Param{peftName(mod.name, "lora_A", true), a.A},
				Param{peftName(mod.name, "lora_B", true), a.B})
		}
	}
	return out
}

// peftName is a LoRA matrix's PEFT name: in memory with the adapter name
// ".default", on disk without.
func peftName(module, matrix string, inMemory bool) string {
	if inMemory {
		return "base_model.model." + module + "." + matrix + ".default.weight"
	}
	return "base_model.model." + module + "." + matrix + ".weight"
}

// SetAdapterEnabled switches the adapter on or off. Off, the model is its
// frozen base (PEFT's disable_adapter()), the DPO reference under LoRA. It
// does nothing without an adapter.
func (m *Model) SetAdapterEnabled(on bool) {
	if s := m.state(); s != nil {
		s.disabled = !on
	}
}

// SetDropoutSeed restarts the LoRA dropout stream from seed. It does
// nothing without an adapter.
func (m *Model) SetDropoutSeed(seed uint64) {
	if s := m.state(); s != nil {
		s.seed(seed)
	}
}

// DropoutState returns the state of the LoRA dropout generator, so that a
// resumed run (SetDropoutState) draws the same masks as an uninterrupted
// one. It is nil without an adapter.
func (m *Model) DropoutState() ([]byte, error) {
	s := m.state()
	if s == nil {
		return nil, nil
	}
	b, err := s.src.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("dropout generator state: %w", err)
	}
	return b, nil
}

// SetDropoutState restores a state returned by DropoutState.
func (m *Model) SetDropoutState(b []byte) error {
	s := m.state()
	if s == nil {
		return fmt.Errorf("restore dropout generator state: the model has no adapter")
	}
	if err := s.src.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("restore dropout generator state: %w", err)
	}
	return nil
}

// MergeLoRA folds every adapter into its base weight, W += scaling·B·A, and
// removes the adapters (PEFT's merge_and_unload). The base parameters stay
// frozen; a bfloat16 base weight becomes float32 first. It does nothing
// without an adapter.
func (m *Model) MergeLoRA() {
	for _, mod := range m.modules() {
		a := mod.lin.LoRA
		if a == nil {
			continue
		}
		out, in, r := a.B.Shape[0], a.A.Shape[1], a.A.Shape[0]
		w := mod.lin.W
		if w.BF16 != nil { // merged weights are float32
			w.Data, w.BF16 = w.Float32(), nil
		}
		kernels.Sgemm(false, false, out, in, r, a.Scaling, a.B.Data, r, a.A.Data, in, 1, w.Data, in)
		mod.lin.LoRA = nil
	}
}

// dropoutReplay snapshots the dropout generator before a checkpointed
// layer's forward; the returned function, called before the layer is
// recomputed, rewinds the generator so the recomputation draws the same
// masks, and returns a function that puts the generator back where it was.
// Without an adapter (or without dropout) there is nothing to replay.
func (m *Model) dropoutReplay() func() func() {
	s := m.state()
	if s == nil || s.config.Dropout == 0 {
		return nil
	}
	snap, err := s.src.MarshalBinary()
	if err != nil {
		panic(err) // a PCG always marshals
	}
	return func() func() {
		now, _ := s.src.MarshalBinary()
		if err := s.src.UnmarshalBinary(snap); err != nil {
			panic(err)
		}
		return func() { s.src.UnmarshalBinary(now) }
	}
}
