// Package tokenizer owns text ⇄ token-id conversion for every model family
// smaug supports, matching what the reference libraries produce bit for bit:
// Hugging Face tokenizer.json files (BPE, byte-level or SentencePiece-style
// with byte fallback, with their normalizers, pre-tokenizers, added tokens,
// post-processors and decoders), SentencePiece .model files (encoded the way
// the sentencepiece library does), and the tokenizer.ggml.* vocabularies of
// GGUF files (encoded the way llama.cpp does). It also reads the bos/eos/pad
// and add_bos_token/add_eos_token settings of tokenizer_config.json; chat
// templates belong to package chat.
//
// Every format is loaded into the same pipeline: added tokens are split off
// first, the text between them is normalized and pre-tokenized, and each
// pre-token is encoded by a merge model (rank-ordered BPE for tokenizer.json
// and GGUF "gpt2" vocabularies, score-ordered BPE for SentencePiece). Merges
// run on a binary heap over a linked list of symbols, so a word of n symbols
// costs O(n log n), and pre-token results are cached.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Tokenizer converts text to token ids and back. It is safe for concurrent
// use by several goroutines.
type Tokenizer struct {
	tokens  []string       // id → token text as stored in the vocabulary
	vocab   map[string]int // token text → id (model vocabulary and added tokens)
	special []bool         // id → dropped by Decode when skipSpecial is set

	// added are the added tokens matched on the raw text; addedNorm those
	// matched after normalization (tokenizer.json's normalized=true).
	added, addedNorm *addedMatcher

	normalizer normalizer
	pre        preTokenizer
	model      wordModel
	// prefix and suffix are the ids a post-processor adds around the text
	// when special tokens are requested.
	prefix, suffix []int
	dec            decoder

	bos, eos, pad int

	// legacyPrepend marks a tokenizer.json whose normalizer is the old
	// Llama [Prepend "▁", Replace " " → "▁"] pair with no pre-tokenizer;
	// normAdded keeps its normalized added tokens with their raw content so
	// ApplyConfig can rebuild the pipeline the way transformers does.
	legacyPrepend bool
	normAdded     []addedToken

	// normDecode maps an added token with normalized=true to its normalized
	// form when the normalizer changes it ("<s>" → "▁<s>" under a Prepend
	// normalizer). Hugging Face tokenizers (0.23.1 and later) decodes such a
	// token through that form, so the decoder sees what the encoder matched,
	// and never skips it as special: its skip test compares the decoded form
	// with the special tokens' contents.
	normDecode map[int]string

	// failed is the first RegexTimeoutError met by Encode or Decode.
	failed atomic.Pointer[RegexTimeoutError]
}

// wordModel encodes one pre-token into ids, appending them to out.
type wordModel interface {
	encodeWord(word string, out []int) []int
}

// Load reads a tokenizer from path: a tokenizer.json file, a SentencePiece
// .model file, a .gguf file, or a model folder. In a folder tokenizer.json is
// preferred over tokenizer.model, and tokenizer_config.json beside it (when
// present) sets the bos/eos/pad tokens and add_bos_token/add_eos_token.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	if st.IsDir() {
		return loadFolder(path)
	}
	switch {
	case strings.HasSuffix(path, ".gguf"):
		return LoadGGUF(path)
	case strings.HasSuffix(path, ".model"):
		return LoadSentencePiece(path)
	default:
		return LoadHF(path)
	}
}

func loadFolder(dir string) (*Tokenizer, error) {
	var t *Tokenizer
	var err error
	js, sp := filepath.Join(dir, "tokenizer.json"), filepath.Join(dir, "tokenizer.model")
	switch {
	case fileExists(js):
		t, err = LoadHF(js)
	case fileExists(sp):
		t, err = LoadSentencePiece(sp)
	default:
		return nil, fmt.Errorf("load tokenizer: %s has neither tokenizer.json nor tokenizer.model", dir)
	}
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "tokenizer_config.json")
	if fileExists(cfg) {
		c, err := ReadConfig(cfg)
		if err != nil {
			return nil, err
		}
		if err := t.ApplyConfig(c); err != nil {
			return nil, fmt.Errorf("apply %s: %w", cfg, err)
		}
	}
	return t, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Config holds the fields of tokenizer_config.json that change encoding.
// Pointers are nil when the file does not set the field.
type Config struct {
	AddBOS   *bool
	AddEOS   *bool
	BOSToken *string
	EOSToken *string
	PadToken *string
	UnkToken *string
	// Legacy is the "legacy" flag of Llama tokenizers; TokenizerClass is
	// "tokenizer_class".
	Legacy         *bool
	TokenizerClass string
}

// ReadConfig reads the special-token settings of a tokenizer_config.json.
// A token may be written as a string or as an AddedToken object with a
// "content" field.
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokenizer config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, jsonErrorLine(b, err))
	}
	c := &Config{}
	for _, f := range []struct {
		key string
		dst **bool
	}{{"add_bos_token", &c.AddBOS}, {"add_eos_token", &c.AddEOS}, {"legacy", &c.Legacy}} {
		v, ok := raw[f.key]
		if !ok || string(v) == "null" {
			continue
		}
		var x bool
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, fmt.Errorf("parse %s: field %s: want true or false, got %s", path, f.key, v)
		}
		*f.dst = &x
	}
	for _, f := range []struct {
		key string
		dst **string
	}{{"bos_token", &c.BOSToken}, {"eos_token", &c.EOSToken}, {"pad_token", &c.PadToken}, {"unk_token", &c.UnkToken}} {
		v, ok := raw[f.key]
		if !ok || string(v) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var obj struct {
				Content *string `json:"content"`
			}
			if err := json.Unmarshal(v, &obj); err != nil || obj.Content == nil {
				return nil, fmt.Errorf("parse %s: field %s: want a string or an object with \"content\", got %s", path, f.key, v)
			}
			s = *obj.Content
		}
		*f.dst = &s
	}
	if v, ok := raw["tokenizer_class"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &c.TokenizerClass); err != nil {
			return nil, fmt.Errorf("parse %s: field tokenizer_class: want a string, got %s", path, v)
		}
	}
	return c, nil
}

