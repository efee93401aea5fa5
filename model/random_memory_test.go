package model

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
)

// TestNewRandomRefusesOversizedModel builds a config with a hidden size of
// 2^20 (sft --init-config with a huge hidden_size: an 8 TiB MLP weight)
// under a 512 MiB Go memory limit: NewRandom must return the refusal, not
// die with Go's fatal out-of-memory.
func TestNewRandomRefusesOversizedModel(t *testing.T) {
	old := debug.SetMemoryLimit(512 << 20)
	defer debug.SetMemoryLimit(old)
	c, err := hf.ParseConfig([]byte(`{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
		"hidden_size": 1048576, "intermediate_size": 4194304, "num_hidden_layers": 2, "num_attention_heads": 8192,
		"num_key_value_heads": 8192, "vocab_size": 32000, "max_position_embeddings": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewRandom(c, 1, 0.02)
	if err == nil || !strings.Contains(err.Error(), "out of memory: parameter ") || !strings.Contains(err.Error(), "GiB but the process may use only") {
		t.Fatalf("got %v, want the allocation refused with its size", err)
	}
}

// TestAttachLoRARefusesOversizedRank attaches rank-10^9 adapters (--lora-r
// 1000000000: terabytes of weights) to a small model under a 512 MiB Go
// memory limit: the refusal names the rank and the size.
func TestAttachLoRARefusesOversizedRank(t *testing.T) {
	c, err := hf.ParseConfig([]byte(`{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
		"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_key_value_heads": 4, "vocab_size": 100, "max_position_embeddings": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(c, 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	old := debug.SetMemoryLimit(512 << 20)
	defer debug.SetMemoryLimit(old)
	err = m.AttachLoRA(LoRAConfig{R: 1000000000, Alpha: 16, Targets: []string{"all-linear"}}, 1)
	if err == nil || !strings.Contains(err.Error(), "attach LoRA: out of memory: LoRA adapters of rank 1000000000 (weights and gradients) needs") {
		t.Fatalf("got %v, want the adapters refused", err)
	}
}
