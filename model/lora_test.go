package model

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tensor"
)

// loraExpected mirrors fixtures/hf/llama_lora/expected.json.
type loraExpected struct {
	Pairs []struct {
		Prompt   []int `json:"prompt"`
		Chosen   []int `json:"chosen"`
		Rejected []int `json:"rejected"`
	} `json:"pairs"`
	PerPair []struct {
		PolicyChosen   float64 `json:"policy_chosen_logp"`
		PolicyRejected float64 `json:"policy_rejected_logp"`
		RefChosen      float64 `json:"ref_chosen_logp"`
		RefRejected    float64 `json:"ref_rejected_logp"`
		DPOP           float64 `json:"dpop"`
	} `json:"per_pair"`
	MeanDPOP float64 `json:"mean_dpop"`
	IDs      []int   `json:"ids"`
	Beta     float64 `json:"beta"`
	Lambda   float64 `json:"lam"`
	LoRA     struct {
		R       int      `json:"r"`
		Alpha   float64  `json:"alpha"`
		Targets []string `json:"targets"`
	} `json:"lora"`
}

func loadLoRAFixture(t *testing.T) (root string, e *loraExpected) {
	t.Helper()
	root = sharedtest.Path(t, "fixtures/hf/llama_lora")
	b, err := os.ReadFile(filepath.Join(root, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	e = &loraExpected{}
	if err := json.Unmarshal(b, e); err != nil {
		t.Fatalf("%s/expected.json: %v", root, err)
	}
	return root, e
}

// loadWithAdapter loads the fixture's base model and attaches its adapter.
func loadWithAdapter(t *testing.T, root, adapter string) (*Model, LoRAConfig) {
	t.Helper()
	m := mustLoad(t, filepath.Join(root, "base"))
	c, err := LoadAdapter(m, adapter)
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// TestLoRAFixtureLogits: logits of the fixture's ids with the PEFT adapter,
// and after MergeLoRA, within 1e-4 relative of PEFT's; with the adapter
// disabled they equal the base model's exactly.
func TestLoRAFixtureLogits(t *testing.T) {
	root, e := loadLoRAFixture(t)
	want := readTensors(t, filepath.Join(root, "logits.safetensors"))
	m, c := loadWithAdapter(t, root, filepath.Join(root, "adapter"))
	wantTargets := slices.Clone(e.LoRA.Targets)
	slices.Sort(wantTargets)
	gotTargets := slices.Clone(c.Targets)
	slices.Sort(gotTargets)
	if c.R != e.LoRA.R || c.Alpha != e.LoRA.Alpha || c.Dropout != 0 || c.RSLoRA || !slices.Equal(gotTargets, wantTargets) {
		t.Errorf("config %+v, want r %d alpha %v targets %v", c, e.LoRA.R, e.LoRA.Alpha, wantTargets)
	}
	check := func(name string, m *Model) {
		t.Helper()
		got, err := m.Logits([][]int{e.IDs})
		if err != nil {
			t.Fatal(err)
		}
		r := relErr(got[0], want[name])
		t.Logf("%s: relative error %.2e", name, r)
		if r > 1e-4 {
			t.Errorf("%s: relative error %.2e > 1e-4", name, r)
		}
	}
	check("logits_adapter", m)

	base := mustLoad(t, filepath.Join(root, "base"))
	baseLogits, err := base.Logits([][]int{e.IDs})
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapterEnabled(false)
	off, err := m.Logits([][]int{e.IDs})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(off[0], baseLogits[0]) {
		t.Errorf("adapter disabled: logits differ from the base model's")
	}
	if r := relErr(baseLogits[0], want["logits_adapter"]); r < 1e-3 {
		t.Fatalf("the base model's logits are within %.1e of the adapter's: the fixture cannot tell them apart", r)
	}
	m.SetAdapterEnabled(true)

	m.MergeLoRA()
	if _, ok := m.LoRAConfig(); ok || len(m.LoRAParams()) != 0 {
		t.Errorf("MergeLoRA left an adapter behind")
	}
	check("logits_merged", m)
}

// TestLoRAFixtureDPOP scores the fixture's pairs with the adapter (policy)
// and with the adapter disabled (reference), computes the mean DPOP loss
// −log σ(β(ρw − ρl − λ·max(0, −ρw))) here from its formula, and compares the
// log-probs with PEFT's (1e-4 absolute, as the base engine's tests), each
// pair's loss and the mean (1e-5 absolute), and the gradient
// of the mean loss w.r.t. every LoRA matrix (1e-3 relative per tensor). The
// frozen base must get no gradient.
func TestLoRAFixtureDPOP(t *testing.T) {
	root, e := loadLoRAFixture(t)
	m, _ := loadWithAdapter(t, root, filepath.Join(root, "adapter"))
	var items []Completion
	for _, p := range e.Pairs {
		items = append(items, Completion{p.Prompt, p.Chosen})
	}
	for _, p := range e.Pairs {
		items = append(items, Completion{p.Prompt, p.Rejected})
	}
	n := len(e.Pairs)

	m.SetAdapterEnabled(false)
	ref, err := m.LogProbs(nil, items)
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapterEnabled(true)
	tp := tensor.NewTape()
	pol, err := m.LogProbs(tp, items)
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got float32, want float64) {
		t.Helper()
		if d := math.Abs(float64(got) - want); d > 1e-4 {
			t.Errorf("%s: %v, want %v (|Δ| %.1e > 1e-4)", what, got, want, d)
		}
	}
	seed := make([]float32, 2*n)
	var mean, worstLoss float64
	for i, pp := range e.PerPair {
		near("ref chosen", ref.Seq.Data[i], pp.RefChosen)
		near("ref rejected", ref.Seq.Data[n+i], pp.RefRejected)
		near("policy chosen", pol.Seq.Data[i], pp.PolicyChosen)
		near("policy rejected", pol.Seq.Data[n+i], pp.PolicyRejected)
		rw := float64(pol.Seq.Data[i]) - float64(ref.Seq.Data[i])
		rl := float64(pol.Seq.Data[n+i]) - float64(ref.Seq.Data[n+i])
		z, dzdw := e.Beta*(rw-rl), e.Beta
		if rw < 0 {
			z -= e.Beta * e.Lambda * (-rw)
			dzdw += e.Beta * e.Lambda
		}
		loss := -logSigmoid(z)
		mean += loss / float64(n)
		worstLoss = math.Max(worstLoss, math.Abs(loss-pp.DPOP))
		// Tolerance: the log-probs are float32 sums near −46, whose spacing
		// is 3.8e-6 in torch's values as in ours, and DPOP multiplies an
		// error in ρ_w by up to β(1+λ) = 15.3 — so the fixture's own DPOP
		// values are only good to about 3e-5. 1e-4 allows that and still
		// catches any formula or reference mistake (those move it by ≥1e-2).
		if d := math.Abs(loss - pp.DPOP); d > 1e-4 {
			t.Errorf("pair %d: DPOP %v, want %v (|Δ| %.1e > 1e-4)", i, loss, pp.DPOP, d)
		}
		dz := -math.Exp(logSigmoid(-z)) / float64(n)
		seed[i] = float32(dz * dzdw)
		seed[n+i] = float32(-dz * e.Beta)
	}
	if d := math.Abs(mean - e.MeanDPOP); d > 1e-4 {
		t.Errorf("mean DPOP %v, want %v (|Δ| %.1e > 1e-4)", mean, e.MeanDPOP, d)
	}
	t.Logf("DPOP per pair: worst absolute error %.1e", worstLoss)
	tp.Backward(pol.Seq, seed)

	want := readTensors(t, filepath.Join(root, "lora_grads_dpop.safetensors"))
	params := m.LoRAParams()
	if len(want) != len(params) {
		t.Errorf("fixture has %d gradients, model %d LoRA matrices", len(want), len(params))
	}
	worst := 0.0
	for _, p := range params {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("no reference gradient for %s", p.Name)
			continue
		}
		r := relErr(p.Tensor.Grad, w)
		worst = math.Max(worst, r)
		if r > 1e-3 {
			t.Errorf("%s: relative gradient error %.2e > 1e-3", p.Name, r)
		}
	}
	t.Logf("%d LoRA gradients, worst per-tensor relative error %.2e", len(params), worst)
	for _, p := range m.Params() {
		if p.Tensor.RequiresGrad || p.Tensor.Grad != nil {
			t.Errorf("frozen base parameter %s: RequiresGrad %v, gradient buffer %v", p.Name, p.Tensor.RequiresGrad, p.Tensor.Grad != nil)
		}
	}
}

// TestAdapterRoundTrip: saving the fixture's adapter reproduces PEFT's
// safetensors file byte for byte and every field of its adapter_config.json
// (target_modules as a set; peft_version, which names the writing library,
// is not written); loading the saved folder gives the same matrices.
func TestAdapterRoundTrip(t *testing.T) {
	root, _ := loadLoRAFixture(t)
	src := filepath.Join(root, "adapter")
	m, c := loadWithAdapter(t, root, src)
	out := filepath.Join(t.TempDir(), "adapter")
	if err := m.SaveAdapter(out, ""); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{AdapterWeightsFile, AdapterConfigFile, "README.md"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("saved adapter lacks %s: %v", name, err)
		}
	}
	gotST, _ := os.ReadFile(filepath.Join(out, AdapterWeightsFile))
	wantST, _ := os.ReadFile(filepath.Join(src, AdapterWeightsFile))
	if !bytes.Equal(gotST, wantST) {
		t.Errorf("%s differs from PEFT's (%d bytes, want %d)", AdapterWeightsFile, len(gotST), len(wantST))
	}
	gotCfg, wantCfg := readJSON(t, filepath.Join(out, AdapterConfigFile)), readJSON(t, filepath.Join(src, AdapterConfigFile))
	delete(wantCfg, "peft_version")
	for _, cfg := range []map[string]any{gotCfg, wantCfg} {
		ts := cfg["target_modules"].([]any)
		slices.SortFunc(ts, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	}
	for k, w := range wantCfg {
		if g, ok := gotCfg[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("adapter_config.json %q = %v, PEFT wrote %v", k, g, w)
		}
	}
	for k := range gotCfg {
		if _, ok := wantCfg[k]; !ok {
			t.Errorf("adapter_config.json has %q, which PEFT does not write", k)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(out, AdapterConfigFile))
	if !bytes.Contains(raw, []byte(`"lora_dropout": 0.0,`)) {
		t.Errorf("lora_dropout is not written as Python writes 0.0:\n%s", raw)
	}

	m2, c2 := loadWithAdapter(t, root, out)
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("reloaded config %+v, saved %+v", c2, c)
	}
	p1, p2 := m.LoRAParams(), m2.LoRAParams()
	if len(p1) != len(p2) {
		t.Fatalf("reloaded %d matrices, saved %d", len(p2), len(p1))
	}
	for i := range p1 {
		if p1[i].Name != p2[i].Name || !slices.Equal(p1[i].Tensor.Data, p2[i].Tensor.Data) {
			t.Errorf("%s: reloaded matrix differs", p1[i].Name)
		}
	}

	// Saving again over the folder replaces the files in place.
	if err := m2.SaveAdapter(out, "org/base"); err != nil {
		t.Fatal(err)
	}
	if got := readJSON(t, filepath.Join(out, AdapterConfigFile))["base_model_name_or_path"]; got != "org/base" {
		t.Errorf("base_model_name_or_path = %v after the second save, want org/base", got)
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestAttachLoRA: targets select the projections PEFT's suffix rule
// selects, A is U(−1/√in, 1/√in) (bounds, mean and variance within 5
// standard errors), B is zero so the logits do not move, the base is frozen
// and the LoRA matrices are the trainable parameters under PEFT's names.
func TestAttachLoRA(t *testing.T) {
	root, e := loadLoRAFixture(t)
	m := mustLoad(t, filepath.Join(root, "base"))
	before, err := m.Logits([][]int{e.IDs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AttachLoRA(LoRAConfig{R: 8, Alpha: 16, Targets: []string{"q_proj", "layers.1.mlp.down_proj"}}, 3); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m.LoRAParams() {
		names = append(names, p.Name)
	}
	wantNames := []string{
		"base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight",
		"base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight",
		"base_model.model.model.layers.1.self_attn.q_proj.lora_B.default.weight",
		"base_model.model.model.layers.1.mlp.down_proj.lora_A.default.weight",
		"base_model.model.model.layers.1.mlp.down_proj.lora_B.default.weight",
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("LoRA parameters %v, want %v", names, wantNames)
	}
	for _, l := range []*Linear{&m.Layers[1].Down, &m.Layers[0].Q} {
		a := l.LoRA
		in := float64(l.W.Shape[1])
		bound := 1 / math.Sqrt(in)
		if !slices.Equal(a.A.Shape, []int{8, l.W.Shape[1]}) || !slices.Equal(a.B.Shape, []int{l.W.Shape[0], 8}) {
			t.Errorf("A %v, B %v for W %v", a.A.Shape, a.B.Shape, l.W.Shape)
		}
		var s, s2 float64
		for _, v := range a.A.Data {
			if math.Abs(float64(v)) > bound {
				t.Fatalf("A value %v outside ±%v", v, bound)
			}
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		k := float64(a.A.Len())
		mean, variance := s/k, s2/k
		// U(−b, b): mean 0 with standard error b/√(3k); E[v²] = b²/3 with
		// standard error b²·√(4/45)/√k.
		if math.Abs(mean) > 5*bound/math.Sqrt(3*k) {
			t.Errorf("A mean %v, want 0 ± %v", mean, 5*bound/math.Sqrt(3*k))
		}
		if math.Abs(variance-bound*bound/3) > 5*bound*bound*math.Sqrt(4.0/45/k) {
			t.Errorf("A mean square %v, want %v", variance, bound*bound/3)
		}
		if slices.ContainsFunc(a.B.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("B is not zero")
		}
		if a.Scaling != 2 || !a.A.RequiresGrad || !a.B.RequiresGrad {
			t.Errorf("scaling %v (want 2), A trainable %v, B trainable %v", a.Scaling, a.A.RequiresGrad, a.B.RequiresGrad)
		}
	}
	for _, p := range m.Params() {
		if p.Tensor.RequiresGrad {
			t.Errorf("base parameter %s is still trainable", p.Name)
		}
	}
	after, err := m.Logits([][]int{e.IDs})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before[0], after[0]) {
		t.Errorf("a fresh adapter (B = 0) changed the logits")
	}
	if err := m.AttachLoRA(LoRAConfig{R: 2, Alpha: 2, Targets: []string{"v_proj"}}, 1); err == nil {
		t.Errorf("a second AttachLoRA succeeded")
	}
}

// TestLoRAScaling: alpha/r, or alpha/√r with rsLoRA (hand-computed).
func TestLoRAScaling(t *testing.T) {
	for _, c := range []struct {
		cfg  LoRAConfig
		want float64
	}{
		{LoRAConfig{R: 4, Alpha: 8}, 2},
		{LoRAConfig{R: 4, Alpha: 8, RSLoRA: true}, 4},
		{LoRAConfig{R: 16, Alpha: 8, RSLoRA: true}, 2},
		{LoRAConfig{R: 64, Alpha: 16}, 0.25},
	} {
		if got := c.cfg.Scaling(); got != c.want {
			t.Errorf("%+v: scaling %v, want %v", c.cfg, got, c.want)
		}
	}
}

// TestLinearLoRAForward compares Linear.Forward with an adapter against the
// formula W·x + b + s·B·(A·x) evaluated in float64 (within 1e-5), and its
// gradients w.r.t. x, A and B against finite differences of the same
// float64 formula (within 1e-6 relative).
func TestLinearLoRAForward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randData := func(n int) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64())
		}
		return d
	}
	const rows, in, out, rank, s = 3, 5, 4, 2, 0.75
	x := tensor.FromData(randData(rows*in), rows, in)
	x.RequiresGrad = true
	l := Linear{W: tensor.FromData(randData(out*in), out, in), B: tensor.FromData(randData(out), out)}
	l.LoRA = &LoRA{A: tensor.NewParam(randData(rank*in), rank, in), B: tensor.NewParam(randData(out*rank), out, rank), Scaling: s, shared: &adapterState{}}
	ref := func(x, a, b []float32) []float64 {
		y := make([]float64, rows*out)
		for i := 0; i < rows; i++ {
			u := make([]float64, rank)
			for k := range u {
				for j := 0; j < in; j++ {
					u[k] += float64(a[k*in+j]) * float64(x[i*in+j])
				}
			}
			for o := 0; o < out; o++ {
				v := float64(l.B.Data[o])
				for j := 0; j < in; j++ {
					v += float64(l.W.Data[o*in+j]) * float64(x[i*in+j])
				}
				for k := range u {
					v += s * float64(b[o*rank+k]) * u[k]
				}
				y[i*out+o] = v
			}
		}
		return y
	}
	tp := tensor.NewTape()
	y := l.Forward(tp, x)
	want := ref(x.Data, l.LoRA.A.Data, l.LoRA.B.Data)
	for i, w := range want {
		if math.Abs(float64(y.Data[i])-w) > 1e-5 {
			t.Fatalf("y[%d] = %v, want %v", i, y.Data[i], w)
		}
	}
	dy := randData(rows * out)
	tp.Backward(y, dy)
	obj := func() float64 {
		var f float64
		for i, v := range ref(x.Data, l.LoRA.A.Data, l.LoRA.B.Data) {
			f += float64(dy[i]) * v
		}
		return f
	}
	for _, c := range []struct {
		name string
		t    *tensor.Tensor
	}{{"x", x}, {"A", l.LoRA.A}, {"B", l.LoRA.B}} {
		for i := range c.t.Data {
			old := c.t.Data[i]
			c.t.Data[i] = old + 1.0/64
			fp := obj()
			c.t.Data[i] = old - 1.0/64
			fm := obj()
			c.t.Data[i] = old
			num := (fp - fm) * 32 // the objective is linear in each entry: exact up to rounding
			if d := math.Abs(num - float64(c.t.Grad[i])); d > 1e-6*math.Max(1, math.Abs(num))+1e-5 {
				t.Errorf("∂/∂%s[%d] = %v, finite differences %v", c.name, i, c.t.Grad[i], num)
			}
		}
	}
	l.LoRA.shared.disabled = true
	plain := l.Forward(nil, x)
	base := tensor.Linear(nil, x, l.W, l.B)
	if !slices.Equal(plain.Data, base.Data) {
		t.Errorf("disabled adapter: output differs from W·x + b")
	}
}

// TestLoRADropout: with lora_dropout the taped forward draws masks (its
// log-probs differ from the untaped forward, which has none), the same seed
// or a restored generator state gives the same masks, another seed others.
func TestLoRADropout(t *testing.T) {
	root, e := loadLoRAFixture(t)
	m := mustLoad(t, filepath.Join(root, "base"))
	if err := m.AttachLoRA(LoRAConfig{R: 4, Alpha: 8, Dropout: 0.3, Targets: []string{AllLinear}}, 1); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for _, p := range m.LoRAParams() {
		for i := range p.Tensor.Data {
			p.Tensor.Data[i] = float32(r.NormFloat64() * 0.1)
		}
	}
	items := []Completion{{e.Pairs[0].Prompt, e.Pairs[0].Chosen}}
	score := func(tp *tensor.Tape) []float32 {
		s, err := m.LogProbs(tp, items)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(s.Tokens[0])
	}
	noDrop := score(nil)
	m.SetDropoutSeed(7)
	first := score(tensor.NewTape())
	state, err := m.DropoutState()
	if err != nil {
		t.Fatal(err)
	}
	second := score(tensor.NewTape())
	if slices.Equal(first, noDrop) || slices.Equal(first, second) {
		t.Fatalf("dropout draws no masks, or the same masks on consecutive steps")
	}
	m.SetDropoutSeed(7)
	if again := score(tensor.NewTape()); !slices.Equal(again, first) {
		t.Errorf("the same seed gave different masks")
	}
	if err := m.SetDropoutState(state); err != nil {
		t.Fatal(err)
	}
	if resumed := score(tensor.NewTape()); !slices.Equal(resumed, second) {
		t.Errorf("a restored generator state gave different masks")
	}
	m.SetDropoutSeed(8)
	if other := score(tensor.NewTape()); slices.Equal(other, first) {
		t.Errorf("another seed gave the same masks")
	}
}

// TestLoadAdapterErrors: adapters smaug cannot apply exactly are refused
// with the file, line and field (or tensor) named, and the model is left
// without an adapter and trainable.
func TestLoadAdapterErrors(t *testing.T) {
	root, _ := loadLoRAFixture(t)
	src := filepath.Join(root, "adapter")
	cfg, err := os.ReadFile(filepath.Join(src, AdapterConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	weights, err := os.ReadFile(filepath.Join(src, AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	// line of a key in the fixture's config, computed independently.
	lineOf := func(key string) string {
		for i, l := range strings.Split(string(cfg), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), `"`+key+`"`) {
				return AdapterConfigFile + ":" + strconv.Itoa(i+1) + ": field \"" + key + "\""
			}
		}
		t.Fatalf("no %s in the fixture config", key)
		return ""
	}
	replace := func(old, new string) func() []byte {
		return func() []byte {
			if !bytes.Contains(cfg, []byte(old)) {
				t.Fatalf("fixture config lacks %q", old)
			}
			return bytes.Replace(cfg, []byte(old), []byte(new), 1)
		}
	}
	// withoutTensor is the fixture's weights file less one tensor.
	withoutTensor := func() []byte {
		f, err := hf.OpenSafetensors(filepath.Join(src, AdapterWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var ts []hf.WriteTensor
		for _, name := range f.Names() {
			if name != "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight" {
				x, _ := f.Tensor(name)
				d, err := x.Float32()
				if err != nil {
					t.Fatal(err)
				}
				ts = append(ts, hf.WriteTensor{Name: name, Shape: x.Shape, Data: d})
			}
		}
		path := filepath.Join(t.TempDir(), "w.safetensors")
		if err := hf.WriteSafetensors(path, ts, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name    string
		config  func() []byte
		weights func() []byte
		want    string
	}{
		{"bias", replace(`"bias": "none"`, `"bias": "all"`), nil, lineOf("bias")},
		{"dora", replace(`"use_dora": false`, `"use_dora": true`), nil, lineOf("use_dora")},
		{"fan_in_fan_out", replace(`"fan_in_fan_out": false`, `"fan_in_fan_out": true`), nil, lineOf("fan_in_fan_out")},
		{"rank_pattern", replace(`"rank_pattern": {}`, `"rank_pattern": {"q_proj": 8}`), nil, lineOf("rank_pattern")},
		{"modules_to_save", replace(`"modules_to_save": null`, `"modules_to_save": ["lm_head"]`), nil, lineOf("modules_to_save")},
		{"peft_type", replace(`"peft_type": "LORA"`, `"peft_type": "IA3"`), nil, lineOf("peft_type")},
		{"r", replace(`"r": 4`, `"r": "four"`), nil, lineOf("r")},
		{"dropout", replace(`"lora_dropout": 0.0`, `"lora_dropout": 1.5`), nil, lineOf("lora_dropout")},
		{"regex", replace(`"target_modules": [`, `"target_modules": ".*q_proj", "x": [`), nil, lineOf("target_modules")},
		{"unknown target", replace(`"q_proj"`, `"lm_head"`), nil, `"lm_head" matches no projection`},
		{"syntax", func() []byte { return append([]byte("{\n\"r\": 4,\n"), '}') }, nil, AdapterConfigFile + ":3:"},
		{"rank mismatch", replace(`"r": 4`, `"r": 8`), nil, `q_proj.lora_A.weight" has shape [4 64], want [8 64]`},
		{"missing tensor", nil, withoutTensor, `"base_model.model.model.layers.1.mlp.up_proj.lora_B.weight" is missing`},
		{"extra tensor", replace(`"o_proj",`, ``), nil, `o_proj.lora_A.weight" is not a LoRA matrix`},
		{"missing weights", nil, func() []byte { return nil }, AdapterWeightsFile},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cb, wb := cfg, weights
			if c.config != nil {
				cb = c.config()
			}
			if c.weights != nil {
				wb = c.weights()
			}
			if err := os.WriteFile(filepath.Join(dir, AdapterConfigFile), cb, 0o644); err != nil {
				t.Fatal(err)
			}
			if wb != nil {
				if err := os.WriteFile(filepath.Join(dir, AdapterWeightsFile), wb, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m := mustLoad(t, filepath.Join(root, "base"))
			_, err := LoadAdapter(m, dir)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if _, ok := m.LoRAConfig(); ok || !m.Layers[0].Q.W.RequiresGrad {
				t.Errorf("a failed load changed the model")
			}
		})
	}
}
