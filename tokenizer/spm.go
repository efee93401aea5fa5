package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// SentencePiece piece types (sentencepiece_model.proto).
const (
	pieceNormal      = 1
	pieceUnknown     = 2
	pieceControl     = 3
	pieceUserDefined = 4
	pieceUnused      = 5
	pieceByte        = 6
)

// spmModel is the score-ordered BPE of SentencePiece: the adjacent pair
// whose concatenation is the highest-scoring piece merges first (leftmost on
// ties). It serves both the sentencepiece library's behaviour (.model files)
// and llama.cpp's (GGUF "llama" vocabularies).
type spmModel struct {
	pieces map[string]int // pieces a merge may produce
	ids    map[string]int // every piece → id (PieceToId)
	scores []float32
	types  []int32
	unk    int // -1 when none
	// byteFallback spells pieces that are not in the vocabulary as <0xXX>
	// byte pieces.
	byteFallback bool
	byteIDs      [256]int
	// user holds the user-defined pieces, which are never merged or split
	// (sentencepiece only; llama.cpp splits them off beforehand).
	user *addedMatcher
	// llamaCpp selects llama.cpp's resolution of the final symbols: a
	// symbol that is not a token becomes byte tokens, unk is never emitted.
	llamaCpp bool
}

type spmSymbol struct {
	start, end int
	prev, next int
	freeze     bool
}

