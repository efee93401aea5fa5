package optim

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// refAdamW is textbook AdamW in float64 (Loshchilov & Hutter with torch's
// placement of ε): decoupled decay, bias-corrected moments m̂ and v̂, and
// p ← p − lr·m̂/(√v̂ + ε).
type refAdamW struct {
	b1, b2, eps float64
	m, v        []float64
	t           int
}

func (r *refAdamW) step(p, g []float64, lr, wd float64) {
	if r.m == nil {
		r.m, r.v = make([]float64, len(p)), make([]float64, len(p))
	}
	r.t++
	for i := range p {
		p[i] -= lr * wd * p[i]
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*g[i]
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*g[i]*g[i]
		mhat := r.m[i] / (1 - math.Pow(r.b1, float64(r.t)))
		vhat := r.v[i] / (1 - math.Pow(r.b2, float64(r.t)))
		p[i] -= lr * mhat / (math.Sqrt(vhat) + r.eps)
	}
}

// adamCase is three steps on two tiny parameters, one decayed and one not,
// with a zero gradient entry, changing gradients and learning rates.
var (
	adamInitA = []float32{1, -2, 0.5}
	adamInitB = []float32{0.25, -0.75}
	adamGradA = [][]float32{{0.5, -1, 0}, {0.3, 0.2, -0.4}, {-0.1, 0.7, 0.9}}
	adamGradB = [][]float32{{2, -0.01}, {-1.5, 0.02}, {0.5, 0.5}}
	adamLR    = []float64{0.1, 0.05, 0.02}
)

func adamParams() (a, b *Param) {
	a = &Param{Name: "model.layers.0.mlp.up_proj.weight", Data: append([]float32(nil), adamInitA...), Decay: true}
	b = &Param{Name: "model.layers.0.input_layernorm.weight", Data: append([]float32(nil), adamInitB...)}
	return a, b
}

func TestAdamWAgainstFloat64(t *testing.T) {
	for _, eps := range []float64{1e-8, 1e-3} {
		opt, err := NewAdamW(0.9, 0.999, eps, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		a, b := adamParams()
		ra, rb := &refAdamW{b1: 0.9, b2: 0.999, eps: eps}, &refAdamW{b1: 0.9, b2: 0.999, eps: eps}
		pa, pb := widen(adamInitA), widen(adamInitB)
		for k := range adamLR {
			a.Grad, b.Grad = append([]float32(nil), adamGradA[k]...), append([]float32(nil), adamGradB[k]...)
			if err := opt.Update([]*Param{a, b}, adamLR[k]); err != nil {
				t.Fatal(err)
			}
			ra.step(pa, widen(adamGradA[k]), adamLR[k], 0.1)
			rb.step(pb, widen(adamGradB[k]), adamLR[k], 0)
			// float32 storage against float64: 1e-6 absolute on values ~1.
			for _, c := range []struct {
				name string
				got  []float32
				want []float64
			}{{"decayed", a.Data, pa}, {"not decayed", b.Data, pb}} {
				for i := range c.want {
					if math.Abs(float64(c.got[i])-c.want[i]) > 1e-6 {
						t.Errorf("eps %g step %d %s [%d]: %.9g, float64 reference %.9g", eps, k+1, c.name, i, c.got[i], c.want[i])
					}
				}
			}
		}
		if opt.Step != 3 {
			t.Errorf("Step = %d, want 3", opt.Step)
		}
	}
}

// TestAdamWHandFirstStep: at step 1, m̂ = g and v̂ = g², so
// p₁ = p₀(1 − lr·λ) − lr·g/(|g| + ε) = 1·(1 − 0.1·0.01) − 0.1·0.5/(0.5 + 1e-8).
func TestAdamWHandFirstStep(t *testing.T) {
	opt, _ := NewAdamW(0.9, 0.999, 1e-8, 0.01)
	p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{0.5}, Decay: true}
	if err := opt.Update([]*Param{p}, 0.1); err != nil {
		t.Fatal(err)
	}
	if want := 0.999 - 0.1*0.5/(0.5+1e-8); math.Abs(float64(p.Data[0])-want) > 1e-7 {
		t.Errorf("p₁ = %.9g, want %.9g", p.Data[0], want)
	}
}

// TestAdamWAgainstTorch compares with torch.optim.AdamW (torch 1.13.1, CPU,
// float32; weight_decay 0.1 on the first group and 0 on the second, eps 1e-3)
// on the same three steps. Its kernels fuse and order some operations
// differently, so the tolerance is a few float32 ulps: 1e-6.
func TestAdamWAgainstTorch(t *testing.T) {
	torchA := [][]float64{
		{0.890199602, -1.88009989, 0.495000005},
		{0.837989986, -1.84518349, 0.529600799},
		{0.823922217, -1.84221566, 0.521548271},
	}
	torchB := [][]float64{
		{0.150049984, -0.659090936},
		{0.145586267, -0.67630744},
		{0.141727164, -0.689278841},
	}
	opt, _ := NewAdamW(0.9, 0.999, 1e-3, 0.1)
	a, b := adamParams()
	for k := range adamLR {
		a.Grad, b.Grad = append([]float32(nil), adamGradA[k]...), append([]float32(nil), adamGradB[k]...)
		if err := opt.Update([]*Param{a, b}, adamLR[k]); err != nil {
			t.Fatal(err)
		}
		for i, w := range torchA[k] {
			if math.Abs(float64(a.Data[i])-w) > 1e-6 {
				t.Errorf("step %d a[%d]: %.9g, torch %.9g", k+1, i, a.Data[i], w)
			}
		}
		for i, w := range torchB[k] {
			if math.Abs(float64(b.Data[i])-w) > 1e-6 {
				t.Errorf("step %d b[%d]: %.9g, torch %.9g", k+1, i, b.Data[i], w)
			}
		}
	}
}

