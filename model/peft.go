package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/hf"
)

// File names of a PEFT adapter folder.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
	adapterCardFile    = "README.md"
)

// defaultTargets is PEFT's target_modules for Llama, Mistral and Qwen2 when
// adapter_config.json leaves it null.
var defaultTargets = []string{"q_proj", "v_proj"}

// unsupported lists adapter_config.json fields that change what the adapter
// computes or where it applies in ways smaug does not implement; each must
// be null, false or empty.
var unsupported = []string{
	"use_dora", "fan_in_fan_out", "lora_bias", "use_qalora", "use_bdlora",
	"rank_pattern", "alpha_pattern", "layers_to_transform", "layer_replication",
	"modules_to_save", "exclude_modules", "trainable_token_indices", "target_parameters",
	"alora_invocation_tokens", "arrow_config", "kasa_config", "monteclora_config",
	"velora_config", "megatron_config",
}

// LoadAdapter reads a PEFT LoRA adapter folder (adapter_config.json and
// adapter_model.safetensors, as save_pretrained writes them) and attaches it
// to m (see AttachLoRA: the base is frozen, the adapter trainable and
// enabled). The configuration must be plain LoRA: bias "none", no DoRA, no
// per-module rank or alpha patterns, no modules_to_save; anything else is an
// error naming the file, line and field. Every targeted projection must have
// both matrices in the file, with the shapes the configuration implies, and
// the file nothing else. On error m is unchanged.
func LoadAdapter(m *Model, dir string) (LoRAConfig, error) {
	if _, ok := m.LoRAConfig(); ok {
		return LoRAConfig{}, fmt.Errorf("load adapter %s: the model already has an adapter", dir)
	}
	c, err := readAdapterConfig(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return LoRAConfig{}, fmt.Errorf("load adapter: %w", err)
	}
	if err := c.validate(); err != nil {
		return LoRAConfig{}, fmt.Errorf("load adapter: %s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	mods, err := m.adapted(c)
	if err != nil {
		return LoRAConfig{}, fmt.Errorf("load adapter: %s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	weights, err := readAdapterWeights(filepath.Join(dir, AdapterWeightsFile), mods, c.R)
	if err != nil {
		return LoRAConfig{}, fmt.Errorf("load adapter: %w", err)
	}
	if err := m.AttachLoRA(c, 0); err != nil {
		return LoRAConfig{}, fmt.Errorf("load adapter %s: %w", dir, err)
	}
	for _, mod := range mods {
		copy(mod.lin.LoRA.A.Data, weights[peftName(mod.name, "lora_A", false)])
		copy(mod.lin.LoRA.B.Data, weights[peftName(mod.name, "lora_B", false)])
	}
	c, _ = m.LoRAConfig()
	return c, nil
}

// readAdapterWeights reads the A and B matrix of every module from a PEFT
// safetensors file (any float dtype), checking names and shapes.
func readAdapterWeights(path string, mods []module, r int) (map[string][]float32, error) {
	f, err := hf.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string][]int{}
	for _, mod := range mods {
		out, in := mod.lin.W.Shape[0], mod.lin.W.Shape[1]
		want[peftName(mod.name, "lora_A", false)] = []int{r, in}
		want[peftName(mod.name, "lora_B", false)] = []int{out, r}
	}
	for _, n := range f.Names() {
		if _, ok := want[n]; !ok {
			return nil, fmt.Errorf("%s: tensor %q is not a LoRA matrix of a projection adapter_config.json targets", path, n)
		}
	}
	out := map[string][]float32{}
	for _, mod := range mods {
		for _, mat := range []string{"lora_A", "lora_B"} {
			n := peftName(mod.name, mat, false)
			t, ok := f.Tensor(n)
			if !ok {
				return nil, fmt.Errorf("%s: tensor %q is missing", path, n)
			}
			if !slices.Equal(t.Shape, want[n]) {
				return nil, fmt.Errorf("%s: tensor %q has shape %v, want %v (r = %d)", path, n, t.Shape, want[n], r)
			}
			d, err := t.Float32()
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %q: %w", path, n, err)
			}
			out[n] = d
		}
	}
	return out, nil
}

// adapterJSON is a decoded adapter_config.json with the means to report a
// field's line.
type adapterJSON struct {
	path string
	raw  []byte
	obj  map[string]any
}

func (a *adapterJSON) errorf(field, format string, args ...any) error {
	line := 1
	if loc := regexp.MustCompile(`"` + regexp.QuoteMeta(field) + `"\s*:`).FindIndex(a.raw); loc != nil {
		line += bytes.Count(a.raw[:loc[0]], []byte("\n"))
	}
	return fmt.Errorf("%s:%d: field %q: %s", a.path, line, field, fmt.Sprintf(format, args...))
}

// number returns a numeric field, or def when absent or null.
func (a *adapterJSON) number(field string, def float64) (float64, error) {
	v, ok := a.obj[field]
	if !ok || v == nil {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, a.errorf(field, "want a number, got %s", jsonKind(v))
	}
	f, err := n.Float64()
	if err != nil {
		return 0, a.errorf(field, "%v", err)
	}
	return f, nil
}

// str returns a string field, or def when absent or null.
func (a *adapterJSON) str(field, def string) (string, error) {
	v, ok := a.obj[field]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", a.errorf(field, "want a string, got %s", jsonKind(v))
	}
	return s, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	default:
		return "an object"
	}
}