func (m *spmModel) encodeWord(text string, out []int) []int {
	syms := make([]spmSymbol, 0, len(text))
	for i := 0; i < len(text); {
		n, freeze := m.prefixLen(text[i:])
		syms = append(syms, spmSymbol{start: i, end: i + n, prev: len(syms) - 1, next: len(syms) + 1, freeze: freeze})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	var revMerge map[string][2]string
	h := make(mergeHeap, 0, len(syms))
	tryAdd := func(l, r int) {
		if l < 0 || r < 0 || syms[l].freeze || syms[r].freeze {
			return
		}
		piece := text[syms[l].start:syms[r].end]
		id, ok := m.pieces[piece]
		if !ok {
			return
		}
		h.push(candidate{key: -float64(m.scores[id]), left: int32(l), right: int32(r), size: int32(len(piece))})
		if m.types[id] == pieceUnused {
			if revMerge == nil {
				revMerge = map[string][2]string{}
			}
			revMerge[piece] = [2]string{text[syms[l].start:syms[l].end], text[syms[r].start:syms[r].end]}
		}
	}
	for i := 1; i < len(syms); i++ {
		tryAdd(i-1, i)
	}
	for len(h) > 0 {
		c := h.pop()
		l, r := &syms[c.left], &syms[c.right]
		if l.start == l.end || r.start == r.end || int32(l.end-l.start+r.end-r.start) != c.size {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = int(c.left)
		}
		r.start, r.end = 0, 0
		tryAdd(l.prev, int(c.left))
		tryAdd(int(c.left), l.next)
	}
	prevUnk := false
	var emit func(piece string)
	emit = func(piece string) {
		id, ok := m.ids[piece]
		if m.llamaCpp {
			if ok {
				out = append(out, id)
				return
			}
			for j := 0; j < len(piece); j++ {
				if b := m.byteIDs[piece[j]]; b >= 0 {
					out = append(out, b)
				}
			}
			return
		}
		if ok && m.types[id] == pieceUnused {
			if p, found := revMerge[piece]; found {
				emit(p[0])
				emit(p[1])
				return
			}
		}
		if !ok {
			id = m.unk
		}
		if id == m.unk && m.byteFallback {
			for j := 0; j < len(piece); j++ {
				out = append(out, m.byteIDs[piece[j]])
			}
			prevUnk = false
			return
		}
		if id == m.unk && prevUnk {
			return // sentencepiece merges runs of unknown pieces
		}
		if id >= 0 {
			out = append(out, id)
		}
		prevUnk = id == m.unk
	}
	for i := 0; i >= 0; i = syms[i].next {
		emit(text[syms[i].start:syms[i].end])
	}
	return out
}

// prefixLen returns the length of the first symbol of s: a user-defined
// piece (frozen) or one UTF-8 character (one byte when invalid).
func (m *spmModel) prefixLen(s string) (int, bool) {
	if m.user != nil {
		for _, c := range m.user.first[s[0]] {
			if strings.HasPrefix(s, c.content) {
				return len(c.content), true
			}
		}
	}
	return utf8Len(s), false
}

// utf8Len is the byte length of the first character of s as sentencepiece
// and llama.cpp count it: the length announced by the lead byte, capped at
// len(s); a stray continuation byte counts as one.
func utf8Len(s string) int {
	c := s[0]
	n := 1
	switch {
	case c >= 0xF0:
		n = 4
	case c >= 0xE0:
		n = 3
	case c >= 0xC0:
		n = 2
	}
	return min(n, len(s))
}

// spmNormalizer is SentencePiece's identity normalization: optional removal
// of extra spaces, a dummy "▁" prefix, and spaces written as "▁".
type spmNormalizer struct {
	addDummyPrefix bool
	removeExtra    bool
	escape         bool
	suffix         bool // treat_whitespace_as_suffix
}

func (n spmNormalizer) normalize(s string) string {
	if n.removeExtra {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
	}
	if s == "" {
		return s
	}
	if n.addDummyPrefix {
		if n.suffix {
			s += " "
		} else {
			s = " " + s
		}
	}
	if n.escape {
		s = strings.ReplaceAll(s, " ", "▁")
	}
	return s
}

// spmDecoder is the sentencepiece library's decoding: control pieces vanish,
// byte pieces are reassembled into UTF-8 (U+FFFD per invalid byte), "▁"
// becomes a space, and the space of the first piece is dropped.
type spmDecoder struct {
	ids        map[string]int
	types      []int32
	unkSurface string
	stripFirst bool
}

func (d spmDecoder) decode(toks []string) []string {
	var b strings.Builder
	var pending []byte
	first := true // the dummy-prefix space is dropped from the first text piece only
	flush := func() {
		if len(pending) > 0 {
			first = false
		}
		for len(pending) > 0 {
			r, n := decodeRuneStrict(pending)
			if r < 0 {
				b.WriteString("\uFFFD")
				n = 1
			} else {
				b.Write(pending[:n])
			}
			pending = pending[n:]
		}
	}
	for _, t := range toks {
		id, ok := d.ids[t]
		if !ok {
			continue
		}
		switch d.types[id] {
		case pieceByte:
			if v, ok := byteToken(t); ok {
				pending = append(pending, v)
			}
			continue
		case pieceControl:
			flush()
			continue
		}
		flush()
		if d.types[id] == pieceUnknown {
			b.WriteString(d.unkSurface)
			continue
		}
		if first && d.stripFirst {
			t = strings.TrimPrefix(t, "▁")
		}
		first = false
		b.WriteString(strings.ReplaceAll(t, "▁", " "))
	}
	flush()
	return []string{b.String()}
}

// decodeRuneStrict decodes one UTF-8 character from b, returning -1 when b
// does not start with a complete, valid one.
func decodeRuneStrict(b []byte) (rune, int) {
	n := invalidPrefixLen(b)
	need := 0
	switch c := b[0]; {
	case c < 0x80:
		return rune(c), 1
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c >= 0xE0 && c <= 0xEF:
		need = 3
	case c >= 0xF0 && c <= 0xF4:
		need = 4
	}
	if need == 0 || n != need {
		return -1, 1
	}
	return 0, need
}

// LoadSentencePiece reads a SentencePiece .model file (a serialized
// ModelProto) of a BPE model. Encode matches the sentencepiece library's
// own encoding, which differs from a converted tokenizer.json on text that
// starts with a space.
func LoadSentencePiece(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := parseSentencePiece(b)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return t, nil
}

type spmProto struct {
	pieces []struct {
		piece string
		score float32
		typ   int32
	}
	modelType      int64
	byteFallback   bool
	treatAsSuffix  bool
	unkID          int64
	bosID          int64
	eosID          int64
	padID          int64
	unkSurface     string
	normName       string
	charsmap       []byte
	addDummyPrefix bool
	removeExtra    bool
	escape         bool
}

// protoFields calls f for each field of a protobuf message.
func protoFields(b []byte, where string, f func(num protowire.Number, typ protowire.Type, v uint64, bytes []byte) error) error {
	for off := 0; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: byte %d: bad field tag: %w", where, off, protowire.ParseError(n))
		}
		b, off = b[n:], off+n
		var v uint64
		var data []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%s: byte %d: field %d: %w", where, off, num, protowire.ParseError(n))
		}
		b, off = b[n:], off+n
		if err := f(num, typ, v, data); err != nil {
			return fmt.Errorf("%s: field %d: %w", where, num, err)
		}
	}
	return nil
}

