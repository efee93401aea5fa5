package llama2c

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/smaug-dev/smaug/internal/tokjson"
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

// TokenizerJSON returns a Hugging Face tokenizer.json (a byte-fallback BPE
// with a Metaspace pre-tokenizer, as transformers converts Llama's
// SentencePiece model) that encodes and decodes as llama2.c does: a space
// prepended to the text, BOS added, byte tokens for characters outside the
// vocabulary, BOS's leading space stripped on decoding.
func (v *Vocab) TokenizerJSON() ([]byte, error) {
	pieces := v.pieces()
	sp := &tokjson.SentencePiece{Pieces: pieces, Scores: v.Scores, Unk: pieces[unkID], BOS: pieces[bosID]}
	for _, id := range []int{unkID, bosID, eosID} {
		sp.Specials = append(sp.Specials, tokjson.Special{ID: id, Content: pieces[id]})
	}
	return sp.JSON()
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
