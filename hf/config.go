package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// RopeScaling is a non-default rotary position embedding scaling, read from
// rope_parameters (transformers 5) or rope_scaling (transformers 4).
type RopeScaling struct {
	// Type is "linear", "llama3", "dynamic" or "yarn" (package model runs
	// linear and llama3; model.CheckConfig refuses the others).
	Type string
	// Factor is the context extension factor.
	Factor float64
	// LowFreqFactor and HighFreqFactor bound the llama3 frequency bands.
	LowFreqFactor, HighFreqFactor float64
	// OriginalMaxPositionEmbeddings is the pre-extension context length
	// (llama3, yarn); 0 when absent.
	OriginalMaxPositionEmbeddings int
}

// Config is a model's config.json, resolved: fields that transformers
// derives or defaults (head_dim, num_key_value_heads, biases) hold their
// effective values.
type Config struct {
	Architectures []string
	ModelType     string

	VocabSize         int
	HiddenSize        int
	IntermediateSize  int
	NumHiddenLayers   int
	NumAttentionHeads int
	NumKeyValueHeads  int // num_key_value_heads, or NumAttentionHeads when absent
	// HeadDim is the explicit head_dim, or HiddenSize/NumAttentionHeads.
	HeadDim               int
	MaxPositionEmbeddings int

	RMSNormEps float64
	RopeTheta  float64
	// RopeScaling is nil for the default rotary embedding.
	RopeScaling *RopeScaling

	TieWordEmbeddings bool
	// QKVBias and OBias say whether the attention projections have biases:
	// Llama's attention_bias sets both, Qwen2 always has q/k/v biases only.
	QKVBias, OBias bool
	MLPBias        bool
	// HiddenAct is the MLP activation (package model runs "silu" only).
	HiddenAct string
	// SlidingWindow is Mistral's attention window, 0 when absent or null.
	SlidingWindow int

	// BOSTokenID is -1 and EOSTokenIDs nil when the config does not set them.
	BOSTokenID  int
	EOSTokenIDs []int
	// TorchDtype is "float32", "bfloat16", "float16" (from dtype or
	// torch_dtype), or "" when absent.
	TorchDtype string

	// Raw is the original JSON object, kept so that Save preserves fields
	// this struct does not model. Numbers in it are json.Number.
	Raw map[string]any

	path  string         // file it was loaded from, for error messages
	lines map[string]int // line of each top-level key in that file
}

// architectures maps the supported architectures to their model_type.
var architectures = map[string]string{
	"LlamaForCausalLM":   "llama",
	"MistralForCausalLM": "mistral",
	"Qwen2ForCausalLM":   "qwen2",
}

// Transformers' class defaults for fields a config may omit.
var defaultMaxPositions = map[string]int{"llama": 2048, "mistral": 4096 * 32, "qwen2": 32768}

const (
	defaultRMSNormEps = 1e-6
	defaultRopeTheta  = 10000.0
)

