package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The split patterns of GPT-2, Llama-3 and Qwen2 (as tokenizer.json and
// llama.cpp write them) are matched by a hand-written scanner that follows
// the backtracking engine's leftmost-first alternation exactly; any other
// pattern goes to regexp2. TestFastMatcherAgreesWithRegexp2 checks the two
// agree on random text.
const (
	patLlama3HF = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patQwen2HF  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// fastPattern describes one member of the GPT-2 pattern family.
type fastPattern struct {
	llama3     bool // Llama-3 shape: [^\r\n\p{L}\p{N}]?\p{L}+ and newline handling
	foldCase   bool // contractions match case-insensitively
	maxDigits  int  // \p{N}{1,maxDigits}; 0 means \p{N}+ (with an optional space, GPT-2)
	trailingWS bool // ends with the catch-all \s+ alternative
}

var fastPatterns = map[string]fastPattern{
	gpt2Pattern:           {trailingWS: true},
	patLlama3HF:           {llama3: true, foldCase: true, maxDigits: 3, trailingWS: true},
	patQwen2HF:            {llama3: true, foldCase: true, maxDigits: 1, trailingWS: true},
	reLlama3[0]:           {llama3: true, foldCase: true, maxDigits: 3, trailingWS: true},
	reQwen2[0]:            {llama3: true, foldCase: true, maxDigits: 1, trailingWS: true},
	reGPT2[0]:             {},
	reStar[1]:             {},
	ggufPre["default"][1]: {},
}

// newMatcher returns the matcher for a split pattern: the fast scanner
// when the pattern is a known one, regexp2 otherwise.
func newMatcher(pat string) (matcher, error) {
	if fp, ok := fastPatterns[pat]; ok {
		return fp, nil
	}
	re, err := compileRegex(pat)
	if err != nil {
		return nil, err
	}
	return regexMatcher{re}, nil
}

func isL(r rune) bool {
	return r < 128 && (r|0x20 >= 'a' && r|0x20 <= 'z') || r >= 128 && unicode.IsLetter(r)
}

func isN(r rune) bool { return r >= '0' && r <= '9' || r >= 128 && unicode.IsNumber(r) }

func isS(r rune) bool {
	if r < 128 {
		return r == ' ' || r >= '\t' && r <= '\r'
	}
	return unicode.IsSpace(r)
}

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

func (p fastPattern) spans(s string) []span {
	spans := make([]span, 0, len(s)/3+1)
	gap := 0
	for i := 0; i < len(s); {
		n := p.matchAt(s, i)
		if n == 0 {
			_, sz := utf8.DecodeRuneInString(s[i:])
			i += sz
			continue
		}
		if i > gap {
			spans = append(spans, span{gap, i, false})
		}
		spans = append(spans, span{i, i + n, true})
		i += n
		gap = i
	}
	if gap < len(s) {
		spans = append(spans, span{gap, len(s), false})
	}
	return spans
}

// at decodes the rune at i, returning -1 at the end of s.
func at(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of runes satisfying f starting at i.
func run(s string, i int, f func(rune) bool) int {
	for {
		r, n := at(s, i)
		if n == 0 || !f(r) {
			return i
		}
		i += n
	}
}

// runMax is run limited to max runes.
func runMax(s string, i int, f func(rune) bool, max int) int {
	for k := 0; k < max; k++ {
		r, n := at(s, i)
		if n == 0 || !f(r) {
			return i
		}
		i += n
	}
	return i
}

// contraction returns the length of 's|'t|'re|'ve|'m|'ll|'d at i, or 0.
func (p fastPattern) contraction(s string, i int) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	lower := func(b byte) byte {
		if p.foldCase && b >= 'A' && b <= 'Z' {
			return b + 32
		}
		return b
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// matchAt returns the length of the match starting at i (0 for none).
func (p fastPattern) matchAt(s string, i int) int {
	if n := p.contraction(s, i); n > 0 {
		return n
	}
	c, cn := at(s, i)
	if p.llama3 {
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if isL(c) {
			return run(s, i, isL) - i
		}
		if c != '\r' && c != '\n' && !isN(c) {
			if r, _ := at(s, i+cn); r >= 0 && isL(r) {
				return run(s, i+cn, isL) - i
			}
		}
		// \p{N}{1,k}
		if isN(c) {
			return runMax(s, i, isN, p.maxDigits) - i
		}
		//  ?[^\s\p{L}\p{N}]+[\r\n]*
		j := i
		if c == ' ' {
			j++
		}
		if r, _ := at(s, j); r >= 0 && isOther(r) {
			j = run(s, j, isOther)
			return run(s, j, func(r rune) bool { return r == '\r' || r == '\n' }) - i
		}
	} else {
		//  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
		j := i
		if c == ' ' {
			j++
		}
		if r, _ := at(s, j); r >= 0 {
			for _, f := range []func(rune) bool{isL, isN, isOther} {
				if f(r) {
					return run(s, j, f) - i
				}
			}
		}
	}
	if !isS(c) {
		return 0
	}
	end := run(s, i, isS)
	if p.llama3 {
		// \s*[\r\n]+ : ends after the last newline of the whitespace run.
		for k := end - 1; k >= i; k-- {
			if s[k] == '\r' || s[k] == '\n' {
				return k + 1 - i
			}
		}
	}
	// \s+(?!\S) then \s+
	if end == len(s) {
		return end - i
	}
	_, last := utf8.DecodeLastRuneInString(s[:end])
	if end-last > i {
		return end - last - i
	}
	if p.trailingWS {
		return end - i
	}
	return 0
}
