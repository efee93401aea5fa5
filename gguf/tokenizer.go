package gguf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tokenizer"
)

// llama.cpp token types (llama_token_type).
const (
	tokNormal      int32 = 1
	tokUnknown     int32 = 2
	tokControl     int32 = 3
	tokUserDefined int32 = 4
	tokByte        int32 = 6
)

// preByRegex names llama.cpp's tokenizer.ggml.pre for the Split regexes of
// byte-level tokenizer.json files (convert_hf_to_gguf.py identifies them by
// a hash of their output; the regex is the same information).
var preByRegex = map[string]string{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "llama-bpe",
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:      "qwen2",
}

// tokenizerFile is the part of tokenizer.json the conversion reads.
type tokenizerFile struct {
	Model struct {
		Type         string            `json:"type"`
		Vocab        map[string]int    `json:"vocab"`
		Merges       []json.RawMessage `json:"merges"`
		ByteFallback bool              `json:"byte_fallback"`
	} `json:"model"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	AddedTokens  []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
}

type preTok struct {
	Type          string            `json:"type"`
	Pattern       map[string]string `json:"pattern"`
	UseRegex      *bool             `json:"use_regex"`
	Pretokenizers []preTok          `json:"pretokenizers"`
}

// flatten lists the pre-tokenizers of a Sequence.
func (p preTok) flatten() []preTok {
	if p.Type != "Sequence" {
		return []preTok{p}
	}
	var out []preTok
	for _, q := range p.Pretokenizers {
		out = append(out, q.flatten()...)
	}
	return out
}

// TokenizerMetadata returns the tokenizer.ggml.* metadata (and
// tokenizer.chat_template) of a model folder's tokenizer.json, as
// convert_hf_to_gguf.py writes them: "llama" (SentencePiece-style,
// byte-fallback BPE; scores from the merge ranks) or "gpt2" (byte-level
// BPE with its merges and the llama.cpp pre-tokenizer name of its regex).
// A folder without tokenizer.json gives no metadata.
func TokenizerMetadata(dir string, c *hf.Config) ([]KV, error) {
	path := filepath.Join(dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tf tokenizerFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tf.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: model type %q cannot be written as GGUF (BPE can)", path, tf.Model.Type)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	n := tok.VocabSize()
	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i] = tok.Token(i)
		types[i] = tokNormal
	}
	for _, a := range tf.AddedTokens {
		if a.ID < 0 || a.ID >= n {
			return nil, fmt.Errorf("%s: added token %q has id %d outside the vocabulary of %d", path, a.Content, a.ID, n)
		}
		if a.Special {
			types[a.ID] = tokControl
		} else {
			types[a.ID] = tokUserDefined
		}
	}
	merges := make([][2]string, len(tf.Model.Merges))
	for i, raw := range tf.Model.Merges {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			l, r, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("%s: merge %d %q is not two tokens separated by a space", path, i, s)
			}
			merges[i] = [2]string{l, r}
		} else if err := json.Unmarshal(raw, &merges[i]); err != nil {
			return nil, fmt.Errorf("%s: merge %d: %w", path, i, err)
		}
	}
	var pre preTok
	if len(tf.PreTokenizer) > 0 && string(tf.PreTokenizer) != "null" {
		if err := json.Unmarshal(tf.PreTokenizer, &pre); err != nil {
			return nil, fmt.Errorf("%s: pre_tokenizer: %w", path, err)
		}
	}
	var kv []KV
	byteLevel, split := false, ""
	for _, p := range pre.flatten() {
		switch p.Type {
		case "ByteLevel":
			byteLevel = true
			if p.UseRegex == nil || *p.UseRegex {
				split = "gpt-2"
			}
		case "Split":
			split = preByRegex[p.Pattern["Regex"]]
			if split == "" {
				return nil, fmt.Errorf("%s: the pre-tokenizer's Split regex is not one llama.cpp names (llama-bpe, qwen2)", path)
			}
		}
	}
	if byteLevel {
		if split == "" {
			return nil, fmt.Errorf("%s: byte-level pre-tokenizer without a regex llama.cpp knows", path)
		}
		ms := make([]string, len(merges))
		for i, m := range merges {
			ms[i] = m[0] + " " + m[1]
		}
		kv = append(kv, KV{"tokenizer.ggml.model", "gpt2"}, KV{"tokenizer.ggml.pre", split},
			KV{"tokenizer.ggml.tokens", tokens}, KV{"tokenizer.ggml.token_type", types}, KV{"tokenizer.ggml.merges", ms})
	} else {
		if !tf.Model.ByteFallback {
			return nil, fmt.Errorf("%s: a BPE tokenizer that is neither byte-level nor byte-fallback (SentencePiece-style) cannot be written as GGUF", path)
		}
		scores := spmScores(tokens, merges)
		byteTok := regexp.MustCompile(`^<0x[0-9A-F]{2}>$`)
		for i, t := range tokens {
			if types[i] == tokNormal && byteTok.MatchString(t) {
				types[i] = tokByte
			}
		}
		if id, ok := tok.TokenID("<unk>"); ok {
			types[id] = tokUnknown
			kv = append(kv, KV{"tokenizer.ggml.unknown_token_id", uint32(id)})
		}
		kv = append([]KV{{"tokenizer.ggml.model", "llama"}, {"tokenizer.ggml.pre", "default"},
			{"tokenizer.ggml.tokens", tokens}, {"tokenizer.ggml.scores", scores}, {"tokenizer.ggml.token_type", types},
			{"tokenizer.ggml.add_space_prefix", true}}, kv...)
	}
	if id := tok.BOS(); id >= 0 {
		kv = append(kv, KV{"tokenizer.ggml.bos_token_id", uint32(id)})
	} else if c != nil && c.BOSTokenID >= 0 {
		kv = append(kv, KV{"tokenizer.ggml.bos_token_id", uint32(c.BOSTokenID)})
	}
	if id := tok.EOS(); id >= 0 {
		kv = append(kv, KV{"tokenizer.ggml.eos_token_id", uint32(id)})
	} else if c != nil && len(c.EOSTokenIDs) > 0 {
		kv = append(kv, KV{"tokenizer.ggml.eos_token_id", uint32(c.EOSTokenIDs[0])})
	}
	if id := tok.Pad(); id >= 0 {
		kv = append(kv, KV{"tokenizer.ggml.padding_token_id", uint32(id)})
	}
	plain, special := tok.Encode("a", false), tok.Encode("a", true)
	addBOS := len(special) > len(plain) && special[0] == tok.BOS()
	addEOS := len(special) > len(plain) && special[len(special)-1] == tok.EOS()
	kv = append(kv, KV{"tokenizer.ggml.add_bos_token", addBOS}, KV{"tokenizer.ggml.add_eos_token", addEOS})
	tmpl, err := ChatTemplate(dir)
	if err != nil {
		return nil, err
	}
	if tmpl != "" {
		kv = append(kv, KV{"tokenizer.chat_template", tmpl})
	}
	return kv, nil
}

// spmScores gives each token formed by a merge the score −rank of the
// first merge forming it, so that llama.cpp's SentencePiece tokenizer
// (highest score first) merges in the BPE's order; other tokens score
// −len(merges).
func spmScores(tokens []string, merges [][2]string) []float32 {
	rank := map[string]int{}
	for i, m := range merges {
		if _, ok := rank[m[0]+m[1]]; !ok {
			rank[m[0]+m[1]] = i
		}
	}
	scores := make([]float32, len(tokens))
	for i, t := range tokens {
		r, ok := rank[t]
		if !ok {
			r = len(merges)
		}
		scores[i] = -float32(r)
	}
	return scores
}

// ChatTemplate returns a model folder's chat template: chat_template.jinja
// (transformers 5), else tokenizer_config.json's chat_template (a string,
// or the entry named "default" of a list); "" when there is none.
func ChatTemplate(dir string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		return string(b), nil
	}
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.ChatTemplate) == 0 || string(cfg.ChatTemplate) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(cfg.ChatTemplate, &s) == nil {
		return s, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(cfg.ChatTemplate, &named); err != nil {
		return "", fmt.Errorf("%s: chat_template: want a string or a list of {name, template}", path)
	}
	sort.SliceStable(named, func(i, j int) bool { return named[i].Name == "default" && named[j].Name != "default" })
	if len(named) == 0 {
		return "", nil
	}
	return named[0].Template, nil
}
