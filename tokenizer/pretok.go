package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// preTokenizer cuts normalized text into the words the model encodes one by
// one. atStart tells whether s begins at offset 0 of the original text
// (Metaspace's prepend_scheme "first" depends on it); emit receives each
// word with the same flag for that word.
type preTokenizer interface {
	preTokenize(s string, atStart bool, emit func(w string, atStart bool))
}

// splitBehavior says what happens to the delimiters (matches) of a split.
type splitBehavior int

const (
	behRemoved splitBehavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

// span is a piece of a string and whether it matched the split pattern.
type span struct {
	start, end int
	match      bool
}

// applyBehavior turns the alternating match/non-match spans of s into the
// pieces Hugging Face's SplitDelimiterBehavior produces, dropping empty ones.
func applyBehavior(s string, spans []span, b splitBehavior, invert bool, atStart bool, emit func(string, bool)) {
	if invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	var out []span
	prevMatch := false
	switch b {
	case behRemoved:
		for _, sp := range spans {
			if !sp.match {
				out = append(out, sp)
			}
		}
	case behIsolated:
		out = spans
	case behMergedWithPrevious:
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	case behMergedWithNext:
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = sp.start
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case behContiguous:
		for i, sp := range spans {
			if i > 0 && sp.match == prevMatch {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	}
	for _, sp := range out {
		if sp.end > sp.start {
			emit(s[sp.start:sp.end], atStart && sp.start == 0)
		}
	}
}

// regexSpans returns the matches of re in s and the gaps between them.
func regexSpans(re *regexp2.Regexp, s string) []span {
	idx := findAll(re, s)
	spans := make([]span, 0, 2*len(idx)+1)
	prev := 0
	for _, m := range idx {
		if m[0] > prev {
			spans = append(spans, span{prev, m[0], false})
		}
		spans = append(spans, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), false})
	}
	return spans
}

// runeSpans makes each rune for which f is true a match of its own.
func runeSpans(s string, f func(rune) bool) []span {
	var spans []span
	gap := 0
	for i, r := range s {
		if !f(r) {
			continue
		}
		if i > gap {
			spans = append(spans, span{gap, i, false})
		}
		n := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		spans = append(spans, span{i, i + n, true})
		gap = i + n
	}
	if gap < len(s) {
		spans = append(spans, span{gap, len(s), false})
	}
	return spans
}

// splitter is tokenizer.json's Split pre-tokenizer (and the regex step of
// ByteLevel and Whitespace).
type splitter struct {
	match    matcher
	behavior splitBehavior
	invert   bool
}

func (p *splitter) preTokenize(s string, atStart bool, emit func(string, bool)) {
	applyBehavior(s, p.match.spans(s), p.behavior, p.invert, atStart, emit)
}

// matcher finds the delimiters of a split.
type matcher interface {
	spans(s string) []span
}

type regexMatcher struct{ re *regexp2.Regexp }

func (m regexMatcher) spans(s string) []span { return regexSpans(m.re, s) }

type runeMatcher struct{ f func(rune) bool }

func (m runeMatcher) spans(s string) []span { return runeSpans(s, m.f) }

// byteLevel maps every byte to its GPT-2 stand-in character, optionally
// after adding a leading space and splitting with the GPT-2 regex.
type byteLevel struct {
	addPrefixSpace bool
	split          *splitter // nil when use_regex is false
	// deferred leaves the byte mapping to the model (which then caches by
	// raw word and maps only on a cache miss); set when this is the last
	// pre-tokenization step.
	deferred bool
}

func (p *byteLevel) preTokenize(s string, atStart bool, emit func(string, bool)) {
	if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	enc := byteEncode
	if p.deferred {
		enc = func(w string) string { return w }
	}
	if p.split == nil {
		emit(enc(s), atStart)
		return
	}
	p.split.preTokenize(s, atStart, func(w string, st bool) { emit(enc(w), st) })
}

// deferByteLevel marks a final ByteLevel step of pre as deferred and
// reports whether it did.
func deferByteLevel(pre preTokenizer) bool {
	switch p := pre.(type) {
	case *byteLevel:
		p.deferred = true
		return true
	case preSequence:
		return len(p) > 0 && deferByteLevel(p[len(p)-1])
	}
	return false
}

// metaspace replaces spaces with a visible marker (▁) and optionally
// prepends one and splits before each marker.
type metaspace struct {
	replacement string
	scheme      string // "always", "first" or "never"
	split       bool
}

func (p *metaspace) preTokenize(s string, atStart bool, emit func(string, bool)) {
	s = strings.ReplaceAll(s, " ", p.replacement)
	if !strings.HasPrefix(s, p.replacement) && (p.scheme == "always" || p.scheme == "first" && atStart) {
		s = p.replacement + s
	}
	if !p.split {
		emit(s, atStart)
		return
	}
	r, _ := utf8.DecodeRuneInString(p.replacement)
	applyBehavior(s, runeSpans(s, func(c rune) bool { return c == r }), behMergedWithNext, false, atStart, emit)
}

type preSequence []preTokenizer

func (q preSequence) preTokenize(s string, atStart bool, emit func(string, bool)) {
	q.run(0, s, atStart, emit)
}

func (q preSequence) run(i int, s string, atStart bool, emit func(string, bool)) {
	if i == len(q) {
		emit(s, atStart)
		return
	}
	q[i].preTokenize(s, atStart, func(w string, st bool) { q.run(i+1, w, st, emit) })
}

// isPunctuation is Hugging Face's is_punc: ASCII punctuation or a Unicode
// punctuation character.
func isPunctuation(r rune) bool {
	if r < 128 {
		return r >= '!' && r <= '/' || r >= ':' && r <= '@' || r >= '[' && r <= '`' || r >= '{' && r <= '~'
	}
	return unicode.IsPunct(r)
}

// bytesToUnicode is GPT-2's byte → printable character table.
var bytesToUnicode, unicodeToBytes = func() ([256]string, map[rune]byte) {
	var enc [256]string
	dec := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		enc[b] = string(r)
		dec[r] = byte(b)
	}
	return enc, dec
}()

// byteEncode maps each byte of s to its GPT-2 character.
func byteEncode(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteString(bytesToUnicode[s[i]])
	}
	return b.String()
}