// LoadConfig reads and validates a config.json; path is the file or a folder
// holding it. Both the transformers 5 layout (rope_parameters, dtype) and the
// transformers 4 layout (rope_theta, rope_scaling, torch_dtype) are accepted.
// Errors name the file, the line and the field.
func LoadConfig(path string) (*Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseConfig decodes and validates the bytes of a config.json. Errors name
// the field and, when known, its line.
func ParseConfig(data []byte) (*Config, error) {
	c, err := parseConfig("", data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseConfig(path string, data []byte) (*Config, error) {
	name := path
	if name == "" {
		name = "config.json"
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, jsonErrorWithLine(data, err))
	}
	if raw == nil {
		return nil, fmt.Errorf("config %s: not a JSON object", name)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("config %s:%d: unexpected data after the JSON object", name, lineAt(data, int(dec.InputOffset())))
	}
	c := &Config{Raw: raw, path: path, lines: keyLines(data)}
	r := &reader{c: c}
	r.decode()
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

func (r *reader) decode() {
	c, raw := r.c, r.c.Raw
	if v, ok := r.value(raw, "architectures"); ok {
		list, isList := v.([]any)
		if !isList {
			r.fail("architectures", "want a list of strings, got %s", describe(v))
		}
		for i, a := range list {
			s, isStr := a.(string)
			if !isStr {
				r.fail("architectures", "element %d: want a string, got %s", i, describe(a))
			}
			c.Architectures = append(c.Architectures, s)
		}
	}
	c.ModelType = r.string(raw, "model_type", "model_type", "")
	family := architectures[c.Architecture()]

	c.VocabSize = r.int(raw, "vocab_size", "vocab_size", 0, true)
	c.HiddenSize = r.int(raw, "hidden_size", "hidden_size", 0, true)
	c.IntermediateSize = r.int(raw, "intermediate_size", "intermediate_size", 0, true)
	c.NumHiddenLayers = r.int(raw, "num_hidden_layers", "num_hidden_layers", 0, true)
	c.NumAttentionHeads = r.int(raw, "num_attention_heads", "num_attention_heads", 0, true)
	c.NumKeyValueHeads = r.int(raw, "num_key_value_heads", "num_key_value_heads", c.NumAttentionHeads, false)
	c.HeadDim = r.int(raw, "head_dim", "head_dim", 0, false)
	if c.HeadDim == 0 && c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	c.MaxPositionEmbeddings = r.int(raw, "max_position_embeddings", "max_position_embeddings", defaultMaxPositions[family], false)
	c.RMSNormEps = r.float(raw, "rms_norm_eps", "rms_norm_eps", defaultRMSNormEps)
	c.TieWordEmbeddings = r.bool(raw, "tie_word_embeddings", false)
	c.HiddenAct = r.string(raw, "hidden_act", "hidden_act", "silu")

	switch family {
	case "llama":
		c.QKVBias = r.bool(raw, "attention_bias", false)
		c.OBias = c.QKVBias
		c.MLPBias = r.bool(raw, "mlp_bias", false)
	case "qwen2":
		c.QKVBias = true
		r.bool(raw, "use_sliding_window", false) // type-checked; model's Qwen2 refuses true
	case "mistral":
		c.SlidingWindow = r.int(raw, "sliding_window", "sliding_window", 0, false)
	}

	c.BOSTokenID = r.int(raw, "bos_token_id", "bos_token_id", -1, false)
	if v, ok := r.value(raw, "eos_token_id"); ok {
		if list, isList := v.([]any); isList {
			c.EOSTokenIDs = []int{}
			for i := range list {
				c.EOSTokenIDs = append(c.EOSTokenIDs, r.toInt(list[i], fmt.Sprintf("eos_token_id[%d]", i), 0))
			}
		} else {
			c.EOSTokenIDs = []int{r.int(raw, "eos_token_id", "eos_token_id", 0, true)}
		}
	}
	if _, ok := r.value(raw, "dtype"); ok {
		c.TorchDtype = r.string(raw, "dtype", "dtype", "")
	} else {
		c.TorchDtype = r.string(raw, "torch_dtype", "torch_dtype", "")
	}
	r.decodeRope()
}

// decodeRope reads rope_parameters (transformers 5) or the top-level
// rope_theta and rope_scaling (transformers 4).
func (r *reader) decodeRope() {
	c := r.c
	field := "rope_parameters"
	params := r.object(field)
	c.RopeTheta = r.float(c.Raw, "rope_theta", "rope_theta", defaultRopeTheta)
	if params != nil {
		c.RopeTheta = r.float(params, "rope_theta", field+".rope_theta", c.RopeTheta)
	} else {
		field = "rope_scaling"
		params = r.object(field)
		if params == nil {
			return
		}
	}
	kind := r.string(params, "rope_type", field+".rope_type", "")
	if kind == "" {
		kind = r.string(params, "type", field+".type", "")
	}
	if kind == "" {
		if field == "rope_parameters" {
			kind = "default"
		} else {
			r.fail(field+".rope_type", "missing")
			return
		}
	}
	if kind == "default" {
		return
	}
	c.RopeScaling = &RopeScaling{
		Type:                          kind,
		Factor:                        r.float(params, "factor", field+".factor", 0),
		LowFreqFactor:                 r.float(params, "low_freq_factor", field+".low_freq_factor", 0),
		HighFreqFactor:                r.float(params, "high_freq_factor", field+".high_freq_factor", 0),
		OriginalMaxPositionEmbeddings: r.int(params, "original_max_position_embeddings", field+".original_max_position_embeddings", 0, false),
	}
}

// Architecture returns the supported architecture the config describes:
// Architectures[0], or the one matching ModelType when Architectures is
// empty. It returns Architectures[0] even when unsupported (Validate
// refuses it), and "" when neither field names an architecture.
func (c *Config) Architecture() string {
	if len(c.Architectures) > 0 {
		return c.Architectures[0]
	}
	for arch, mt := range architectures {
		if mt == c.ModelType {
			return arch
		}
	}
	return ""
}

// Validate reports the first value that makes the config.json impossible
// to read as a model of its architecture: an architecture other than
// LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM, a
// non-positive size, heads that do not divide the hidden size or key/value
// heads that do not divide the heads, a non-positive epsilon or rope theta,
// an unknown or incomplete rope scaling, a negative sliding window, token
// ids outside the vocabulary, an unknown dtype. The error names the file,
// the line and the field.
//
// Validate checks the file's format. Whether a model can run the config
// (its activation, rope type, biases, sliding window) is decided by package
// model's architectures, through model.CheckConfig, which calls Validate
// first.
func (c *Config) Validate() error {
	arch := c.Architecture()
	if _, ok := architectures[arch]; !ok {
		if arch == "" {
			return c.FieldError("architectures", "missing (and model_type %q names no supported architecture)", c.ModelType)
		}
		return c.FieldError("architectures", "unsupported architecture %q (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)", arch)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize},
		{"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads},
		{"num_key_value_heads", c.NumKeyValueHeads},
		{"head_dim", c.HeadDim},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
	} {
		if f.v <= 0 {
			return c.FieldError(f.name, "must be positive, got %d", f.v)
		}
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return c.FieldError("num_key_value_heads", "%d does not divide num_attention_heads %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	if !c.headDimGiven() && c.HiddenSize%c.NumAttentionHeads != 0 {
		return c.FieldError("num_attention_heads", "%d does not divide hidden_size %d (and head_dim is not set)", c.NumAttentionHeads, c.HiddenSize)
	}
	if !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0) {
		return c.FieldError("rms_norm_eps", "must be positive and finite, got %v", c.RMSNormEps)
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		return c.FieldError(c.ropeField("rope_theta"), "must be positive and finite, got %v", c.RopeTheta)
	}
	if err := c.validateRopeScaling(); err != nil {
		return err
	}
	if c.SlidingWindow < 0 {
		return c.FieldError("sliding_window", "must not be negative, got %d", c.SlidingWindow)
	}
	if c.BOSTokenID < -1 || c.BOSTokenID >= c.VocabSize {
		return c.FieldError("bos_token_id", "%d is outside the vocabulary [0,%d)", c.BOSTokenID, c.VocabSize)
	}
	for i, id := range c.EOSTokenIDs {
		if id < 0 || id >= c.VocabSize {
			return c.FieldError("eos_token_id", "element %d: %d is outside the vocabulary [0,%d)", i, id, c.VocabSize)
		}
	}
	switch c.TorchDtype {
	case "", "float32", "bfloat16", "float16":
	default:
		return c.FieldError(c.dtypeField(), "unsupported dtype %q (float32, bfloat16 or float16)", c.TorchDtype)
	}
	return nil
}

func (c *Config) validateRopeScaling() error {
	s := c.RopeScaling
	if s == nil {
		return nil
	}
	field := c.ropeField("rope_scaling")
	switch s.Type {
	case "linear", "dynamic", "yarn", "llama3":
	default:
		return c.FieldError(field, "unsupported rope type %q (linear, dynamic, yarn, llama3)", s.Type)
	}
	if !(s.Factor > 0) || math.IsInf(s.Factor, 0) {
		return c.FieldError(field, "%s scaling needs a positive factor, got %v", s.Type, s.Factor)
	}
	if s.OriginalMaxPositionEmbeddings < 0 {
		return c.FieldError(field, "original_max_position_embeddings must not be negative, got %d", s.OriginalMaxPositionEmbeddings)
	}
	if s.Type == "llama3" {
		if s.OriginalMaxPositionEmbeddings == 0 {
			return c.FieldError(field, "llama3 scaling needs original_max_position_embeddings")
		}
		if !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || math.IsInf(s.HighFreqFactor, 0) {
			return c.FieldError(field, "llama3 scaling needs 0 < low_freq_factor < high_freq_factor, got %v and %v", s.LowFreqFactor, s.HighFreqFactor)
		}
	}
	return nil
}

// headDimGiven reports whether HeadDim was set explicitly: by head_dim in
// the loaded JSON, or by hand in a config built without Raw.
func (c *Config) headDimGiven() bool {
	if c.Raw == nil {
		return true
	}
	v, ok := c.Raw["head_dim"]
	return ok && v != nil
}

// writeHeadDim reports whether head_dim must be written: it was in the
// original JSON, or differs from hidden/heads.
func (c *Config) writeHeadDim() bool {
	if v, ok := c.Raw["head_dim"]; ok && v != nil {
		return true
	}
	return c.HeadDim*c.NumAttentionHeads != c.HiddenSize
}

// usesRopeParameters reports whether the config has the transformers 5
// layout for rope settings.
func (c *Config) usesRopeParameters() bool {
	_, ok := c.Raw["rope_parameters"].(map[string]any)
	return ok
}

// RopeScalingField names the field holding the rope scaling in this
// config's layout: "rope_parameters" (transformers 5) or "rope_scaling".
func (c *Config) RopeScalingField() string { return c.ropeField("rope_scaling") }

// ropeField names the JSON field holding a rope setting in this config's
// layout: "rope_parameters" for transformers 5, else the given top-level
// name.
func (c *Config) ropeField(v4 string) string {
	if c.usesRopeParameters() {
		return "rope_parameters"
	}
	return v4
}

// dtypeField returns "dtype" when the config uses the transformers 5 name,
// else "torch_dtype".
func (c *Config) dtypeField() string {
	if _, ok := c.Raw["dtype"]; ok {
		return "dtype"
	}
	return "torch_dtype"
}

// FieldError formats an error about a field of the config: it names the
// file (config.json for a config not read from a file), the line of the
// top-level key holding field when the config was read from a file, and
// the field, which may be a path such as "rope_scaling.factor".
func (c *Config) FieldError(field, format string, args ...any) error {
	name := c.path
	if name == "" {
		name = "config.json"
	}
	top, _, _ := strings.Cut(field, ".")
	top, _, _ = strings.Cut(top, "[")
	if line, ok := c.lines[top]; ok {
		name = fmt.Sprintf("%s:%d", name, line)
	}
	return fmt.Errorf("config %s: field %s: %s", name, field, fmt.Sprintf(format, args...))
}

// Save validates c and writes it as config.json at path (a file, or an
// existing folder), atomically. Fields of Raw that Config does not model
// are kept; the modelled ones are written from c in the layout Raw uses
// (rope_parameters and dtype for transformers 5, rope_theta, rope_scaling
// and torch_dtype for transformers 4). A config without Raw is written in
// the transformers 4 layout, which both major versions load. Like
// transformers, keys are sorted, indented by two spaces and floats written
// as Python writes them.
func (c *Config) Save(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("save config %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Marshal validates c and returns the config.json bytes Save writes.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	out, ok := deepCopy(c.Raw).(map[string]any)
	if !ok || out == nil {
		out = map[string]any{}
	}
	has := func(k string) bool { _, ok := out[k]; return ok }
	arch := c.Architecture()
	family := architectures[arch]
	if len(c.Architectures) > 0 {
		out["architectures"] = toAny(c.Architectures)
	} else {
		out["architectures"] = []any{arch}
	}
	if c.ModelType != "" {
		out["model_type"] = c.ModelType
	} else {
		out["model_type"] = family
	}
	for k, v := range map[string]int{
		"vocab_size":              c.VocabSize,
		"hidden_size":             c.HiddenSize,
		"intermediate_size":       c.IntermediateSize,
		"num_hidden_layers":       c.NumHiddenLayers,
		"num_attention_heads":     c.NumAttentionHeads,
		"num_key_value_heads":     c.NumKeyValueHeads,
		"max_position_embeddings": c.MaxPositionEmbeddings,
	} {
		out[k] = intNumber(v)
	}
	if c.writeHeadDim() {
		out["head_dim"] = intNumber(c.HeadDim)
	}
	out["rms_norm_eps"] = floatNumber(c.RMSNormEps)
	out["tie_word_embeddings"] = c.TieWordEmbeddings
	out["hidden_act"] = c.HiddenAct
	switch family {
	case "llama":
		out["attention_bias"] = c.QKVBias
		if c.MLPBias || has("mlp_bias") {
			out["mlp_bias"] = c.MLPBias
		}
	case "mistral":
		if c.SlidingWindow > 0 {
			out["sliding_window"] = intNumber(c.SlidingWindow)
		} else if has("sliding_window") {
			out["sliding_window"] = nil
		}
	}
	switch {
	case c.BOSTokenID >= 0:
		out["bos_token_id"] = intNumber(c.BOSTokenID)
	case has("bos_token_id"):
		out["bos_token_id"] = nil
	}
	switch {
	case len(c.EOSTokenIDs) == 1:
		out["eos_token_id"] = intNumber(c.EOSTokenIDs[0])
	case len(c.EOSTokenIDs) > 1:
		ids := make([]any, len(c.EOSTokenIDs))
		for i, id := range c.EOSTokenIDs {
			ids[i] = intNumber(id)
		}
		out["eos_token_id"] = ids
	case has("eos_token_id"):
		out["eos_token_id"] = nil
	}
	if c.TorchDtype != "" {
		out[c.dtypeField()] = c.TorchDtype
	}
	c.marshalRope(out)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// marshalRope writes the rope settings into out in the config's layout,
// keeping unmodelled keys of an existing rope object (yarn's beta_fast...).
func (c *Config) marshalRope(out map[string]any) {
	s := c.RopeScaling
	fill := func(m map[string]any) {
		for _, k := range []string{"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} {
			delete(m, k)
		}
		if s == nil {
			return
		}
		m["factor"] = floatNumber(s.Factor)
		if s.Type == "llama3" || s.LowFreqFactor != 0 || s.HighFreqFactor != 0 {
			m["low_freq_factor"] = floatNumber(s.LowFreqFactor)
			m["high_freq_factor"] = floatNumber(s.HighFreqFactor)
		}
		if s.OriginalMaxPositionEmbeddings > 0 {
			m["original_max_position_embeddings"] = intNumber(s.OriginalMaxPositionEmbeddings)
		}
	}
	kind := "default"
	if s != nil {
		kind = s.Type
	}
	if m, ok := out["rope_parameters"].(map[string]any); ok {
		if ropeKind(m, "default") != kind {
			m = map[string]any{} // a new kind: drop the old kind's extra keys
		}
		m["rope_type"] = kind
		if _, old := m["type"]; old {
			m["type"] = kind
		}
		m["rope_theta"] = floatNumber(c.RopeTheta)
		fill(m)
		out["rope_parameters"] = m
		return
	}
	out["rope_theta"] = floatNumber(c.RopeTheta)
	if s == nil {
		if _, ok := out["rope_scaling"]; ok {
			out["rope_scaling"] = nil
		}
		return
	}
	m, ok := out["rope_scaling"].(map[string]any)
	if !ok || ropeKind(m, "") != kind {
		m = map[string]any{}
	}
	_, hasType := m["type"]
	_, hasRopeType := m["rope_type"]
	if hasType { // the pre-4.45 name: keep the file's convention
		m["type"] = kind
	}
	if hasRopeType || !hasType {
		m["rope_type"] = kind
	}
	fill(m)
	out["rope_scaling"] = m
}

// ropeKind returns the rope type named in a rope object, or def.
func ropeKind(m map[string]any, def string) string {
	if k, _ := m["rope_type"].(string); k != "" {
		return k
	}
	if k, _ := m["type"].(string); k != "" {
		return k
	}
	return def
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// deepCopy copies a decoded JSON value so edits do not reach the original.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}
