package tokenizer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// GGUF metadata value types.
const (
	ggufU8 = iota
	ggufI8
	ggufU16
	ggufI16
	ggufU32
	ggufI32
	ggufF32
	ggufBool
	ggufString
	ggufArray
	ggufU64
	ggufI64
	ggufF64
)

// ggufReader reads the metadata section of a GGUF file without touching its
// tensor data, checking every length against what is left of the file.
type ggufReader struct {
	r    *bufio.Reader
	left int64 // bytes not yet read
}

var errGGUFShort = errors.New("unexpected end of file")

func (g *ggufReader) read(n int64) ([]byte, error) {
	if n < 0 || n > g.left {
		return nil, errGGUFShort
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(g.r, b); err != nil {
		return nil, errGGUFShort
	}
	g.left -= n
	return b, nil
}

func (g *ggufReader) u32() (uint32, error) {
	b, err := g.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (g *ggufReader) u64() (uint64, error) {
	b, err := g.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (g *ggufReader) str() (string, error) {
	n, err := g.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(g.left) {
		return "", fmt.Errorf("string of %d bytes is longer than the rest of the file", n)
	}
	b, err := g.read(int64(n))
	return string(b), err
}

var ggufScalarSize = map[uint32]int64{ggufU8: 1, ggufI8: 1, ggufU16: 2, ggufI16: 2, ggufU32: 4, ggufI32: 4,
	ggufF32: 4, ggufBool: 1, ggufU64: 8, ggufI64: 8, ggufF64: 8}

// value reads one value of type typ. Scalars come back as int64, float64,
// bool or string; arrays as []any. Arrays of keys we do not need are read
// and dropped (keep=false) to save memory.
func (g *ggufReader) value(typ uint32, keep bool) (any, error) {
	if typ == ggufString {
		return g.str()
	}
	if typ == ggufArray {
		et, err := g.u32()
		if err != nil {
			return nil, err
		}
		n, err := g.u64()
		if err != nil {
			return nil, err
		}
		min := ggufScalarSize[et]
		if et == ggufString {
			min = 8
		}
		if et == ggufArray || min == 0 {
			if et != ggufArray {
				return nil, fmt.Errorf("unknown array element type %d", et)
			}
			min = 12
		}
		if n > uint64(g.left/min) {
			return nil, fmt.Errorf("array of %d elements is longer than the rest of the file", n)
		}
		var out []any
		if keep {
			out = make([]any, 0, n)
		}
		for i := uint64(0); i < n; i++ {
			v, err := g.value(et, keep)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			if keep {
				out = append(out, v)
			}
		}
		return out, nil
	}
	size, ok := ggufScalarSize[typ]
	if !ok {
		return nil, fmt.Errorf("unknown value type %d", typ)
	}
	b, err := g.read(size)
	if err != nil {
		return nil, err
	}
	var u uint64
	for i := int(size) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	switch typ {
	case ggufI8:
		return int64(int8(u)), nil
	case ggufI16:
		return int64(int16(u)), nil
	case ggufI32:
		return int64(int32(u)), nil
	case ggufI64:
		return int64(u), nil
	case ggufF32:
		return float64(math.Float32frombits(uint32(u))), nil
	case ggufF64:
		return math.Float64frombits(u), nil
	case ggufBool:
		return u != 0, nil
	}
	return int64(u), nil
}

// readGGUFMetadata returns the tokenizer.* key/value pairs of a GGUF file.
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
	g := &ggufReader{r: bufio.NewReaderSize(f, 1<<20), left: st.Size()}
	magic, err := g.read(4)
	if err != nil || string(magic) != "GGUF" {
		return nil, fmt.Errorf("load %s: not a GGUF file (bad magic)", path)
	}
	ver, err := g.u32()
	if err != nil {
		return nil, fmt.Errorf("load %s: header: %w", path, err)
	}
	if ver < 2 || ver > 3 {
		return nil, fmt.Errorf("load %s: GGUF version %d is not supported (2 and 3 are)", path, ver)
	}
	if _, err := g.u64(); err != nil { // tensor count
		return nil, fmt.Errorf("load %s: header: %w", path, err)
	}
	nkv, err := g.u64()
	if err != nil {
		return nil, fmt.Errorf("load %s: header: %w", path, err)
	}
	kv := map[string]any{}
	for i := uint64(0); i < nkv; i++ {
		key, err := g.str()
		if err != nil {
			return nil, fmt.Errorf("load %s: metadata key %d: %w", path, i, err)
		}
		typ, err := g.u32()
		if err != nil {
			return nil, fmt.Errorf("load %s: metadata %s: %w", path, key, err)
		}
		keep := strings.HasPrefix(key, "tokenizer.ggml.")
		v, err := g.value(typ, keep)
		if err != nil {
			return nil, fmt.Errorf("load %s: metadata %s: %w", path, key, err)
		}
		if keep {
			kv[key] = v
		}
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
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("metadata %s: want an array of strings", key)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("metadata %s[%d]: want a string", key, i)
		}
		out[i] = s
	}
	return out, nil
}

func ggufNumbers(kv map[string]any, key string, n int) ([]float64, error) {
	v, ok := kv[key]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != n {
		return nil, fmt.Errorf("metadata %s: want an array of %d numbers", key, n)
	}
	out := make([]float64, n)
	for i, x := range arr {
		switch x := x.(type) {
		case int64:
			out[i] = float64(x)
		case float64:
			out[i] = x
		default:
			return nil, fmt.Errorf("metadata %s[%d]: want a number", key, i)
		}
	}
	return out, nil
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
		x, ok := v.(int64)
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
