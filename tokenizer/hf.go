package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/text/unicode/norm"
)

// hfFile is the top level of a Hugging Face tokenizer.json.
type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type hfAddedToken struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfBPE struct {
	Type          string            `json:"type"`
	Vocab         map[string]int    `json:"vocab"`
	Merges        []json.RawMessage `json:"merges"`
	UnkToken      *string           `json:"unk_token"`
	FuseUnk       bool              `json:"fuse_unk"`
	ByteFallback  bool              `json:"byte_fallback"`
	IgnoreMerges  bool              `json:"ignore_merges"`
	ContPrefix    *string           `json:"continuing_subword_prefix"`
	EndWordSuffix *string           `json:"end_of_word_suffix"`
	Dropout       *float64          `json:"dropout"`
}

// hfPattern is a Split/Replace pattern: a literal string or a regex.
type hfPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// hfComponent holds the fields of any normalizer, pre-tokenizer,
// post-processor or decoder; each kind reads the ones it needs.
type hfComponent struct {
	Type             string            `json:"type"`
	Normalizers      []json.RawMessage `json:"normalizers"`
	Pretokenizers    []json.RawMessage `json:"pretokenizers"`
	Processors       []json.RawMessage `json:"processors"`
	Decoders         []json.RawMessage `json:"decoders"`
	Prepend          string            `json:"prepend"`
	Pattern          *hfPattern        `json:"pattern"`
	Content          json.RawMessage   `json:"content"`
	StripLeft        *bool             `json:"strip_left"`
	StripRight       *bool             `json:"strip_right"`
	AddPrefixSpace   *bool             `json:"add_prefix_space"`
	UseRegex         *bool             `json:"use_regex"`
	Behavior         string            `json:"behavior"`
	Invert           bool              `json:"invert"`
	Replacement      string            `json:"replacement"`
	PrependScheme    string            `json:"prepend_scheme"`
	Split            *bool             `json:"split"`
	IndividualDigits bool              `json:"individual_digits"`
	Start            int               `json:"start"`
	Stop             int               `json:"stop"`
	Single           []json.RawMessage `json:"single"`
	SpecialTokens    map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Sep json.RawMessage `json:"sep"`
	Cls json.RawMessage `json:"cls"`
}

// maxIDGap is how many ids a tokenizer.json may leave unused: its largest
// id must be below the number of vocabulary entries and added tokens plus
// maxIDGap. Real files number their tokens densely.
const maxIDGap = 1 << 16

// gpt2Pattern is the regex of the ByteLevel pre-tokenizer.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// LoadHF reads a Hugging Face tokenizer.json file.
func LoadHF(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := parseHF(b)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return t, nil
}

