package tokenizer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder turns token strings back into text pieces (tokenizer.json's
// decode_chain); the pieces are joined at the end.
type decoder interface {
	decode(toks []string) []string
}

// byteLevelDecoder maps GPT-2 stand-in characters back to bytes; invalid
// UTF-8 becomes U+FFFD, one per maximal invalid sequence as Rust's
// from_utf8_lossy does.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decode(toks []string) []string {
	var buf []byte
	for _, t := range toks {
		ok := true
		n := len(buf)
		for _, r := range t {
			b, found := unicodeToBytes[r]
			if !found {
				ok = false
				break
			}
			buf = append(buf, b)
		}
		if !ok {
			buf = append(buf[:n], t...)
		}
	}
	return []string{lossyUTF8(buf)}
}

// lossyUTF8 converts b to a string the way Rust's String::from_utf8_lossy
// does: each maximal prefix of an invalid sequence becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			sb.Write(b[:n])
			b = b[n:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[invalidPrefixLen(b):]
	}
	return sb.String()
}

// invalidPrefixLen returns the length of the maximal prefix of b that could
// start a valid UTF-8 sequence but does not complete one (at least 1).
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}

// metaspaceDecoder turns ▁ back into spaces, dropping those of the first
// token unless the prepend scheme is "never".
type metaspaceDecoder struct {
	replacement rune
	stripFirst  bool
}

func (d metaspaceDecoder) decode(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		var b strings.Builder
		for _, r := range t {
			if r == d.replacement {
				if i == 0 && d.stripFirst {
					continue
				}
				r = ' '
			}
			b.WriteRune(r)
		}
		out[i] = b.String()
	}
	return out
}

// byteFallbackDecoder turns runs of <0xXX> tokens into the text they encode,
// or one U+FFFD per byte when the run is not valid UTF-8.
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decode(toks []string) []string {
	out := make([]string, 0, len(toks))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range toks {
		if b, ok := byteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// byteToken parses a "<0xXX>" token.
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

type fuseDecoder struct{}

func (fuseDecoder) decode(toks []string) []string { return []string{strings.Join(toks, "")} }

// stripDecoder removes up to start leading and stop trailing copies of
// content from each token.
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decode(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		a := 0
		for a < d.start && a < len(rs) && rs[a] == d.content {
			a++
		}
		z := len(rs)
		for k := 0; k < d.stop && z > a && rs[z-1] == d.content; k++ {
			z--
		}
		out[i] = string(rs[a:z])
	}
	return out
}

// replaceDecoder applies a Replace normalizer to each token.
type replaceDecoder struct{ r replace }

func (d replaceDecoder) decode(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = d.r.normalize(t)
	}
	return out
}

type decSequence []decoder

func (q decSequence) decode(toks []string) []string {
	for _, d := range q {
		toks = d.decode(toks)
	}
	return toks
}