// unset reports whether a field value is null, false or empty.
func unset(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// readAdapterConfig decodes a PEFT adapter_config.json, applying PEFT's
// defaults for absent fields (r 8, lora_alpha 8, lora_dropout 0,
// target_modules q_proj and v_proj).
func readAdapterConfig(path string) (LoRAConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return LoRAConfig{}, err
	}
	a := &adapterJSON{path: path, raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&a.obj); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return LoRAConfig{}, fmt.Errorf("%s:%d: %w", path, 1+bytes.Count(raw[:min(int(se.Offset), len(raw))], []byte("\n")), err)
		}
		return LoRAConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	if a.obj == nil {
		return LoRAConfig{}, fmt.Errorf("%s: want a JSON object", path)
	}
	if pt, err := a.str("peft_type", ""); err != nil {
		return LoRAConfig{}, err
	} else if pt != "LORA" {
		return LoRAConfig{}, a.errorf("peft_type", "%q: only LORA adapters are supported", pt)
	}
	if tt, err := a.str("task_type", "CAUSAL_LM"); err != nil {
		return LoRAConfig{}, err
	} else if tt != "CAUSAL_LM" {
		return LoRAConfig{}, a.errorf("task_type", "%q: only CAUSAL_LM adapters are supported", tt)
	}
	if b, err := a.str("bias", "none"); err != nil {
		return LoRAConfig{}, err
	} else if b != "none" {
		return LoRAConfig{}, a.errorf("bias", "%q: only \"none\" is supported (no trained biases)", b)
	}
	for _, f := range unsupported {
		if v, ok := a.obj[f]; ok && !unset(v) {
			return LoRAConfig{}, a.errorf(f, "is set, which smaug does not support (it must be null, false or empty)")
		}
	}
	var c LoRAConfig
	r, err := a.number("r", 8)
	if err != nil {
		return LoRAConfig{}, err
	}
	if r != math.Trunc(r) || r <= 0 || r > 1<<30 {
		return LoRAConfig{}, a.errorf("r", "%v: want a positive integer", r)
	}
	c.R = int(r)
	if c.Alpha, err = a.number("lora_alpha", 8); err != nil {
		return LoRAConfig{}, err
	}
	if c.Dropout, err = a.number("lora_dropout", 0); err != nil {
		return LoRAConfig{}, err
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return LoRAConfig{}, a.errorf("lora_dropout", "%v: want a probability in [0, 1)", c.Dropout)
	}
	switch v := a.obj["use_rslora"].(type) {
	case nil:
	case bool:
		c.RSLoRA = v
	default:
		return LoRAConfig{}, a.errorf("use_rslora", "want a boolean, got %s", jsonKind(v))
	}
	switch v := a.obj["target_modules"].(type) {
	case nil:
		c.Targets = append([]string(nil), defaultTargets...)
	case string:
		if v != AllLinear {
			return LoRAConfig{}, a.errorf("target_modules", "%q: a regular expression is not supported; list the module names (or use %q)", v, AllLinear)
		}
		c.Targets = []string{AllLinear}
	case []any:
		for _, t := range v {
			s, ok := t.(string)
			if !ok || s == "" {
				return LoRAConfig{}, a.errorf("target_modules", "want module names, got %v", t)
			}
			c.Targets = append(c.Targets, s)
		}
		if len(c.Targets) == 0 {
			return LoRAConfig{}, a.errorf("target_modules", "the list is empty")
		}
	default:
		return LoRAConfig{}, a.errorf("target_modules", "want a list of module names, got %s", jsonKind(v))
	}
	return c, nil
}