// ApplyConfig sets the bos/eos/pad tokens named in c, and when c sets
// add_bos_token or add_eos_token, replaces the special tokens Encode adds
// with [bos] text [eos] accordingly (as transformers' Llama tokenizers do).
//
// A Llama tokenizer whose config sets "legacy" and whose tokenizer.json
// still has the old Prepend/Replace normalizer is rebuilt the way
// transformers 5 rebuilds it: no normalizer and a Metaspace pre-tokenizer
// (prepend scheme "always" when legacy, "first" otherwise), so a leading
// space is not doubled.
func (t *Tokenizer) ApplyConfig(c *Config) error {
	if t.legacyPrepend && c.Legacy != nil && strings.HasPrefix(c.TokenizerClass, "LlamaTokenizer") {
		scheme := "first"
		if *c.Legacy {
			scheme = "always"
		}
		t.normalizer = nil
		t.pre = &metaspace{replacement: "▁", scheme: scheme}
		t.addedNorm = newAddedMatcher(t.normAdded)
		t.normDecode = nil
		t.legacyPrepend = false
	}
	lookup := func(field string, s *string, dst *int) error {
		if s == nil {
			return nil
		}
		id, ok := t.vocab[*s]
		if !ok {
			return fmt.Errorf("%s %q is not in the vocabulary", field, *s)
		}
		*dst = id
		return nil
	}
	if err := lookup("bos_token", c.BOSToken, &t.bos); err != nil {
		return err
	}
	if err := lookup("eos_token", c.EOSToken, &t.eos); err != nil {
		return err
	}
	if err := lookup("pad_token", c.PadToken, &t.pad); err != nil {
		return err
	}
	if c.AddBOS == nil && c.AddEOS == nil {
		return nil
	}
	addBOS := c.AddBOS != nil && *c.AddBOS
	addEOS := c.AddEOS != nil && *c.AddEOS
	if c.AddBOS == nil {
		addBOS = len(t.prefix) > 0
	}
	if c.AddEOS == nil {
		addEOS = len(t.suffix) > 0
	}
	t.prefix, t.suffix = nil, nil
	if addBOS {
		if t.bos < 0 {
			return errors.New("add_bos_token is true but there is no bos_token")
		}
		t.prefix = []int{t.bos}
	}
	if addEOS {
		if t.eos < 0 {
			return errors.New("add_eos_token is true but there is no eos_token")
		}
		t.suffix = []int{t.eos}
	}
	return nil
}

// Encode converts text to token ids. With addSpecial it adds the special
// tokens the tokenizer's post-processor (or tokenizer_config.json) asks for,
// typically a leading BOS.
//
// If a regular expression of the tokenizer file runs past its time budget
// the result is incomplete and Err reports why.
func (t *Tokenizer) Encode(text string, addSpecial bool) (out []int) {
	defer t.recoverRegex()
	if addSpecial {
		out = append(out, t.prefix...)
	}
	out = t.encodeText(text, out)
	if addSpecial {
		out = append(out, t.suffix...)
	}
	return out
}

// encodeText runs the pipeline: split off raw added tokens, normalize each
// remaining piece, split off normalized added tokens, pre-tokenize, and
// encode each pre-token with the model.
func (t *Tokenizer) encodeText(text string, out []int) []int {
	t.added.split(text, func(piece string, id int, atStart bool) {
		if id >= 0 {
			out = append(out, id)
			return
		}
		if t.normalizer != nil {
			piece = t.normalizer.normalize(piece)
		}
		t.addedNorm.split(piece, func(sub string, id int, subStart bool) {
			if id >= 0 {
				out = append(out, id)
				return
			}
			if sub == "" {
				return
			}
			if t.pre == nil {
				out = t.model.encodeWord(sub, out)
				return
			}
			t.pre.preTokenize(sub, atStart && subStart, func(word string, _ bool) {
				if word != "" {
					out = t.model.encodeWord(word, out)
				}
			})
		})
	})
	return out
}

// Decode converts ids back to text. With skipSpecial, special tokens (BOS,
// EOS, chat markers) are left out. Ids outside the vocabulary are ignored.
//
// As in Hugging Face tokenizers, an added token with normalized=true that
// the normalizer changes is decoded through its normalized form and kept
// even with skipSpecial (see normDecode).
//
// If a Replace pattern of the tokenizer file runs past its time budget the
// result is empty and Err reports why.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (text string) {
	defer t.recoverRegex()
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(t.tokens) {
			continue
		}
		if s, ok := t.normDecode[id]; ok {
			toks = append(toks, s)
			continue
		}
		if skipSpecial && t.special[id] {
			continue
		}
		toks = append(toks, t.tokens[id])
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decode(toks), "")
}

// TokenID returns the id of the token whose vocabulary text is s.
func (t *Tokenizer) TokenID(s string) (int, bool) {
	id, ok := t.vocab[s]
	return id, ok
}

// Token returns the vocabulary text of id, or "" when id is out of range.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// IsSpecial reports whether id is a special token (one Decode skips when
// asked to).
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

// VocabSize returns the number of ids, counting added tokens: one more than
// the largest id.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1 if there is none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1 if there is none.
func (t *Tokenizer) EOS() int { return t.eos }

// Pad returns the padding id, or -1 if there is none.
func (t *Tokenizer) Pad() int { return t.pad }
