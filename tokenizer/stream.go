package tokenizer

import "strings"

// StreamDecoder turns ids into text one at a time during generation,
// emitting only complete UTF-8: a character split over several byte tokens
// comes out once its last byte arrives. It keeps a short window of recent
// ids so that decoders that look at context (the leading-space rule of
// SentencePiece-style decoders) give the same text as decoding the whole
// sequence at once. A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int  // window: ids[:prefixIndex] are already emitted context
	prefix      string // Decode(ids[:prefixIndex])
	prefixIndex int
}

// NewStreamDecoder returns a streaming decoder. With skipSpecial, special
// tokens produce no text.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Push adds one id and returns the text that became complete (often "",
// for example in the middle of a multi-byte character).
func (d *StreamDecoder) Push(id int) string {
	if d.prefix == "" && len(d.ids) > 0 {
		if p := d.t.Decode(d.ids, d.skipSpecial); !strings.HasSuffix(p, "\uFFFD") {
			d.prefix, d.prefixIndex = p, len(d.ids)
		}
	}
	d.ids = append(d.ids, id)
	s := d.t.Decode(d.ids, d.skipSpecial)
	if len(s) <= len(d.prefix) || strings.HasSuffix(s, "\uFFFD") || !strings.HasPrefix(s, d.prefix) {
		return ""
	}
	out := s[len(d.prefix):]
	// Keep the ids just emitted as context for the next token.
	d.ids = append(d.ids[:0], d.ids[d.prefixIndex:]...)
	d.prefixIndex = len(d.ids)
	d.prefix = d.t.Decode(d.ids, d.skipSpecial)
	return out
}

// Flush returns whatever text is still pending (incomplete characters come
// out as U+FFFD) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	s := d.t.Decode(d.ids, d.skipSpecial)
	out := ""
	if len(s) > len(d.prefix) && strings.HasPrefix(s, d.prefix) {
		out = s[len(d.prefix):]
	}
	d.ids, d.prefix, d.prefixIndex = nil, "", 0
	return out
}
