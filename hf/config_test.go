package hf

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// typed returns c's modelled fields only, for comparisons.
func typed(c *Config) Config {
	d := *c
	d.Raw, d.path, d.lines = nil, "", nil
	return d
}

func TestLoadFixtureConfigs(t *testing.T) {
	tests := []struct {
		dir  string
		want Config
	}{
		{"fixtures/hf/llama/policy", Config{
			Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
			VocabSize: 320, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16, MaxPositionEmbeddings: 128,
			RMSNormEps: 1e-5, RopeTheta: 1e4, HiddenAct: "silu",
			BOSTokenID: 1, EOSTokenIDs: []int{2}, TorchDtype: "float32",
		}},
		{"fixtures/hf/llama/policy_bf16", Config{
			Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
			VocabSize: 320, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16, MaxPositionEmbeddings: 128,
			RMSNormEps: 1e-5, RopeTheta: 1e4, HiddenAct: "silu",
			BOSTokenID: 1, EOSTokenIDs: []int{2}, TorchDtype: "bfloat16",
		}},
		{"fixtures/hf/qwen2/policy", Config{
			Architectures: []string{"Qwen2ForCausalLM"}, ModelType: "qwen2",
			VocabSize: 320, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16, MaxPositionEmbeddings: 128,
			RMSNormEps: 1e-6, RopeTheta: 1e6, HiddenAct: "silu", TieWordEmbeddings: true, QKVBias: true,
			BOSTokenID: 1, EOSTokenIDs: []int{2}, TorchDtype: "float32",
		}},
	}
	for _, tt := range tests {
		c, err := LoadConfig(sharedtest.Path(t, tt.dir)) // a folder
		if err != nil {
			t.Fatal(err)
		}
		if got := typed(c); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.dir, got, tt.want)
		}
	}
}

// TestMarshalMatchesTransformers checks that re-saving an unchanged config
// reproduces, byte for byte, the file transformers wrote.
func TestMarshalMatchesTransformers(t *testing.T) {
	for _, rel := range []string{
		"fixtures/hf/llama/policy/config.json",
		"fixtures/hf/llama/policy_bf16/config.json",
		"fixtures/hf/qwen2/policy/config.json",
		"fixtures/hf/llama_lora/base/config.json",
	} {
		path := sharedtest.Path(t, rel)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal differs from the file:\n%s", rel, got)
		}
	}
}

// Two layouts of the same Llama-3.1-style config.
const (
	llama3V5 = `{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 1000, "hidden_size": 128, "intermediate_size": 256,
  "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "hidden_act": "silu",
  "bos_token_id": 5, "eos_token_id": [6, 7, 8], "dtype": "bfloat16",
  "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
}`
	llama3V4 = `{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 1000, "hidden_size": 128, "intermediate_size": 256,
  "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "hidden_act": "silu",
  "bos_token_id": 5, "eos_token_id": [6, 7, 8], "torch_dtype": "bfloat16",
  "rope_theta": 500000.0,
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
}`
)

var llama3Want = Config{
	Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
	VocabSize: 1000, HiddenSize: 128, IntermediateSize: 256, NumHiddenLayers: 2,
	NumAttentionHeads: 8, NumKeyValueHeads: 2, HeadDim: 16, MaxPositionEmbeddings: 131072,
	RMSNormEps: 1e-5, RopeTheta: 5e5, HiddenAct: "silu",
	RopeScaling: &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192},
	BOSTokenID:  5, EOSTokenIDs: []int{6, 7, 8}, TorchDtype: "bfloat16",
}

