package gguf

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
)

// archOf maps transformers' model_type to llama.cpp's architecture name
// (convert_hf_to_gguf.py writes Mistral as "llama").
var archOf = map[string]string{"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}

// hfArch maps llama.cpp's architecture to transformers' class and
// model_type.
var hfArch = map[string][2]string{
	"llama":   {"LlamaForCausalLM", "llama"},
	"mistral": {"MistralForCausalLM", "mistral"},
	"qwen2":   {"Qwen2ForCausalLM", "qwen2"},
}

// permutesQK says whether llama.cpp stores an architecture's Q and K rows
// in interleaved rotary order (llama's rope type NORM) rather than
// transformers' halves (NEOX, Qwen2).
func permutesQK(arch string) bool { return arch == "llama" || arch == "mistral" }

// layerNames maps llama.cpp's per-layer tensor names to transformers'.
var layerNames = [][2]string{
	{"attn_norm.weight", "input_layernorm.weight"},
	{"attn_q.weight", "self_attn.q_proj.weight"},
	{"attn_q.bias", "self_attn.q_proj.bias"},
	{"attn_k.weight", "self_attn.k_proj.weight"},
	{"attn_k.bias", "self_attn.k_proj.bias"},
	{"attn_v.weight", "self_attn.v_proj.weight"},
	{"attn_v.bias", "self_attn.v_proj.bias"},
	{"attn_output.weight", "self_attn.o_proj.weight"},
	{"attn_output.bias", "self_attn.o_proj.bias"},
	{"ffn_norm.weight", "post_attention_layernorm.weight"},
	{"ffn_gate.weight", "mlp.gate_proj.weight"},
	{"ffn_gate.bias", "mlp.gate_proj.bias"},
	{"ffn_up.weight", "mlp.up_proj.weight"},
	{"ffn_up.bias", "mlp.up_proj.bias"},
	{"ffn_down.weight", "mlp.down_proj.weight"},
	{"ffn_down.bias", "mlp.down_proj.bias"},
}

var globalNames = [][2]string{
	{"token_embd.weight", "model.embed_tokens.weight"},
	{"output_norm.weight", "model.norm.weight"},
	{"output.weight", "lm_head.weight"},
}

var (
	ggufLayer = regexp.MustCompile(`^blk\.(\d+)\.(.+)$`)
	hfLayer   = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)
)

// HFName returns the transformers name of a llama.cpp tensor name.
func HFName(name string) (string, bool) {
	return rename(name, ggufLayer, "model.layers.%s.%s", 0, 1)
}

// GGUFName returns the llama.cpp name of a transformers tensor name.
func GGUFName(name string) (string, bool) {
	return rename(name, hfLayer, "blk.%s.%s", 1, 0)
}

func rename(name string, layer *regexp.Regexp, format string, from, to int) (string, bool) {
	for _, p := range globalNames {
		if p[from] == name {
			return p[to], true
		}
	}
	m := layer.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	for _, p := range layerNames {
		if p[from] == m[2] {
			return fmt.Sprintf(format, m[1], p[to]), true
		}
	}
	return "", false
}

// Permute reorders the rows of a [rows, cols] Q or K projection from
// transformers' rotate-half order to llama.cpp's interleaved pairs, as
// convert_hf_to_gguf.py's LlamaModel.permute: row h·d + 2i + j of the
// result is row h·d + j·d/2 + i of w (d = rows/heads).
func Permute(w []float32, rows, cols, heads int) []float32 {
	return permute(w, rows, cols, heads, false)
}

// Unpermute undoes Permute.
func Unpermute(w []float32, rows, cols, heads int) []float32 {
	return permute(w, rows, cols, heads, true)
}