// jsonErrorLine adds the line and column of a JSON decoding error.
func jsonErrorLine(b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, os.ErrNotExist):
		return err
	}
	if off < 0 || off > int64(len(b)) {
		return err
	}
	if off > 0 {
		off-- // the offset counts the offending byte
	}
	line := bytes.Count(b[:off], []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

func parseHF(b []byte) (_ *Tokenizer, err error) {
	defer func() {
		// Normalizing the added tokens runs the file's Replace patterns.
		if r := recover(); r != nil {
			f, ok := r.(regexFailure)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	var f hfFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, jsonErrorLine(b, err)
	}
	if len(f.Model) == 0 || string(f.Model) == "null" {
		return nil, errors.New("field model: missing")
	}
	var kind struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(f.Model, &kind); err != nil {
		return nil, fmt.Errorf("field model: %w", err)
	}
	if kind.Type != "" && kind.Type != "BPE" {
		return nil, fmt.Errorf("field model.type: model type %s is not supported (only BPE is)", kind.Type)
	}
	var m hfBPE
	if err := json.Unmarshal(f.Model, &m); err != nil {
		return nil, fmt.Errorf("field model: %w", err)
	}
	if m.Type == "" && m.Merges == nil {
		return nil, errors.New("field model.type: missing")
	}
	t := &Tokenizer{bos: -1, eos: -1, pad: -1}
	// The id tables are dense, so an id must be bounded by the number of
	// entries, or a hostile id of 1e9 would allocate gigabytes.
	limit := len(m.Vocab) + len(f.AddedTokens) + maxIDGap
	maxID := -1
	for s, id := range m.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("field model.vocab: token %q has negative id %d", s, id)
		}
		if id >= limit {
			return nil, fmt.Errorf("field model.vocab: token %q has id %d, beyond the %d entries of the vocabulary and added tokens (ids may leave at most %d unused)", s, id, len(m.Vocab)+len(f.AddedTokens), maxIDGap)
		}
		maxID = max(maxID, id)
	}
	for i, a := range f.AddedTokens {
		if a.ID == nil || *a.ID < 0 {
			return nil, fmt.Errorf("field added_tokens[%d]: missing or negative id", i)
		}
		if *a.ID >= limit {
			return nil, fmt.Errorf("field added_tokens[%d]: id %d is beyond the %d entries of the vocabulary and added tokens (ids may leave at most %d unused)", i, *a.ID, len(m.Vocab)+len(f.AddedTokens), maxIDGap)
		}
		maxID = max(maxID, *a.ID)
	}
	t.tokens = make([]string, maxID+1)
	t.special = make([]bool, maxID+1)
	t.vocab = make(map[string]int, maxID+1)
	for s, id := range m.Vocab {
		t.tokens[id] = s
		t.vocab[s] = id
	}
	model := &bpe{
		vocab:        m.Vocab,
		merges:       make(map[uint64]merge, len(m.Merges)),
		unk:          -1,
		fuseUnk:      m.FuseUnk,
		byteFallback: m.ByteFallback,
		ignoreMerges: m.IgnoreMerges,
		cache:        newWordCache(),
	}
	if m.ContPrefix != nil {
		model.contPrefix = *m.ContPrefix
	}
	if m.EndWordSuffix != nil {
		model.endSuffix = *m.EndWordSuffix
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("field model.unk_token: %q is not in the vocabulary", *m.UnkToken)
		}
		model.unk = id
	}
	for b := range model.byteIDs {
		model.byteIDs[b] = -1
		if id, ok := m.Vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			model.byteIDs[b] = id
		}
	}
	for i, raw := range m.Merges {
		var a, c string
		var pair []string
		var s string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			var ok bool
			a, c, ok = strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("field model.merges[%d]: %q is not two tokens separated by a space", i, s)
			}
		case json.Unmarshal(raw, &pair) == nil && len(pair) == 2:
			a, c = pair[0], pair[1]
		default:
			return nil, fmt.Errorf("field model.merges[%d]: want \"a b\" or [\"a\", \"b\"], got %s", i, raw)
		}
		if err := model.addMerge(a, c, i); err != nil {
			return nil, fmt.Errorf("field model.merges[%d]: %w", i, err)
		}
	}
	t.model = model

	if t.normalizer, err = hfNormalizer(f.Normalizer, "normalizer"); err != nil {
		return nil, err
	}
	if t.pre, err = hfPreTokenizer(f.PreTokenizer, "pre_tokenizer"); err != nil {
		return nil, err
	}
	model.byteInput = deferByteLevel(t.pre)
	model.metaSplit = !model.ignoreMerges && canMetaSplit(m.Vocab)
	if t.dec, err = hfDecoder(f.Decoder, "decoder"); err != nil {
		return nil, err
	}
	var raw, normed []addedToken
	for _, a := range f.AddedTokens {
		id := *a.ID
		t.tokens[id] = a.Content
		t.special[id] = a.Special
		t.vocab[a.Content] = id
		at := addedToken{id: id, content: a.Content, lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord}
		if a.Normalized {
			t.normAdded = append(t.normAdded, at)
			if t.normalizer != nil {
				at.content = t.normalizer.normalize(at.content)
				if at.content != a.Content {
					if t.normDecode == nil {
						t.normDecode = map[int]string{}
					}
					t.normDecode[id] = at.content
				}
			}
			normed = append(normed, at)
		} else {
			raw = append(raw, at)
		}
	}
	t.added, t.addedNorm = newAddedMatcher(raw), newAddedMatcher(normed)
	t.legacyPrepend = t.pre == nil && isLegacyPrepend(f.Normalizer)
	if err := t.hfPostProcessor(f.PostProcessor, "post_processor"); err != nil {
		return nil, err
	}
	if len(t.prefix) > 0 {
		t.bos = t.prefix[0]
	}
	if len(t.suffix) > 0 {
		t.eos = t.suffix[len(t.suffix)-1]
	}
	return t, nil
}

// isLegacyPrepend reports whether a normalizer is exactly the Sequence
// [Prepend "▁", Replace " " → "▁"] of early Llama tokenizer.json files.
func isLegacyPrepend(raw json.RawMessage) bool {
	var n struct {
		Type        string `json:"type"`
		Normalizers []struct {
			Type    string     `json:"type"`
			Prepend string     `json:"prepend"`
			Pattern *hfPattern `json:"pattern"`
			Content string     `json:"content"`
		} `json:"normalizers"`
	}
	if json.Unmarshal(raw, &n) != nil || n.Type != "Sequence" || len(n.Normalizers) != 2 {
		return false
	}
	p, r := n.Normalizers[0], n.Normalizers[1]
	return p.Type == "Prepend" && p.Prepend == "▁" && r.Type == "Replace" && r.Pattern != nil &&
		r.Pattern.String != nil && *r.Pattern.String == " " && r.Content == "▁"
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func decodeComponent(raw json.RawMessage, field string) (*hfComponent, error) {
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("field %s: %w", field, err)
	}
	return &c, nil
}

