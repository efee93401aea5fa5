package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/smaug-dev/smaug/internal/ggufmeta"
)

// readGGUFMetadata returns the tokenizer.ggml.* key/value pairs of a GGUF
// file; the other entries are read and dropped.
func readGGUFMetadata(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	hd, err := ggufmeta.NewReader(f, st.Size()).Header(func(key string) bool {
		return strings.HasPrefix(key, "tokenizer.ggml.")
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	kv := make(map[string]any, len(hd.KV))
	for _, e := range hd.KV {
		kv[e.Key] = e.Value
	}
	return kv, nil
}

// llama.cpp's pre-tokenizer regexes, by tokenizer.ggml.pre value (llama-vocab.cpp).
var (
	reLlama3 = []string{`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`}
	reQwen2  = []string{`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`}
	reGPT2   = []string{`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`}
	reStar   = []string{`\p{N}`, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`}
	rePoro   = []string{` ?[^(\s|.,!?…。，、।۔،)]+`}
	ggufPre  = map[string][]string{
		"default": {`[\p{P}\$\+<=>\^~\|]+`, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, `\p{N}+`, `[0-9][0-9][0-9]`},
		"llama3":  reLlama3, "llama-v3": reLlama3, "llama-bpe": reLlama3, "falcon3": reLlama3, "dbrx": reLlama3,
		"smaug-bpe": reLlama3, "chatglm-bpe": reLlama3,
		"deepseek-llm": {`[\r\n]`,
			`\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`,
			`\s?[!-/:-~！-／：-～‘-‟　-。]+`, `\s+$`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}+`},
		"deepseek-coder": {`[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}`},
		"falcon":         {`[\p{P}\$\+<=>\^~\|` + "`" + `]+`, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, `[0-9][0-9][0-9]`},
		"gpt-2":          reGPT2, "mpt": reGPT2, "phi-2": reGPT2, "olmo": reGPT2, "jais": reGPT2, "trillion": reGPT2,
		"roberta-bpe": reGPT2, "jina-es": reGPT2, "jina-de": reGPT2, "jina-v1-en": reGPT2, "jina-v2-es": reGPT2,
		"jina-v2-de": reGPT2, "jina-v2-code": reGPT2, "gigachat": reGPT2,
		"starcoder": reStar, "refact": reStar, "command-r": reStar, "smollm": reStar, "codeshell": reStar,
		"exaone": reStar, "minerva-7b": reStar,
		"qwen2": reQwen2, "stablelm2": reQwen2, "hunyuan": reQwen2, "deepseek-r1-qwen": reQwen2, "megrez": reQwen2,
		"poro-chat": rePoro, "bloom": rePoro, "gpt3-finnish": rePoro,
		"viking": {` ?[^(\s|.,!?…。，、।۔،)]+`, `\p{N}`},
		"tekken": {`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
	}
	// ggufIgnoreMerges lists the pre types for which llama.cpp looks a whole
	// word up in the vocabulary before merging.
	ggufIgnoreMerges = map[string]bool{"llama3": true, "llama-v3": true, "llama-bpe": true, "falcon3": true}
)

// GGUF token types used here (llama.cpp's llama_token_type); 2 unknown,
// 5 unused and 6 byte need no special handling.
const (
	ggufTokNormal      = 1
	ggufTokControl     = 3
	ggufTokUserDefined = 4
)

// LoadGGUF reads the tokenizer.ggml.* vocabulary of a GGUF file: a "llama"
// (SentencePiece) or "gpt2" (byte-level BPE) model with the pre-tokenizer
// its tokenizer.ggml.pre names. Encode matches llama.cpp's tokenization with
// user-defined tokens split off first; control tokens in the text are not
// parsed.
func LoadGGUF(path string) (*Tokenizer, error) {
	kv, err := readGGUFMetadata(path)
	if err != nil {
		return nil, err
	}
	t, err := ggufTokenizer(kv)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return t, nil
}

func ggufStrings(kv map[string]any, key string, required bool) ([]string, error) {
	v, ok := kv[key]
	if !ok {
		if required {
			return nil, fmt.Errorf("metadata %s: missing", key)
		}
		return nil, nil
	}
	out, ok := v.([]string)
	if !ok {
		return nil, fmt.Errorf("metadata %s: want an array of strings", key)
	}
	return out, nil
}

func ggufNumbers(kv map[string]any, key string, n int) ([]float64, error) {
	v, ok := kv[key]
	if !ok {
		return nil, nil
	}
	var out []float64
	switch v := v.(type) {
	case []float32:
		out = widen(v)
	case []float64:
		out = v
	case []int32:
		out = widen(v)
	case []uint32:
		out = widen(v)
	case []int64:
		out = widen(v)
	case []uint64:
		out = widen(v)
	case []int16:
		out = widen(v)
	case []uint16:
		out = widen(v)
	case []int8:
		out = widen(v)
	case []uint8:
		out = widen(v)
	}
	if out == nil || len(out) != n {
		return nil, fmt.Errorf("metadata %s: want an array of %d numbers", key, n)
	}
	return out, nil
}

// widen converts GGUF array values to float64.
func widen[T float32 | float64 | int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// ggufInt returns a GGUF integer scalar of any width as int64.
func ggufInt(v any) (int64, bool) {
	switch v := v.(type) {
	case uint8:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint64:
		return int64(min(v, 1<<62)), true
	case int64:
		return v, true
	}
	return 0, false
}

func ggufTokenizer(kv map[string]any) (*Tokenizer, error) {
	kind, _ := kv["tokenizer.ggml.model"].(string)
	if kind != "llama" && kind != "gpt2" {
		return nil, fmt.Errorf("metadata tokenizer.ggml.model: model %q is not supported (llama and gpt2 are)", kind)
	}
	tokens, err := ggufStrings(kv, "tokenizer.ggml.tokens", true)
	if err != nil {
		return nil, err
	}
	n := len(tokens)
	if n == 0 {
		return nil, errors.New("metadata tokenizer.ggml.tokens: empty")
	}
	types, err := ggufNumbers(kv, "tokenizer.ggml.token_type", n)
	if err != nil {
		return nil, err
	}
	scores, err := ggufNumbers(kv, "tokenizer.ggml.scores", n)
	if err != nil {
		return nil, err
	}
	typeOf := func(i int) int {
		if types == nil {
			return ggufTokNormal
		}
		return int(types[i])
	}
	t := &Tokenizer{tokens: tokens, special: make([]bool, n), vocab: make(map[string]int, n), bos: -1, eos: -1, pad: -1}
	var user []addedToken
	for i, s := range tokens {
		if _, dup := t.vocab[s]; !dup {
			t.vocab[s] = i
		}
		switch typeOf(i) {
		case ggufTokControl:
			t.special[i] = true
		case ggufTokUserDefined:
			user = append(user, addedToken{id: i, content: s})
		}
	}
	t.added = newAddedMatcher(user)
	idKey := func(key string, def int) (int, error) {
		v, ok := kv[key]
		if !ok {
			return def, nil
		}
		x, ok := ggufInt(v)
		if !ok || x < -1 || x >= int64(n) {
			return 0, fmt.Errorf("metadata %s: want a token id below %d, got %v", key, n, v)
		}
		return int(x), nil
	}
	boolKey := func(key string, def bool) bool {
		if v, ok := kv[key].(bool); ok {
			return v
		}
		return def
	}
	defBOS, defEOS := 1, 2
	if kind == "gpt2" {
		defBOS, defEOS = 11, 11
	}
	if t.bos, err = idKey("tokenizer.ggml.bos_token_id", min(defBOS, n-1)); err != nil {
		return nil, err
	}
	if t.eos, err = idKey("tokenizer.ggml.eos_token_id", min(defEOS, n-1)); err != nil {
		return nil, err
	}
	if t.pad, err = idKey("tokenizer.ggml.padding_token_id", -1); err != nil {
		return nil, err
	}
	if boolKey("tokenizer.ggml.add_bos_token", kind == "llama") && t.bos >= 0 {
		t.prefix = []int{t.bos}
	}
	if boolKey("tokenizer.ggml.add_eos_token", false) && t.eos >= 0 {
		t.suffix = []int{t.eos}
	}

	if kind == "llama" {
		m := &spmModel{ids: t.vocab, pieces: t.vocab, scores: make([]float32, n), types: make([]int32, n), unk: -1, llamaCpp: true}
		for i := range tokens {
			if scores != nil {
				m.scores[i] = float32(scores[i])
			}
			m.types[i] = int32(typeOf(i))
		}
		for b := range m.byteIDs {
			m.byteIDs[b] = -1
			if id, ok := t.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
				m.byteIDs[b] = id
			}
		}
		t.model = m
		space := boolKey("tokenizer.ggml.add_space_prefix", true)
		t.normalizer = spmNormalizer{addDummyPrefix: space, escape: true}
		q := decSequence{replaceDecoder{replace{literal: "▁", content: " "}}, byteFallbackDecoder{}, fuseDecoder{}}
		if space {
			q = append(q, stripDecoder{content: ' ', start: 1})
		}
		t.dec = q
		return t, nil
	}

	pre, _ := kv["tokenizer.ggml.pre"].(string)
	if pre == "" {
		pre = "default"
	}
	pats, ok := ggufPre[pre]
	if !ok {
		return nil, fmt.Errorf("metadata tokenizer.ggml.pre: pre-tokenizer type %q is not supported", pre)
	}
	merges, err := ggufStrings(kv, "tokenizer.ggml.merges", true)
	if err != nil {
		return nil, err
	}
	m := &bpe{vocab: t.vocab, merges: make(map[uint64]merge, len(merges)), unk: -1, ignoreMerges: ggufIgnoreMerges[pre], cache: newWordCache()}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
	}
	for i, s := range merges {
		sp := strings.IndexByte(s[min(1, len(s)):], ' ') + min(1, len(s))
		if sp < min(1, len(s)) {
			return nil, fmt.Errorf("metadata tokenizer.ggml.merges[%d]: %q is not two tokens separated by a space", i, s)
		}
		if err := m.addMerge(s[:sp], s[sp+1:], i); err != nil {
			return nil, fmt.Errorf("metadata tokenizer.ggml.merges[%d]: %w", i, err)
		}
	}
	t.model = m
	var seq preSequence
	for _, p := range pats {
		m, err := newMatcher(p)
		if err != nil {
			return nil, fmt.Errorf("pre-tokenizer %s: %w", pre, err)
		}
		seq = append(seq, &splitter{match: m, behavior: behIsolated})
	}
	t.pre = preSequence{seq, &byteLevel{deferred: true}}
	m.byteInput = true
	t.dec = byteLevelDecoder{}
	return t, nil
}
