// Package tokjson writes Hugging Face tokenizer.json files for vocabularies
// that come from other formats (llama2.c's tokenizer.bin, GGUF's
// tokenizer.ggml.*): SentencePiece-style byte-fallback BPE from pieces and
// scores, and byte-level BPE from tokens and merges.
package tokjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Special is an added (special) token.
type Special struct {
	ID      int
	Content string
}

// SentencePiece describes a SentencePiece-style vocabulary.
type SentencePiece struct {
	// Pieces are the vocabulary texts by id ("▁" for spaces, "<0x0A>" for
	// byte tokens).
	Pieces []string
	// Scores are SentencePiece's scores: higher merges first.
	Scores []float32
	// Specials are the control tokens (unk, bos, eos, ...).
	Specials []Special
	// Unk is the unknown piece ("" for none); BOS the piece the
	// post-processor prepends ("" for none).
	Unk, BOS string
}

// Merges derives BPE merges from the scores as transformers'
// SentencePieceExtractor does: every split of a piece into two pieces of
// the vocabulary, ordered by the merged piece's score (highest first), then
// by the ids of the two halves.
func Merges(pieces []string, scores []float32) [][2]string {
	vocab := vocabOf(pieces)
	type m struct {
		l, r  string
		score float32
	}
	order := make([]int, len(pieces))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	var all []m
	for _, id := range order {
		p := pieces[id]
		if vocab[p] != id {
			continue
		}
		var local []m
		runes := []rune(p)
		for k := 1; k < len(runes); k++ {
			l, r := string(runes[:k]), string(runes[k:])
			if _, ok := vocab[l]; !ok {
				continue
			}
			if _, ok := vocab[r]; !ok {
				continue
			}
			local = append(local, m{l, r, scores[id]})
		}
		sort.SliceStable(local, func(a, b int) bool {
			if vocab[local[a].l] != vocab[local[b].l] {
				return vocab[local[a].l] < vocab[local[b].l]
			}
			return vocab[local[a].r] < vocab[local[b].r]
		})
		all = append(all, local...)
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].score > all[b].score })
	out := make([][2]string, len(all))
	for i, x := range all {
		out[i] = [2]string{x.l, x.r}
	}
	return out
}

// vocabOf maps each piece to its first id.
func vocabOf(pieces []string) map[string]int {
	vocab := make(map[string]int, len(pieces))
	for i, p := range pieces {
		if _, dup := vocab[p]; !dup {
			vocab[p] = i
		}
	}
	return vocab
}

// orderedVocab writes the vocabulary as a JSON object in id order, as
// tokenizers writes it.
func orderedVocab(pieces []string) json.RawMessage {
	vocab := vocabOf(pieces)
	var vb bytes.Buffer
	vb.WriteByte('{')
	for i, p := range pieces {
		if vocab[p] != i {
			continue
		}
		if vb.Len() > 1 {
			vb.WriteByte(',')
		}
		k, _ := json.Marshal(p)
		fmt.Fprintf(&vb, "%s:%d", k, i)
	}
	vb.WriteByte('}')
	return vb.Bytes()
}

type addedJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

func added(specials []Special) []addedJSON {
	out := []addedJSON{}
	for _, s := range specials {
		out = append(out, addedJSON{ID: s.ID, Content: s.Content, Special: true})
	}
	return out
}

// bosProcessor is a TemplateProcessing post-processor prepending bos (nil
// when bos is "").
func bosProcessor(bos string, id int) any {
	if bos == "" {
		return nil
	}
	return map[string]any{
		"type": "TemplateProcessing",
		"single": []any{
			map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}},
			map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
		},
		"pair": []any{
			map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}},
			map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
			map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 1}},
			map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
		},
		"special_tokens": map[string]any{bos: map[string]any{"id": bos, "ids": []int{id}, "tokens": []string{bos}}},
	}
}

// JSON returns the tokenizer.json of a SentencePiece-style vocabulary: a
// byte-fallback BPE with merges from the scores and a Metaspace
// pre-tokenizer, as transformers converts Llama's SentencePiece model (a
// space prepended to the text, BOS added when BOS is set, BOS's leading
// space stripped on decoding).
func (s *SentencePiece) JSON() ([]byte, error) {
	if len(s.Scores) != len(s.Pieces) {
		return nil, fmt.Errorf("tokenizer.json: %d pieces but %d scores", len(s.Pieces), len(s.Scores))
	}
	var unk any
	if s.Unk != "" {
		unk = s.Unk
	}
	doc := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added(s.Specials),
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{
			"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false,
		},
		"post_processor": bosProcessor(s.BOS, vocabOf(s.Pieces)[s.BOS]),
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": unk, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab":  orderedVocab(s.Pieces),
			"merges": Merges(s.Pieces, s.Scores),
		},
	}
	return marshal(doc)
}

func marshal(doc any) ([]byte, error) {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return b, nil
}

// ByteLevel describes a byte-level BPE vocabulary (GPT-2 style).
type ByteLevel struct {
	// Tokens are the vocabulary texts by id in GPT-2's byte-to-unicode
	// alphabet; Merges the merge rules in rank order.
	Tokens []string
	Merges [][2]string
	// Split is the pre-tokenizer's regex; "" uses ByteLevel's own GPT-2
	// regex.
	Split string
	// Specials are the control tokens; BOS the token the post-processor
	// prepends ("" for none).
	Specials []Special
	BOS      string
	// IgnoreMerges looks a whole pre-token up in the vocabulary before
	// merging (Llama 3).
	IgnoreMerges bool
}

// JSON returns the tokenizer.json of a byte-level BPE vocabulary.
func (b *ByteLevel) JSON() ([]byte, error) {
	var pre any = map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	if b.Split != "" {
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": b.Split}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}}
	}
	doc := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added(b.Specials),
		"normalizer":     nil,
		"pre_tokenizer":  pre,
		"post_processor": bosProcessor(b.BOS, vocabOf(b.Tokens)[b.BOS]),
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": b.IgnoreMerges,
			"vocab":  orderedVocab(b.Tokens),
			"merges": b.Merges,
		},
	}
	return marshal(doc)
}