// SaveAdapter writes the adapter as PEFT's save_pretrained does:
// adapter_config.json (every LoraConfig field PEFT 0.21 writes, keys sorted,
// two-space indent; base_model_name_or_path = baseModelPath, null when
// empty; inference_mode true), adapter_model.safetensors (float32, PEFT's
// on-disk names without ".default") and a README.md model card. A new dir
// is written into a temporary folder and renamed into place; in an existing
// dir each file is replaced atomically.
func (m *Model) SaveAdapter(dir, baseModelPath string) error {
	c, ok := m.LoRAConfig()
	if !ok {
		return fmt.Errorf("save adapter %s: the model has no adapter", dir)
	}
	var ts []hf.WriteTensor
	for _, mod := range m.modules() {
		if a := mod.lin.LoRA; a != nil {
			ts = append(ts,
				hf.WriteTensor{Name: peftName(mod.name, "lora_A", false), Shape: a.A.Shape, Data: a.A.Data},
				hf.WriteTensor{Name: peftName(mod.name, "lora_B", false), Shape: a.B.Shape, Data: a.B.Data})
		}
	}
	cfg, err := adapterConfigJSON(c, baseModelPath)
	if err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	write := func(d string) error {
		if err := hf.WriteSafetensors(filepath.Join(d, AdapterWeightsFile), ts, nil); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(d, AdapterConfigFile), cfg); err != nil {
			return err
		}
		return atomicfile.WriteFile(filepath.Join(d, adapterCardFile), adapterCard(c, baseModelPath))
	}
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("save adapter %s: not a folder", dir)
	case err == nil:
		if err := write(dir); err != nil {
			return fmt.Errorf("save adapter %s: %w", dir, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	err = write(tmp)
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	return nil
}

// adapterConfigJSON renders adapter_config.json as PEFT 0.21 writes it
// (json.dumps(indent=2, sort_keys=True), no final newline). Target names
// are written sorted (PEFT writes them in set order).
func adapterConfigJSON(c LoRAConfig, baseModelPath string) ([]byte, error) {
	targets := append([]string(nil), c.Targets...)
	slices.Sort(targets)
	var base any
	if baseModelPath != "" {
		base = baseModelPath
	}
	alpha := pyFloat(c.Alpha)
	if c.Alpha == math.Trunc(c.Alpha) && math.Abs(c.Alpha) < 1<<53 {
		alpha = json.Number(strconv.FormatInt(int64(c.Alpha), 10))
	}
	cfg := map[string]any{
		"alora_invocation_tokens": nil, "alpha_pattern": map[string]any{}, "arrow_config": nil,
		"auto_mapping": nil, "base_model_name_or_path": base, "bias": "none", "corda_config": nil,
		"ensure_weight_tying": false, "eva_config": nil, "exclude_modules": nil, "fan_in_fan_out": false,
		"inference_mode": true, "init_lora_weights": true, "kasa_config": nil, "layer_replication": nil,
		"layers_pattern": nil, "layers_to_transform": nil, "loftq_config": map[string]any{},
		"lora_alpha": alpha, "lora_bias": false, "lora_dropout": pyFloat(c.Dropout), "lora_ga_config": nil,
		"megatron_config": nil, "megatron_core": "megatron.core", "modules_to_save": nil,
		"monteclora_config": nil, "peft_type": "LORA", "qalora_group_size": 16, "r": c.R,
		"rank_pattern": map[string]any{}, "revision": nil, "target_modules": targets,
		"target_parameters": nil, "task_type": "CAUSAL_LM", "trainable_token_indices": nil,
		"use_bdlora": nil, "use_dora": false, "use_qalora": false, "use_rslora": c.RSLoRA,
		"velora_config": nil,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("encode %s: %w", AdapterConfigFile, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// pyFloat formats f as Python's repr of a float does ("0.0", "0.05",
// "1e-05").
func pyFloat(f float64) json.Number {
	abs := math.Abs(f)
	switch {
	case f == math.Trunc(f) && abs < 1e16:
		return json.Number(strconv.FormatFloat(f, 'f', 1, 64))
	case abs >= 1e-4 && abs < 1e16:
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return json.Number(strconv.FormatFloat(f, 'e', -1, 64))
}

// adapterCard is the README.md model card: the metadata header PEFT writes
// (base model, library, tags) and a short description.
func adapterCard(c LoRAConfig, baseModelPath string) []byte {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	targets := append([]string(nil), c.Targets...)
	slices.Sort(targets)
	scaling := fmt.Sprintf("lora_alpha/r = %g", c.Scaling())
	if c.RSLoRA {
		scaling = fmt.Sprintf("lora_alpha/√r = %g", c.Scaling())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "---\nbase_model: %s\nlibrary_name: peft\npipeline_tag: text-generation\ntags:\n- %s\n- lora\n- transformers\n---\n\n",
		q(baseModelPath), q("base_model:adapter:"+baseModelPath))
	fmt.Fprintf(&b, "# LoRA adapter\n\nA LoRA adapter in PEFT's format, written by smaug: r = %d, %s, lora_dropout = %g,\ntarget modules %s.\n\n",
		c.R, scaling, c.Dropout, strings.Join(targets, ", "))
	b.WriteString("Load it with PEFT (`PeftModel.from_pretrained(base_model, path)`), or fold it into the\nbase weights with `smaug merge --base BASE --adapter PATH --out MERGED`.\n")
	return []byte(b.String())
}
