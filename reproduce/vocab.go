package reproduce

// The embedded default model's vocabulary: id 0 is <s> (BOS), 1 is </s>
// (EOS), byte b is id 2+b, and the merged tokens TrainBPE learns follow.

const (
	byteBOS    = 0
	byteEOS    = 1
	byteOffset = 2
	byteVocab  = 258 // specials and bytes
)

// gpt2ByteChars is GPT-2's byte-to-unicode map used by byte-level BPE.
func gpt2ByteChars() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// byteTokenizerConfig is the tokenizer_config.json beside it.
func byteTokenizerConfig() []byte {
	return []byte(`{
  "add_bos_token": true,
  "add_eos_token": false,
  "bos_token": "<s>",
  "eos_token": "</s>",
  "model_max_length": 512,
  "tokenizer_class": "PreTrainedTokenizerFast"
}
`)
}