func TestConfigLayouts(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Config
	}{
		{"llama3 transformers 5", llama3V5, llama3Want},
		{"llama3 transformers 4", llama3V4, llama3Want},
		{"legacy type key, head_dim null, no kv heads, no bos/eos", `{
  "architectures": ["MistralForCausalLM"], "vocab_size": 10, "hidden_size": 12,
  "intermediate_size": 7, "num_hidden_layers": 1, "num_attention_heads": 3, "head_dim": null,
  "max_position_embeddings": 64, "rope_theta": 1000000.0, "sliding_window": 4096,
  "rope_scaling": {"type": "linear", "factor": 2.0}, "torch_dtype": "float16"}`,
			Config{Architectures: []string{"MistralForCausalLM"}, VocabSize: 10, HiddenSize: 12,
				IntermediateSize: 7, NumHiddenLayers: 1, NumAttentionHeads: 3, NumKeyValueHeads: 3, HeadDim: 4,
				MaxPositionEmbeddings: 64, RMSNormEps: 1e-6, RopeTheta: 1e6, HiddenAct: "silu", SlidingWindow: 4096,
				RopeScaling: &RopeScaling{Type: "linear", Factor: 2}, BOSTokenID: -1, TorchDtype: "float16"}},
		{"explicit head_dim, attention and mlp bias, default rope type", `{
  "model_type": "llama", "vocab_size": 10, "hidden_size": 12, "intermediate_size": 7,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
  "attention_bias": true, "mlp_bias": true, "rms_norm_eps": 1e-06, "bos_token_id": null,
  "eos_token_id": 3, "rope_scaling": null, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}`,
			Config{ModelType: "llama", VocabSize: 10, HiddenSize: 12, IntermediateSize: 7,
				NumHiddenLayers: 1, NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 32,
				MaxPositionEmbeddings: 2048, RMSNormEps: 1e-6, RopeTheta: 1e4, HiddenAct: "silu",
				QKVBias: true, OBias: true, MLPBias: true, BOSTokenID: -1, EOSTokenIDs: []int{3}}},
	}
	for _, tt := range tests {
		c, err := ParseConfig([]byte(tt.json))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := typed(c); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
		if got, want := c.RopeScaling, tt.want.RopeScaling; want != nil && !reflect.DeepEqual(*got, *want) {
			t.Errorf("%s: RopeScaling %+v, want %+v", tt.name, *got, *want)
		}
	}
}

