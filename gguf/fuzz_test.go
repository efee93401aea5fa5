package gguf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen: any bytes give an error or a file whose tensors and metadata
// read without panicking or allocating past the file's size.
func FuzzOpen(f *testing.F) {
	var b bytes.Buffer
	x := synthetic(64, 0)
	q, _ := Quantize(Q8_0, x)
	Write(&b, []KV{{"general.architecture", "llama"}, {"llama.embedding_length", uint32(32)}, {"tokenizer.ggml.tokens", []string{"a", "b"}}},
		[]WriteTensor{{Name: "token_embd.weight", Shape: []int{2, 32}, Type: Q8_0, Data: q}})
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:40])
	f.Add([]byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.gguf")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := Open(p)
		if err != nil {
			return
		}
		defer g.Close()
		for i := range g.Tensors {
			g.Float32(&g.Tensors[i])
		}
		g.HFConfig()
		g.TokenizerFiles()
	})
}