// TestAdamWResumeIsBitExact: three steps straight equal one step, a
// State/Load round trip into a fresh optimiser, and two more steps, bit for
// bit.
func TestAdamWResumeIsBitExact(t *testing.T) {
	run := func(resumeAfter int) (a, b *Param) {
		opt, _ := NewAdamW(0.9, 0.999, 1e-8, 0.1)
		a, b = adamParams()
		for k := range adamLR {
			if k == resumeAfter {
				step, m, v := opt.State()
				opt, _ = NewAdamW(0.9, 0.999, 1e-8, 0.1)
				if err := opt.Load(step, m, v); err != nil {
					t.Fatal(err)
				}
			}
			a.Grad, b.Grad = append([]float32(nil), adamGradA[k]...), append([]float32(nil), adamGradB[k]...)
			if err := opt.Update([]*Param{a, b}, adamLR[k]); err != nil {
				t.Fatal(err)
			}
		}
		return a, b
	}
	a0, b0 := run(-1)
	a1, b1 := run(1)
	if !reflect.DeepEqual(a0.Data, a1.Data) || !reflect.DeepEqual(b0.Data, b1.Data) {
		t.Errorf("resumed run %v %v, straight run %v %v", a1.Data, b1.Data, a0.Data, b0.Data)
	}
	if reflect.DeepEqual(a0.Data, adamInitA) {
		t.Error("the parameters did not change")
	}
}

func TestAdamWStateIsACopy(t *testing.T) {
	opt, _ := NewAdamW(0.9, 0.999, 1e-8, 0)
	p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{1}}
	if err := opt.Update([]*Param{p}, 0.1); err != nil {
		t.Fatal(err)
	}
	step, m, v := opt.State()
	if step != 1 || math.Abs(float64(m["w"][0])-0.1) > 1e-7 || math.Abs(float64(v["w"][0])-0.001) > 1e-9 {
		t.Fatalf("State() = %d %v %v, want 1, m 0.1, v 0.001", step, m, v)
	}
	m["w"][0] = 42
	if _, m2, _ := opt.State(); m2["w"][0] == 42 {
		t.Error("State() shares memory with the optimiser")
	}
}

func TestAdamWErrors(t *testing.T) {
	if _, err := NewAdamW(1, 0.999, 1e-8, 0); err == nil || !strings.Contains(err.Error(), "beta1 = 1") {
		t.Errorf("beta1 = 1: %v", err)
	}
	if _, err := NewAdamW(0.9, 0.999, -1, 0); err == nil || !strings.Contains(err.Error(), "eps = -1") {
		t.Errorf("eps = -1: %v", err)
	}
	tests := []struct {
		name   string
		prep   func(o *AdamW) []*Param
		lr     float64
		wanted string
	}{
		{"short gradient", func(*AdamW) []*Param {
			return []*Param{{Name: "w", Data: []float32{1, 2}, Grad: []float32{1}}}
		}, 0.1, `"w" has 2 values and 1 gradients`},
		{"duplicate", func(*AdamW) []*Param {
			p := &Param{Name: "w", Data: []float32{1}, Grad: []float32{1}}
			return []*Param{p, p}
		}, 0.1, `"w" is listed twice`},
		{"bad lr", func(*AdamW) []*Param { return nil }, math.NaN(), "learning rate NaN"},
		{"new parameter later", func(o *AdamW) []*Param {
			_ = o.Update([]*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}}, 0.1)
			return []*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}, {Name: "u", Data: []float32{1}, Grad: []float32{1}}}
		}, 0.1, `step 2: parameter "u" has no optimiser state`},
		{"missing parameter later", func(o *AdamW) []*Param {
			_ = o.Update([]*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}, {Name: "u", Data: []float32{1}, Grad: []float32{1}}}, 0.1)
			return []*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}}
		}, 0.1, "1 parameters passed, the optimiser state has 2"},
		{"resized parameter", func(o *AdamW) []*Param {
			_ = o.Update([]*Param{{Name: "w", Data: []float32{1}, Grad: []float32{1}}}, 0.1)
			return []*Param{{Name: "w", Data: []float32{1, 2}, Grad: []float32{1, 2}}}
		}, 0.1, `"w" has 2 values, its optimiser state 1`},
	}
	for _, tt := range tests {
		o, _ := NewAdamW(0.9, 0.999, 1e-8, 0)
		params := tt.prep(o)
		before := o.Step
		err := o.Update(params, tt.lr)
		if err == nil || !strings.Contains(err.Error(), tt.wanted) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wanted)
		}
		if o.Step != before {
			t.Errorf("%s: Step moved to %d after an error", tt.name, o.Step)
		}
	}
}

func TestAdamWLoadErrors(t *testing.T) {
	one := map[string][]float32{"w": {1}}
	tests := []struct {
		name   string
		step   int
		m, v   map[string][]float32
		wanted string
	}{
		{"negative step", -1, one, one, "step -1"},
		{"missing second moment", 1, one, map[string][]float32{"u": {1}}, `"w" has a first moment and no second`},
		{"length mismatch", 1, one, map[string][]float32{"w": {1, 2}}, `"w" has 1 first and 2 second`},
		{"negative second moment", 1, one, map[string][]float32{"w": {-1}}, "second moment [0] = -1"},
		{"empty at step 3", 3, nil, nil, "step 3 with no parameters"},
	}
	for _, tt := range tests {
		o, _ := NewAdamW(0.9, 0.999, 1e-8, 0)
		if err := o.Load(tt.step, tt.m, tt.v); err == nil || !strings.Contains(err.Error(), tt.wanted) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wanted)
		}
	}
}

func widen(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