// TestConfigSaveLoad saves modified configs and loads them back, checking
// the fields and that unknown fields and the file's layout survive.
func TestConfigSaveLoad(t *testing.T) {
	dir := t.TempDir()
	yarn := `{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 10,
  "hidden_size": 8, "intermediate_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
  "custom_field": {"keep": [1, 2.5, "x"]}, "rope_theta": 10000.0,
  "rope_scaling": {"type": "yarn", "factor": 4.0, "beta_fast": 32, "original_max_position_embeddings": 4096}}`
	tests := []struct {
		name   string
		json   string
		edit   func(*Config)
		inFile []string // fragments the saved file must hold
		absent []string // and must not
	}{
		{"v5 to linear", llama3V5, func(c *Config) {
			c.RopeScaling = &RopeScaling{Type: "linear", Factor: 3}
			c.EOSTokenIDs = []int{9}
		}, []string{`"rope_parameters": {`, `"rope_type": "linear"`, `"factor": 3.0`, `"eos_token_id": 9,`, `"dtype": "bfloat16"`},
			[]string{"low_freq_factor", "torch_dtype", `"rope_scaling"`}},
		{"v4 unchanged", llama3V4, func(*Config) {},
			[]string{`"rope_theta": 500000.0`, `"rope_scaling": {`, `"low_freq_factor": 1.0`, `"torch_dtype": "bfloat16"`, `"eos_token_id": [`},
			[]string{"rope_parameters", `"dtype"`}},
		{"v4 drop scaling", llama3V4, func(c *Config) { c.RopeScaling = nil; c.RopeTheta = 1e6 },
			[]string{`"rope_scaling": null`, `"rope_theta": 1000000.0`}, []string{"llama3"}},
		{"yarn extras kept", yarn, func(c *Config) { c.RopeScaling.Factor = 2 },
			[]string{`"beta_fast": 32`, `"type": "yarn"`, `"factor": 2.0`, `"custom_field": {`, `2.5`}, nil},
		{"yarn to linear drops extras", yarn, func(c *Config) { c.RopeScaling = &RopeScaling{Type: "linear", Factor: 2} },
			[]string{`"rope_type": "linear"`}, []string{"beta_fast", "yarn"}},
		{"grow head_dim", llama3V5, func(c *Config) { c.HeadDim = 64; c.TieWordEmbeddings = true },
			[]string{`"head_dim": 64`, `"tie_word_embeddings": true`}, nil},
	}
	for _, tt := range tests {
		c, err := ParseConfig([]byte(tt.json))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		tt.edit(c)
		path := filepath.Join(dir, "config.json")
		if err := c.Save(dir); err != nil { // a folder: writes config.json
			t.Fatalf("%s: %v", tt.name, err)
		}
		data, _ := os.ReadFile(path)
		for _, s := range tt.inFile {
			if !strings.Contains(string(data), s) {
				t.Errorf("%s: saved file lacks %s:\n%s", tt.name, s, data)
			}
		}
		for _, s := range tt.absent {
			if strings.Contains(string(data), s) {
				t.Errorf("%s: saved file holds %s:\n%s", tt.name, s, data)
			}
		}
		back, err := LoadConfig(path)
		if err != nil {
			t.Fatalf("%s: reload: %v", tt.name, err)
		}
		if got, want := typed(back), typed(c); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: reloaded\n %+v\nwant %+v", tt.name, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestConfigWithoutRaw saves a config built by hand (transformers 4 layout)
// and loads it back.
func TestConfigWithoutRaw(t *testing.T) {
	c := llama3Want
	c.EOSTokenIDs = []int{6}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, s := range []string{`"model_type": "llama"`, `"rope_theta": 500000.0`, `"rope_type": "llama3"`, `"torch_dtype": "bfloat16"`, `"rms_norm_eps": 1e-05`} {
		if !strings.Contains(string(data), s) {
			t.Errorf("saved file lacks %s:\n%s", s, data)
		}
	}
	back, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	if got := typed(back); !reflect.DeepEqual(got, want) {
		t.Errorf("reloaded\n %+v\nwant %+v", got, want)
	}
}

func TestFloatNumber(t *testing.T) {
	// Python's repr of each value.
	tests := []struct {
		in   float64
		want string
	}{
		{1e-05, "1e-05"}, {1e-06, "1e-06"}, {0.0001, "0.0001"}, {10000.0, "10000.0"},
		{1e6, "1000000.0"}, {0.02, "0.02"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"},
		{1.5e-07, "1.5e-07"}, {0, "0.0"}, {-2.5, "-2.5"}, {500000.0, "500000.0"}, {0.1, "0.1"},
	}
	for _, tt := range tests {
		if got := floatNumber(tt.in); string(got) != tt.want {
			t.Errorf("floatNumber(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := map[string]string{
		"architectures":       `["LlamaForCausalLM"]`,
		"vocab_size":          "100",
		"hidden_size":         "64",
		"intermediate_size":   "128",
		"num_hidden_layers":   "2",
		"num_attention_heads": "4",
	}
	tests := []struct {
		name  string
		set   map[string]string
		field string // the error must name it (and the line)
		want  string
	}{
		{"unsupported architecture", map[string]string{"architectures": `["GPT2LMHeadModel"]`}, "architectures", `"GPT2LMHeadModel"`},
		{"no architecture", map[string]string{"architectures": "null", "model_type": `"gpt2"`}, "architectures", "missing"},
		{"zero vocab", map[string]string{"vocab_size": "0"}, "vocab_size", "must be positive"},
		{"negative hidden", map[string]string{"hidden_size": "-64"}, "hidden_size", "must be positive"},
		{"missing layers", map[string]string{"num_hidden_layers": ""}, "num_hidden_layers", "missing"},
		{"string size", map[string]string{"intermediate_size": `"128"`}, "intermediate_size", `want an integer, got "128"`},
		{"float size", map[string]string{"intermediate_size": "128.5"}, "intermediate_size", "want an integer"},
		{"heads do not divide hidden", map[string]string{"num_attention_heads": "6"}, "num_attention_heads", "does not divide hidden_size"},
		{"kv heads do not divide heads", map[string]string{"num_key_value_heads": "3"}, "num_key_value_heads", "does not divide"},
		{"zero kv heads", map[string]string{"num_key_value_heads": "0"}, "num_key_value_heads", "must be positive"},
		{"zero eps", map[string]string{"rms_norm_eps": "0"}, "rms_norm_eps", "positive"},
		{"negative theta", map[string]string{"rope_theta": "-1.0"}, "rope_theta", "positive"},
		{"unknown rope type", map[string]string{"rope_scaling": `{"rope_type": "longrope", "factor": 2.0}`}, "rope_scaling", `"longrope"`},
		{"rope scaling without type", map[string]string{"rope_scaling": `{"factor": 2.0}`}, "rope_scaling.rope_type", "missing"},
		{"linear without factor", map[string]string{"rope_scaling": `{"type": "linear"}`}, "rope_scaling", "positive factor"},
		{"llama3 without original", map[string]string{"rope_parameters": `{"rope_type": "llama3", "rope_theta": 1.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}`}, "rope_parameters", "original_max_position_embeddings"},
		{"llama3 bad bands", map[string]string{"rope_parameters": `{"rope_type": "llama3", "rope_theta": 1.0, "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}`}, "rope_parameters", "low_freq_factor < high_freq_factor"},
		{"rope_parameters not object", map[string]string{"rope_parameters": `[1]`}, "rope_parameters", "want an object"},
		{"bos outside vocab", map[string]string{"bos_token_id": "100"}, "bos_token_id", "outside the vocabulary"},
		{"eos outside vocab", map[string]string{"eos_token_id": "[1, 200]"}, "eos_token_id", "element 1"},
		{"eos not int", map[string]string{"eos_token_id": `[1, "x"]`}, "eos_token_id[1]", "want an integer"},
		{"bad dtype", map[string]string{"torch_dtype": `"int8"`}, "torch_dtype", `"int8"`},
		{"bool as string", map[string]string{"tie_word_embeddings": `"yes"`}, "tie_word_embeddings", "want true or false"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		fields := map[string]string{}
		for k, v := range base {
			fields[k] = v
		}
		for k, v := range tt.set {
			fields[k] = v
		}
		// One key per line, in a fixed order, so the expected line is known.
		var b strings.Builder
		b.WriteString("{\n")
		line, wantLine := 2, 0
		top, _, _ := strings.Cut(tt.field, ".")
		top, _, _ = strings.Cut(top, "[")
		keys := []string{"architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
			"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_act", "rms_norm_eps",
			"rope_theta", "rope_scaling", "rope_parameters", "bos_token_id", "eos_token_id", "torch_dtype",
			"tie_word_embeddings", "use_sliding_window"}
		first := true
		for _, k := range keys {
			v, ok := fields[k]
			if !ok || v == "" {
				continue
			}
			if !first {
				b.WriteString(",\n")
			}
			first = false
			if k == top {
				wantLine = line
			}
			b.WriteString(`  "` + k + `": ` + v)
			line++
		}
		b.WriteString("\n}\n")
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "field "+tt.field+":") || !strings.Contains(msg, tt.want) || !strings.Contains(msg, path) {
			t.Errorf("%s: error %q should name %s, the field %s and contain %q", tt.name, msg, path, tt.field, tt.want)
		}
		if wantLine > 0 && !strings.Contains(msg, path+":"+strconv.Itoa(wantLine)+":") {
			t.Errorf("%s: error %q should give line %d", tt.name, msg, wantLine)
		}
	}
}

func TestConfigSyntaxErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data, want string
	}{
		{"syntax error on line 3", "{\n  \"vocab_size\": 1,\n  \"hidden_size\": ,\n}", "line 3"},
		{"not an object", "[1, 2]", "line 1"},
		{"trailing data", "{}\n{}", "unexpected data"},
		{"null", "null", "not a JSON object"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "config.json")
		os.WriteFile(path, []byte(tt.data), 0o644)
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", tt.name, err, path, tt.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
}