func permute(w []float32, rows, cols, heads int, inverse bool) []float32 {
	out := make([]float32, len(w))
	d := rows / heads
	for h := 0; h < heads; h++ {
		for i := 0; i < d/2; i++ {
			for j := 0; j < 2; j++ {
				inter, half := h*d+2*i+j, h*d+j*d/2+i
				dst, src := inter, half
				if inverse {
					dst, src = half, inter
				}
				copy(out[dst*cols:(dst+1)*cols], w[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// number reads an integer metadata value of any integer type.
func (g *File) number(key string, required bool, def int) (int, error) {
	v, ok := g.Get(key)
	if !ok {
		if required {
			return 0, fmt.Errorf("metadata %s is missing", key)
		}
		return def, nil
	}
	switch x := v.(type) {
	case uint8:
		return int(x), nil
	case int8:
		return int(x), nil
	case uint16:
		return int(x), nil
	case int16:
		return int(x), nil
	case uint32:
		return int(x), nil
	case int32:
		return int(x), nil
	case uint64:
		return int(x), nil
	case int64:
		return int(x), nil
	}
	return 0, fmt.Errorf("metadata %s: want an integer, got %T", key, v)
}

func (g *File) float(key string, def float64) (float64, error) {
	v, ok := g.Get(key)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("metadata %s: want a float, got %T", key, v)
}

// String returns a string metadata value ("" when absent or not a string).
func (g *File) String(key string) string {
	v, _ := g.Get(key)
	s, _ := v.(string)
	return s
}

// Architecture is general.architecture.
func (g *File) Architecture() string { return g.String("general.architecture") }

// HFConfig derives the transformers config.json of a llama, mistral or
// qwen2 GGUF model from its metadata and tensor directory.
func (g *File) HFConfig() (*hf.Config, error) {
	arch := g.Architecture()
	cls, ok := hfArch[arch]
	if w, _ := g.number(arch+".attention.sliding_window", false, 0); arch == "llama" && w > 0 {
		cls = hfArch["mistral"] // convert_hf_to_gguf.py writes Mistral as llama with its window
	}
	if !ok {
		return nil, fmt.Errorf("gguf %s: architecture %q is not supported (llama, mistral, qwen2)", g.path, arch)
	}
	emb, ok := g.Tensor("token_embd.weight")
	if !ok || len(emb.Dims) != 2 {
		return nil, fmt.Errorf("gguf %s: token_embd.weight is missing or not a matrix", g.path)
	}
	var errs []error
	num := func(key string, required bool, def int) int {
		n, err := g.number(arch+"."+key, required, def)
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	hidden := num("embedding_length", true, 0)
	heads := num("attention.head_count", true, 0)
	raw := map[string]any{
		"architectures":           []string{cls[0]},
		"model_type":              cls[1],
		"vocab_size":              int(emb.Dims[1]),
		"hidden_size":             hidden,
		"intermediate_size":       num("feed_forward_length", true, 0),
		"num_hidden_layers":       num("block_count", true, 0),
		"num_attention_heads":     heads,
		"num_key_value_heads":     num("attention.head_count_kv", false, heads),
		"max_position_embeddings": num("context_length", false, 2048),
		"hidden_act":              "silu",
		"torch_dtype":             "float32",
	}
	if heads > 0 {
		if kl := num("attention.key_length", false, hidden/heads); kl != hidden/heads {
			raw["head_dim"] = kl
		}
	}
	eps, err := g.float(arch+".attention.layer_norm_rms_epsilon", 1e-5)
	errs = append(errs, err)
	theta, err := g.float(arch+".rope.freq_base", 10000)
	errs = append(errs, err)
	raw["rms_norm_eps"] = roundTrip32(eps)
	raw["rope_theta"] = roundTrip32(theta)
	if st := g.String(arch + ".rope.scaling.type"); st != "" && st != "none" {
		if st != "linear" {
			return nil, fmt.Errorf("gguf %s: rope scaling %q is not supported (linear)", g.path, st)
		}
		f, err := g.float(arch+".rope.scaling.factor", 1)
		errs = append(errs, err)
		raw["rope_scaling"] = map[string]any{"type": "linear", "factor": roundTrip32(f)}
	}
	if w := num("attention.sliding_window", false, 0); w > 0 && cls[1] == "mistral" {
		raw["sliding_window"] = w
	}
	_, hasOut := g.Tensor("output.weight")
	raw["tie_word_embeddings"] = !hasOut
	if _, ok := g.Tensor("blk.0.attn_output.bias"); ok && arch != "qwen2" {
		raw["attention_bias"] = true
	}
	if _, ok := g.Tensor("blk.0.ffn_up.bias"); ok && arch != "qwen2" {
		raw["mlp_bias"] = true
	}
	if id, err := g.number("tokenizer.ggml.bos_token_id", false, -1); err == nil && id >= 0 {
		raw["bos_token_id"] = id
	}
	if id, err := g.number("tokenizer.ggml.eos_token_id", false, -1); err == nil && id >= 0 {
		raw["eos_token_id"] = id
	}
	for _, e := range errs {
		if e != nil {
			return nil, fmt.Errorf("gguf %s: %w", g.path, e)
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	c, err := hf.ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("gguf %s: %w", g.path, err)
	}
	if t, ok := g.Tensor("rope_freqs.weight"); ok {
		if err := g.llama3Scaling(c, t); err != nil {
			return nil, fmt.Errorf("gguf %s: %w", g.path, err)
		}
	}
	return c, nil
}

// llama3Scaling recovers transformers' llama3 rope_scaling from llama.cpp's
// rope_freqs.weight: the factor is the largest one, the other parameters
// those of every Llama 3.1–3.3 release (low 1, high 4, original context
// 8192), checked by recomputing every factor.
func (g *File) llama3Scaling(c *hf.Config, t *TensorInfo) error {
	f, err := g.Float32(t)
	if err != nil {
		return err
	}
	if len(f) != c.HeadDim/2 {
		return fmt.Errorf("rope_freqs.weight has %d factors for a head size of %d", len(f), c.HeadDim)
	}
	var mx float32
	for _, v := range f {
		mx = max(mx, v)
	}
	c.RopeScaling = &hf.RopeScaling{Type: "llama3", Factor: float64(mx), LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	want, err := ropeFreqs(c)
	if err != nil {
		return err
	}
	for i := range f {
		if math.Abs(float64(f[i]-want[i])) > 1e-5*float64(want[i]) {
			return fmt.Errorf("rope_freqs.weight: factor %d is %v, Llama 3's rule with factor %v gives %v (other rope scalings are not supported)", i, f[i], mx, want[i])
		}
	}
	return nil
}

// roundTrip32 returns the shortest decimal of a float32 value as float64
// (1e-5 stored as float32 reads back as 1e-5, not 9.99999974738e-06).
func roundTrip32(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(float32(f)), 'g', -1, 32), 64)
	return v
}

// HFTensor returns the named transformers tensor of the model, dequantised
// to float32 and with llama.cpp's Q/K row order undone.
func (g *File) HFTensor(c *hf.Config, name string, shape []int) ([]float32, error) {
	gn, ok := GGUFName(name)
	if !ok {
		return nil, fmt.Errorf("gguf %s: no llama.cpp name for tensor %s", g.path, name)
	}
	t, ok := g.Tensor(gn)
	if !ok {
		return nil, fmt.Errorf("gguf %s: tensor %s (%s) is missing", g.path, gn, name)
	}
	if s := t.Shape(); !sameInts(s, shape) {
		return nil, fmt.Errorf("gguf %s: tensor %s has shape %v, the metadata implies %v", g.path, gn, s, shape)
	}
	data, err := g.Float32(t)
	if err != nil {
		return nil, err
	}
	if permutesQK(g.Architecture()) {
		switch {
		case strings.HasSuffix(name, "q_proj.weight"), strings.HasSuffix(name, "q_proj.bias"):
			data = Unpermute(data, shape[0], len(data)/shape[0], c.NumAttentionHeads)
		case strings.HasSuffix(name, "k_proj.weight"), strings.HasSuffix(name, "k_proj.bias"):
			data = Unpermute(data, shape[0], len(data)/shape[0], c.NumKeyValueHeads)
		}
	}
	return data, nil
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// LoadModel reads a llama, mistral or qwen2 GGUF model into a float32
// model, every tensor dequantised.
func LoadModel(path string) (*model.Model, error) {
	g, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	c, err := g.HFConfig()
	if err != nil {
		return nil, err
	}
	m, err := model.New(c, func(name string, shape []int) ([]float32, error) { return g.HFTensor(c, name, shape) })
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", filepath.Base(path), err)
	}
	return m, nil
}
