// Package testmodel writes a tiny random Llama model folder with a
// byte-level tokenizer and a ChatML-style chat template, for tests that
// need a whole model folder (serving, MT-Bench answers, the commands)
// without ../shared.
package testmodel

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
)

// The model: a random tiny Llama over a byte-level tokenizer of 256
// byte tokens and 4 special tokens, with a ChatML-style template. Nothing
// here needs ../shared.
const (
	Vocab    = 260
	EOS      = 259 // <|im_end|>
	Template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

// byteLevel is GPT-2's bytes_to_unicode table.
func byteLevel() []string {
	var bs []int
	for b := '!'; b <= '~'; b++ {
		bs = append(bs, int(b))
	}
	for b := 0xA1; b <= 0xAC; b++ {
		bs = append(bs, b)
	}
	for b := 0xAE; b <= 0xFF; b++ {
		bs = append(bs, b)
	}
	out := make([]string, 256)
	have := map[int]bool{}
	for _, b := range bs {
		out[b] = string(rune(b))
		have[b] = true
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !have[b] {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}

// Write writes the model's files (config.json, safetensors,
// tokenizer.json, tokenizer_config.json) into dir.
func Write(dir string, hidden, layers int) error {
	c := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: Vocab, HiddenSize: hidden, IntermediateSize: 2 * hidden, NumHiddenLayers: layers,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: hidden / 4, MaxPositionEmbeddings: 2048,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 256, EOSTokenIDs: []int{EOS}}
	m, err := model.NewRandom(c, 11, 0.3)
	if err != nil {
		return err
	}
	if err := m.Save(dir, "F32", 0); err != nil {
		return err
	}
	vocab := map[string]int{}
	for i, s := range byteLevel() {
		vocab[s] = i
	}
	specials := []string{"<s>", "</s>", "<|im_start|>", "<|im_end|>"}
	var added []map[string]any
	for i, s := range specials {
		vocab[s] = 256 + i
		added = append(added, map[string]any{"id": 256 + i, "content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
	}
	tok := map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": []string{}},
	}
	cfg := map[string]any{"bos_token": "<s>", "eos_token": "<|im_end|>", "chat_template": Template,
		"add_bos_token": false, "tokenizer_class": "PreTrainedTokenizerFast"}
	for name, v := range map[string]any{"tokenizer.json": tok, "tokenizer_config.json": cfg} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
