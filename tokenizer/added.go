package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of a tokenizer's added vocabulary.
type addedToken struct {
	id         int
	content    string // the text matched (normalized content for normalized tokens)
	lstrip     bool   // swallow whitespace on the left
	rstrip     bool   // swallow whitespace on the right
	singleWord bool   // match only when not inside a word
}

// addedMatcher finds added tokens in text, leftmost-longest, the way
// Hugging Face tokenizers' Aho-Corasick split does.
type addedMatcher struct {
	first [256][]*addedToken // by first byte, longest content first
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	m := &addedMatcher{}
	for i := range toks {
		t := &toks[i]
		if t.content == "" {
			continue
		}
		b := t.content[0]
		m.first[b] = append(m.first[b], t)
	}
	for b := range m.first {
		sort.SliceStable(m.first[b], func(i, j int) bool {
			return len(m.first[b][i].content) > len(m.first[b][j].content)
		})
	}
	return m
}

// split calls emit for each piece of text in order: id ≥ 0 for an added
// token, id = -1 for the text between tokens. atStart is true for a text
// piece that begins at offset 0. An empty text yields one empty piece.
func (m *addedMatcher) split(text string, emit func(piece string, id int, atStart bool)) {
	if m == nil || text == "" {
		emit(text, -1, true)
		return
	}
	start := 0 // start of the pending text piece
	for i := 0; i < len(text); {
		cands := m.first[text[i]]
		var hit *addedToken
		for _, c := range cands {
			if strings.HasPrefix(text[i:], c.content) {
				hit = c
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		ms, me := i, i+len(hit.content)
		if hit.singleWord {
			startOK := ms == 0 || !endsWithWord(text[:ms])
			stopOK := me == len(text) || !startsWithWord(text[me:])
			if !startOK || !stopOK {
				i = me
				continue
			}
		}
		if hit.lstrip {
			ms = max(len(strings.TrimRightFunc(text[:ms], unicode.IsSpace)), start)
		}
		if hit.rstrip {
			me = len(text) - len(strings.TrimLeftFunc(text[me:], unicode.IsSpace))
		}
		if start < ms {
			emit(text[start:ms], -1, start == 0)
		}
		emit(text[ms:me], hit.id, false)
		start, i = me, me
	}
	if start < len(text) {
		emit(text[start:], -1, start == 0)
	}
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordChar(r)
}
