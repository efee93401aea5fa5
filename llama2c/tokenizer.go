package llama2c

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Vocab is a llama2.c tokenizer.bin: each token's bytes (with "▁" already
// turned into spaces, and BOS/EOS written "\n<s>\n", "\n</s>\n", as
// llama2.c's tokenizer.py exports them) and its SentencePiece score.
type Vocab struct {
	MaxTokenLen int
	Tokens      []string
	Scores      []float32
}

// ReadVocab reads a llama2.c tokenizer.bin.
func ReadVocab(path string) (*Vocab, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read llama2.c tokenizer: %w", err)
	}
	defer f.Close()
	v, err := readVocab(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read llama2.c tokenizer %s: %w", path, err)
	}
	return v, nil
}

func readVocab(r io.Reader) (*Vocab, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	v := &Vocab{MaxTokenLen: int(binary.LittleEndian.Uint32(hdr[:]))}
	for i := 0; ; i++ {
		var rec [8]byte
		_, err := io.ReadFull(r, rec[:])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("token %d: truncated record: %w", i, err)
		}
		n := binary.LittleEndian.Uint32(rec[4:])
		if int(n) > v.MaxTokenLen {
			return nil, fmt.Errorf("token %d: length %d exceeds the header's max_token_length %d", i, n, v.MaxTokenLen)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("token %d: truncated text: %w", i, err)
		}
		v.Tokens = append(v.Tokens, string(b))
		v.Scores = append(v.Scores, math.Float32frombits(binary.LittleEndian.Uint32(rec[:4])))
	}
	if len(v.Tokens) < 3 {
		return nil, fmt.Errorf("%d tokens: llama2.c needs at least <unk>, <s>, </s>", len(v.Tokens))
	}
	return v, nil
}

// llama2.c's fixed special ids (run.c: BOS 1, EOS 2).
const (
	unkID = 0
	bosID = 1
	eosID = 2
)

// pieces returns the SentencePiece pieces: spaces back to "▁", the special
// tokens under their SentencePiece names.
func (v *Vocab) pieces() []string {
	out := make([]string, len(v.Tokens))
	for i, t := range v.Tokens {
		switch {
		case i == unkID && t == "<unk>":
			out[i] = "<unk>"
		case i == bosID && t == "\n<s>\n":
			out[i] = "<s>"
		case i == eosID && t == "\n</s>\n":
			out[i] = "</s>"
		default:
			out[i] = strings.ReplaceAll(t, " ", "▁")
		}
	}
	return out
}

// merges derives BPE merges from the scores as transformers'
// SentencePieceExtractor does: every split of a piece into two pieces of
// the vocabulary, ordered by the merged piece's score (highest first), then
// by the ids of the two halves.
func merges(pieces []string, scores []float32, vocab map[string]int) [][2]string {
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

// TokenizerJSON returns a Hugging Face tokenizer.json (a byte-fallback BPE
// with a Metaspace pre-tokenizer, as transformers converts Llama's
// SentencePiece model) that encodes and decodes as llama2.c does: a space
// prepended to the text, BOS added, byte tokens for characters outside the
// vocabulary, BOS's leading space stripped on decoding.
func (v *Vocab) TokenizerJSON() ([]byte, error) {
	pieces := v.pieces()
	vocab := make(map[string]int, len(pieces))
	for i, p := range pieces {
		if _, dup := vocab[p]; !dup {
			vocab[p] = i
		}
	}
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var specials []added
	for _, id := range []int{unkID, bosID, eosID} {
		specials = append(specials, added{ID: id, Content: pieces[id], Special: true})
	}
	// vocab as an ordered JSON object (id order, as tokenizers writes it).
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
	bos := pieces[bosID]
	doc := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": specials,
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{
			"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false,
		},
		"post_processor": map[string]any{
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
			"special_tokens": map[string]any{bos: map[string]any{"id": bos, "ids": []int{bosID}, "tokens": []string{bos}}},
		},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": pieces[unkID], "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab":  json.RawMessage(vb.Bytes()),
			"merges": merges(pieces, v.Scores, vocab),
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return b, nil
}

// TokenizerConfigJSON returns the tokenizer_config.json naming the special
// tokens.
func (v *Vocab) TokenizerConfigJSON() []byte {
	p := v.pieces()
	b, _ := json.MarshalIndent(map[string]any{
		"tokenizer_class":              "LlamaTokenizer",
		"bos_token":                    p[bosID],
		"eos_token":                    p[eosID],
		"unk_token":                    p[unkID],
		"add_bos_token":                true,
		"add_eos_token":                false,
		"clean_up_tokenization_spaces": false,
		"legacy":                       false,
	}, "", "  ")
	return b
}