func parseSentencePieceProto(b []byte) (*spmProto, error) {
	p := &spmProto{modelType: 1, bosID: 1, eosID: 2, padID: -1, unkSurface: " \u2047 ",
		addDummyPrefix: true, removeExtra: true, escape: true}
	err := protoFields(b, "ModelProto", func(num protowire.Number, _ protowire.Type, _ uint64, data []byte) error {
		switch num {
		case 1:
			var pc struct {
				piece string
				score float32
				typ   int32
			}
			pc.typ = pieceNormal
			err := protoFields(data, fmt.Sprintf("pieces[%d]", len(p.pieces)), func(num protowire.Number, _ protowire.Type, v uint64, data []byte) error {
				switch num {
				case 1:
					pc.piece = string(data)
				case 2:
					pc.score = math.Float32frombits(uint32(v))
				case 3:
					pc.typ = int32(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			p.pieces = append(p.pieces, pc)
		case 2:
			return protoFields(data, "trainer_spec", func(num protowire.Number, _ protowire.Type, v uint64, data []byte) error {
				switch num {
				case 3:
					p.modelType = int64(v)
				case 24:
					p.treatAsSuffix = v != 0
				case 35:
					p.byteFallback = v != 0
				case 40:
					p.unkID = int64(int32(v))
				case 41:
					p.bosID = int64(int32(v))
				case 42:
					p.eosID = int64(int32(v))
				case 43:
					p.padID = int64(int32(v))
				case 44:
					p.unkSurface = string(data)
				}
				return nil
			})
		case 3:
			return protoFields(data, "normalizer_spec", func(num protowire.Number, _ protowire.Type, v uint64, data []byte) error {
				switch num {
				case 1:
					p.normName = string(data)
				case 2:
					p.charsmap = data
				case 3:
					p.addDummyPrefix = v != 0
				case 4:
					p.removeExtra = v != 0
				case 5:
					p.escape = v != 0
				}
				return nil
			})
		}
		return nil
	})
	return p, err
}

func parseSentencePiece(b []byte) (*Tokenizer, error) {
	p, err := parseSentencePieceProto(b)
	if err != nil {
		return nil, err
	}
	if p.modelType != 2 {
		name := map[int64]string{1: "UNIGRAM", 3: "WORD", 4: "CHAR"}[p.modelType]
		if name == "" {
			name = fmt.Sprint(p.modelType)
		}
		return nil, fmt.Errorf("trainer_spec.model_type: model type %s is not supported (only BPE is)", name)
	}
	if len(p.charsmap) > 0 {
		return nil, fmt.Errorf("normalizer_spec: normalization %q (a precompiled character map) is not supported; only identity is", p.normName)
	}
	if len(p.pieces) == 0 {
		return nil, errors.New("ModelProto: no pieces")
	}
	m := &spmModel{
		pieces:       map[string]int{},
		ids:          make(map[string]int, len(p.pieces)),
		scores:       make([]float32, len(p.pieces)),
		types:        make([]int32, len(p.pieces)),
		unk:          -1,
		byteFallback: p.byteFallback,
	}
	t := &Tokenizer{bos: -1, eos: -1, pad: -1, tokens: make([]string, len(p.pieces)), special: make([]bool, len(p.pieces))}
	var user []addedToken
	for i, pc := range p.pieces {
		if _, dup := m.ids[pc.piece]; dup {
			return nil, fmt.Errorf("pieces[%d]: piece %q appears twice", i, pc.piece)
		}
		if pc.typ < pieceNormal || pc.typ > pieceByte {
			return nil, fmt.Errorf("pieces[%d]: unknown piece type %d", i, pc.typ)
		}
		m.ids[pc.piece] = i
		m.scores[i] = pc.score
		m.types[i] = pc.typ
		t.tokens[i] = pc.piece
		switch pc.typ {
		case pieceNormal, pieceUnused:
			m.pieces[pc.piece] = i
		case pieceUserDefined:
			m.pieces[pc.piece] = i
			user = append(user, addedToken{id: i, content: pc.piece})
		case pieceUnknown:
			m.unk = i
		case pieceControl:
			t.special[i] = true
		}
	}
	if m.unk < 0 {
		return nil, errors.New("pieces: no piece of type UNKNOWN")
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := m.ids[fmt.Sprintf("<0x%02X>", b)]; ok && m.types[id] == pieceByte {
			m.byteIDs[b] = id
		} else if p.byteFallback {
			return nil, fmt.Errorf("pieces: byte_fallback is set but byte piece <0x%02X> is missing", b)
		}
	}
	if len(user) > 0 {
		m.user = newAddedMatcher(user)
	}
	t.vocab = m.ids
	t.model = m
	t.normalizer = spmNormalizer{addDummyPrefix: p.addDummyPrefix, removeExtra: p.removeExtra, escape: p.escape, suffix: p.treatAsSuffix}
	t.dec = spmDecoder{ids: m.ids, types: m.types, unkSurface: p.unkSurface, stripFirst: p.addDummyPrefix || p.removeExtra}
	inRange := func(id int64) int {
		if id >= 0 && id < int64(len(p.pieces)) {
			return int(id)
		}
		return -1
	}
	t.bos, t.eos, t.pad = inRange(p.bosID), inRange(p.eosID), inRange(p.padID)
	if t.bos >= 0 {
		t.prefix = []int{t.bos}
	}
	return t, nil
}