// contentString reads a Replace/Strip "content" that may be a string.
func contentString(c *hfComponent, field string) (string, error) {
	var s string
	if err := json.Unmarshal(c.Content, &s); err != nil {
		return "", fmt.Errorf("field %s.content: want a string, got %s", field, c.Content)
	}
	return s, nil
}

func hfReplace(c *hfComponent, field string) (replace, error) {
	content, err := contentString(c, field)
	if err != nil {
		return replace{}, err
	}
	r := replace{content: content}
	switch {
	case c.Pattern == nil:
		return r, fmt.Errorf("field %s.pattern: missing", field)
	case c.Pattern.String != nil:
		r.literal = *c.Pattern.String
	case c.Pattern.Regex != nil:
		re, err := compileRegex(*c.Pattern.Regex)
		if err != nil {
			return r, fmt.Errorf("field %s.pattern.Regex: %w", field, err)
		}
		r.re = re
	default:
		return r, fmt.Errorf("field %s.pattern: want String or Regex", field)
	}
	return r, nil
}

func hfNormalizer(raw json.RawMessage, field string) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := decodeComponent(raw, field)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Strip":
		return strip{left: c.StripLeft == nil || *c.StripLeft, right: c.StripRight == nil || *c.StripRight}, nil
	case "Prepend":
		return prepend{c.Prepend}, nil
	case "Replace":
		return hfReplace(c, field)
	case "Sequence":
		var q normSequence
		for i, r := range c.Normalizers {
			n, err := hfNormalizer(r, fmt.Sprintf("%s.normalizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("field %s.type: normalizer %q is not supported", field, c.Type)
}

func parseBehavior(s, field string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return behRemoved, nil
	case "Isolated":
		return behIsolated, nil
	case "MergedWithPrevious":
		return behMergedWithPrevious, nil
	case "MergedWithNext":
		return behMergedWithNext, nil
	case "Contiguous":
		return behContiguous, nil
	}
	return 0, fmt.Errorf("field %s.behavior: unknown behavior %q", field, s)
}

func hfPreTokenizer(raw json.RawMessage, field string) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := decodeComponent(raw, field)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		p := &byteLevel{addPrefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			p.split = &splitter{match: fastPatterns[gpt2Pattern], behavior: behIsolated}
		}
		return p, nil
	case "Split":
		b, err := parseBehavior(c.Behavior, field)
		if err != nil {
			return nil, err
		}
		var pat string
		switch {
		case c.Pattern == nil:
			return nil, fmt.Errorf("field %s.pattern: missing", field)
		case c.Pattern.String != nil:
			pat = regexp2.Escape(*c.Pattern.String)
		case c.Pattern.Regex != nil:
			pat = *c.Pattern.Regex
		default:
			return nil, fmt.Errorf("field %s.pattern: want String or Regex", field)
		}
		m, err := newMatcher(pat)
		if err != nil {
			return nil, fmt.Errorf("field %s.pattern: %w", field, err)
		}
		return &splitter{match: m, behavior: b, invert: c.Invert}, nil
	case "Metaspace":
		p := &metaspace{replacement: c.Replacement, scheme: c.PrependScheme, split: c.Split == nil || *c.Split}
		if utf8.RuneCountInString(p.replacement) != 1 {
			return nil, fmt.Errorf("field %s.replacement: want one character, got %q", field, p.replacement)
		}
		if p.scheme == "" {
			p.scheme = "always"
			if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
				p.scheme = "never"
			}
		}
		if p.scheme != "always" && p.scheme != "first" && p.scheme != "never" {
			return nil, fmt.Errorf("field %s.prepend_scheme: unknown scheme %q", field, p.scheme)
		}
		return p, nil
	case "Digits":
		b := behContiguous
		if c.IndividualDigits {
			b = behIsolated
		}
		return &splitter{match: runeMatcher{unicode.IsNumber}, behavior: b}, nil
	case "Punctuation":
		b := behIsolated
		if c.Behavior != "" {
			if b, err = parseBehavior(c.Behavior, field); err != nil {
				return nil, err
			}
		}
		return &splitter{match: runeMatcher{isPunctuation}, behavior: b}, nil
	case "Whitespace":
		re, _ := compileRegex(`\w+|[^\w\s]+`)
		return &splitter{match: regexMatcher{re}, behavior: behRemoved, invert: true}, nil
	case "WhitespaceSplit":
		return &splitter{match: runeMatcher{unicode.IsSpace}, behavior: behRemoved}, nil
	case "BertPreTokenizer":
		return preSequence{
			&splitter{match: runeMatcher{unicode.IsSpace}, behavior: behRemoved},
			&splitter{match: runeMatcher{isPunctuation}, behavior: behIsolated},
		}, nil
	case "Sequence":
		var q preSequence
		for i, r := range c.Pretokenizers {
			p, err := hfPreTokenizer(r, fmt.Sprintf("%s.pretokenizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("field %s.type: pre-tokenizer %q is not supported", field, c.Type)
}

func hfDecoder(raw json.RawMessage, field string) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := decodeComponent(raw, field)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Metaspace":
		r, _ := utf8.DecodeRuneInString(c.Replacement)
		strip := c.PrependScheme != "never"
		if c.PrependScheme == "" && c.AddPrefixSpace != nil {
			strip = *c.AddPrefixSpace
		}
		return metaspaceDecoder{replacement: r, stripFirst: strip}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		s, err := contentString(c, field)
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(s) != 1 {
			return nil, fmt.Errorf("field %s.content: want one character, got %q", field, s)
		}
		r, _ := utf8.DecodeRuneInString(s)
		return stripDecoder{content: r, start: c.Start, stop: c.Stop}, nil
	case "Replace":
		r, err := hfReplace(c, field)
		if err != nil {
			return nil, err
		}
		return replaceDecoder{r}, nil
	case "Sequence":
		var q decSequence
		for i, r := range c.Decoders {
			d, err := hfDecoder(r, fmt.Sprintf("%s.decoders[%d]", field, i))
			if err != nil {
				return nil, err
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("field %s.type: decoder %q is not supported", field, c.Type)
}

// hfPostProcessor reads the special tokens a post-processor adds around a
// single sequence.
func (t *Tokenizer) hfPostProcessor(raw json.RawMessage, field string) error {
	if isNull(raw) {
		return nil
	}
	c, err := decodeComponent(raw, field)
	if err != nil {
		return err
	}
	switch c.Type {
	case "ByteLevel":
		return nil
	case "TemplateProcessing":
		seenSeq := false
		for i, item := range c.Single {
			var it struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct{} `json:"Sequence"`
			}
			if err := json.Unmarshal(item, &it); err != nil {
				return fmt.Errorf("field %s.single[%d]: %w", field, i, err)
			}
			switch {
			case it.Sequence != nil:
				seenSeq = true
			case it.SpecialToken != nil:
				st, ok := c.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("field %s.single[%d]: special token %q is not in special_tokens", field, i, it.SpecialToken.ID)
				}
				for _, id := range st.IDs {
					if id < 0 || id >= len(t.tokens) {
						return fmt.Errorf("field %s.special_tokens[%q]: id %d is outside the vocabulary", field, it.SpecialToken.ID, id)
					}
				}
				if seenSeq {
					t.suffix = append(t.suffix, st.IDs...)
				} else {
					t.prefix = append(t.prefix, st.IDs...)
				}
			default:
				return fmt.Errorf("field %s.single[%d]: want SpecialToken or Sequence", field, i)
			}
		}
		return nil
	case "BertProcessing", "RobertaProcessing":
		var sep, cls struct {
			tok string
			id  int
		}
		for _, p := range []struct {
			raw json.RawMessage
			dst *struct {
				tok string
				id  int
			}
			name string
		}{{c.Sep, &sep, "sep"}, {c.Cls, &cls, "cls"}} {
			var pair []json.RawMessage
			if err := json.Unmarshal(p.raw, &pair); err != nil || len(pair) != 2 || json.Unmarshal(pair[1], &p.dst.id) != nil {
				return fmt.Errorf("field %s.%s: want [token, id], got %s", field, p.name, p.raw)
			}
			if p.dst.id < 0 || p.dst.id >= len(t.tokens) {
				return fmt.Errorf("field %s.%s: id %d is outside the vocabulary", field, p.name, p.dst.id)
			}
		}
		t.prefix, t.suffix = []int{cls.id}, []int{sep.id}
		return nil
	case "Sequence":
		for i, r := range c.Processors {
			if err := t.hfPostProcessor(r, fmt.Sprintf("%s.processors[%d]", field, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("field %s.type: post-processor %q is not supported", field, c.Type)
}
