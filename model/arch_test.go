package model

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
)

func TestArchitecturesRegistered(t *testing.T) {
	want := []string{"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"}
	if got := Architectures(); !slices.Equal(got, want) {
		t.Errorf("Architectures() = %v, want %v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering LlamaForCausalLM twice did not panic")
		}
	}()
	Register("LlamaForCausalLM", llama{})
}

// writeConfig writes config.json with one key per line in the given order,
// so the line of each key is known, and returns its path and the lines.
func writeConfig(t *testing.T, dir string, keys []string, fields map[string]string) (string, map[string]int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("{\n")
	lines := map[string]int{}
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
		lines[k] = strings.Count(b.String(), "\n") + 1
		b.WriteString(`  "` + k + `": ` + v)
	}
	b.WriteString("\n}\n")
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

// TestLoadConfigRefusesWhatCannotRun: every config.json the model cannot
// run is refused by LoadConfig (the check Load runs before reading any
// tensor), naming the file, the line and the field; the warnings of
// configs it runs differently from transformers reach the hook.
func TestLoadConfigRefusesWhatCannotRun(t *testing.T) {
	keys := []string{"architectures", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "attention_bias", "mlp_bias",
		"sliding_window", "use_sliding_window", "max_position_embeddings", "rope_scaling", "rope_parameters"}
	base := map[string]string{"architectures": `["LlamaForCausalLM"]`, "vocab_size": "100", "hidden_size": "64",
		"intermediate_size": "128", "num_hidden_layers": "2", "num_attention_heads": "4"}
	tests := []struct {
		name  string
		set   map[string]string
		field string // "" for a config that loads
		want  string // in the error, or in the one warning
	}{
		{"llama", nil, "", ""},
		{"gelu", map[string]string{"hidden_act": `"gelu"`}, "hidden_act", `"gelu"`},
		{"yarn", map[string]string{"rope_scaling": `{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}`}, "rope_scaling", `rope type "yarn" is not supported`},
		{"dynamic (transformers 5 layout)", map[string]string{"rope_parameters": `{"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}`}, "rope_parameters", `"dynamic"`},
		{"odd head_dim", map[string]string{"head_dim": "15"}, "head_dim", "odd"},
		{"mistral", map[string]string{"architectures": `["MistralForCausalLM"]`, "sliding_window": "null"}, "", ""},
		{"mistral short window", map[string]string{"architectures": `["MistralForCausalLM"]`, "sliding_window": "16", "max_position_embeddings": "64"}, "", ""},
		{"mistral window as long as the context", map[string]string{"architectures": `["MistralForCausalLM"]`, "sliding_window": "64", "max_position_embeddings": "64"}, "", ""},
		{"qwen2 sliding window", map[string]string{"architectures": `["Qwen2ForCausalLM"]`, "use_sliding_window": "true"}, "use_sliding_window", "not supported"},
		{"qwen2 without sliding window", map[string]string{"architectures": `["Qwen2ForCausalLM"]`, "use_sliding_window": "false", "sliding_window": "4096"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := map[string]string{}
			for k, v := range base {
				fields[k] = v
			}
			for k, v := range tt.set {
				fields[k] = v
			}
			path, lines := writeConfig(t, t.TempDir(), keys, fields)
			var warnings []string
			_, err := LoadConfig(path, func(s string) { warnings = append(warnings, s) })
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tt.want == "" && len(warnings) > 0:
					t.Errorf("warnings %q, want none", warnings)
				case tt.want != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.want)):
					t.Errorf("warnings %q, want one containing %q", warnings, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			at := path + ":" + strconv.Itoa(lines[tt.field]) + ":"
			if msg := err.Error(); !strings.Contains(msg, at) || !strings.Contains(msg, "field "+tt.field+":") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q should name %s, the field %s and contain %q", msg, at, tt.field, tt.want)
			}
		})
	}
}

// TestCheckConfigArchRules: the bias rules of each architecture, for
// configs built in Go (config.json cannot express most of them).
func TestCheckConfigArchRules(t *testing.T) {
	base := hf.Config{Architectures: []string{"LlamaForCausalLM"}, VocabSize: 10, HiddenSize: 8, IntermediateSize: 8,
		NumHiddenLayers: 1, NumAttentionHeads: 2, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 16,
		RMSNormEps: 1e-6, RopeTheta: 1e4, HiddenAct: "silu", BOSTokenID: -1}
	tests := []struct {
		name, arch string
		edit       func(c *hf.Config)
		want       string // "" when accepted
	}{
		{"llama biases", "LlamaForCausalLM", func(c *hf.Config) { c.QKVBias, c.OBias, c.MLPBias = true, true, true }, ""},
		{"llama q/k/v without o", "LlamaForCausalLM", func(c *hf.Config) { c.QKVBias = true }, "field attention_bias: Llama sets q/k/v and o biases together"},
		{"llama window", "LlamaForCausalLM", func(c *hf.Config) { c.SlidingWindow = 4 }, "field sliding_window"},
		{"mistral bias", "MistralForCausalLM", func(c *hf.Config) { c.QKVBias, c.OBias = true, true }, "field attention_bias: Mistral attention has no biases"},
		{"mistral mlp bias", "MistralForCausalLM", func(c *hf.Config) { c.MLPBias = true }, "field mlp_bias"},
		{"qwen2", "Qwen2ForCausalLM", func(c *hf.Config) { c.QKVBias = true }, ""},
		{"qwen2 without q/k/v bias", "Qwen2ForCausalLM", func(*hf.Config) {}, "field attention_bias: Qwen2 always has q/k/v biases"},
		{"qwen2 o bias", "Qwen2ForCausalLM", func(c *hf.Config) { c.QKVBias, c.OBias = true, true }, "field attention_bias"},
		{"qwen2 window", "Qwen2ForCausalLM", func(c *hf.Config) { c.QKVBias, c.SlidingWindow = true, 8 }, "field sliding_window"},
	}
	for _, tt := range tests {
		c := base
		c.Architectures = []string{tt.arch}
		tt.edit(&c)
		err := CheckConfig(&c, nil)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
		if _, nerr := NewRandom(&c, 1, 0); (nerr == nil) != (err == nil) {
			t.Errorf("%s: NewRandom's error %v differs from CheckConfig's %v", tt.name, nerr, err)
		}
	}
}
