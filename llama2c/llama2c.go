// Package llama2c reads the model and tokenizer files of Karpathy's
// llama2.c (the legacy version-0 export and the version 1 (float32) and 2
// (int8, Q8_0 groups) exports, shared or separate classifier; tokenizer.bin)
// and converts them into a Hugging Face Llama folder: config.json,
// safetensors with transformers' names and its rotary layout, and a
// tokenizer.json that tokenises and decodes as llama2.c does.
package llama2c

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// Magic opens the version 1 and 2 exports: "ak42" as a little-endian uint32.
const Magic = 0x616b3432

// headerSize is the padded header of the version 1 and 2 exports.
const headerSize = 256

// Config is a llama2.c model's header.
type Config struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, VocabSize, SeqLen int
	// SharedClassifier says the output layer is the token embedding.
	SharedClassifier bool
	// Version is 0 (legacy header), 1 (float32) or 2 (int8 groups).
	Version int
	// GroupSize is the quantisation group of version 2 (0 otherwise).
	GroupSize int
}

// HeadDim is the size of one attention head.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

func (c Config) validate() error {
	switch {
	case c.Dim <= 0 || c.HiddenDim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.VocabSize <= 0 || c.SeqLen <= 0:
		return fmt.Errorf("header has a non-positive size (dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d, seq_len %d)",
			c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KVHeads, c.VocabSize, c.SeqLen)
	case c.Dim%c.Heads != 0 || c.HeadDim()%2 != 0:
		return fmt.Errorf("header: dim %d is not n_heads %d times an even head size", c.Dim, c.Heads)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("header: n_heads %d is not a multiple of n_kv_heads %d", c.Heads, c.KVHeads)
	case c.Version == 2 && c.GroupSize <= 0:
		return fmt.Errorf("header: version 2 group_size %d must be positive", c.GroupSize)
	}
	return nil
}

// Weights are a llama2.c model's tensors in float32, as llama2.c lays them
// out: matrices [out, in] row-major, one slice per layer, Q and K rows in
// llama2.c's interleaved rotary order.
type Weights struct {
	Config
	Embed             []float32   // [vocab, dim]
	AttnNorm, FFNNorm [][]float32 // per layer [dim]
	WQ, WK, WV, WO    [][]float32 // per layer [dim, dim], [kv_dim, dim], [kv_dim, dim], [dim, dim]
	W1, W2, W3        [][]float32 // per layer gate [hidden, dim], down [dim, hidden], up [hidden, dim]
	FinalNorm         []float32   // [dim]
	Classifier        []float32   // [vocab, dim]; nil when shared
}

// reader reads little-endian values and remembers the first error.
type reader struct {
	r   *bufio.Reader
	err error
	off int64
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.err = fmt.Errorf("at byte %d: file ends before the %d bytes the header implies: %w", r.off, n, err)
		return nil
	}
	r.off += int64(n)
	return b
}

func (r *reader) int32() int {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return int(int32(binary.LittleEndian.Uint32(b)))
}

func (r *reader) f32(n int) []float32 {
	b := r.bytes(4 * n)
	if b == nil {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// q8 reads version 2's quantised tensor: n int8 values, then n/group float32
// scales; value = int8 × scale of its group.
func (r *reader) q8(n, group int) []float32 {
	q := r.bytes(n)
	s := r.f32(n / group)
	if r.err != nil {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(int8(q[i])) * s[i/group]
	}
	return out
}

// ReadCheckpoint reads a llama2.c model file of any version.
func ReadCheckpoint(path string) (*Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read llama2.c model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read llama2.c model: %w", err)
	}
	w, err := readWeights(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, fmt.Errorf("read llama2.c model %s: %w", path, err)
	}
	return w, nil
}

func readWeights(br *bufio.Reader, size int64) (*Weights, error) {
	r := &reader{r: br}
	w := &Weights{}
	c := &w.Config
	first := r.int32()
	if r.err != nil {
		return nil, r.err
	}
	if uint32(first) == Magic {
		c.Version = r.int32()
		if c.Version != 1 && c.Version != 2 {
			return nil, fmt.Errorf("header: version %d is not supported (0, 1 or 2)", c.Version)
		}
		c.Dim = r.int32()
	} else {
		c.Dim = first
	}
	c.HiddenDim, c.Layers, c.Heads, c.KVHeads, c.VocabSize, c.SeqLen = r.int32(), r.int32(), r.int32(), r.int32(), r.int32(), r.int32()
	if c.Version == 0 {
		c.SharedClassifier = c.VocabSize > 0
		if c.VocabSize < 0 {
			c.VocabSize = -c.VocabSize
		}
	} else {
		flag := r.bytes(1)
		c.SharedClassifier = flag != nil && flag[0] != 0
		if c.Version == 2 {
			c.GroupSize = r.int32()
		}
		r.bytes(headerSize - int(r.off))
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if want := c.fileSize(); want != size {
		return nil, fmt.Errorf("file has %d bytes, its header (version %d, dim %d, n_layers %d, vocab_size %d, shared classifier %v) implies %d",
			size, c.Version, c.Dim, c.Layers, c.VocabSize, c.SharedClassifier, want)
	}
	L, dim, kv, hid := c.Layers, c.Dim, c.KVHeads*c.HeadDim(), c.HiddenDim
	layers := func(read func(n int) []float32, n int) [][]float32 {
		out := make([][]float32, L)
		for i := range out {
			out[i] = read(n)
		}
		return out
	}
	f32 := r.f32
	switch c.Version {
	case 0:
		w.Embed = f32(c.VocabSize * dim)
		w.AttnNorm = layers(f32, dim)
		w.WQ, w.WK, w.WV, w.WO = layers(f32, dim*dim), layers(f32, kv*dim), layers(f32, kv*dim), layers(f32, dim*dim)
		w.FFNNorm = layers(f32, dim)
		w.W1, w.W2, w.W3 = layers(f32, hid*dim), layers(f32, dim*hid), layers(f32, hid*dim)
		w.FinalNorm = f32(dim)
		r.bytes(4 * c.SeqLen * c.HeadDim()) // freq_cis_real and freq_cis_imag, recomputed by the model
		if !c.SharedClassifier {
			w.Classifier = f32(c.VocabSize * dim)
		}
	case 1, 2:
		w.AttnNorm, w.FFNNorm, w.FinalNorm = layers(f32, dim), layers(f32, dim), f32(dim)
		read := f32
		if c.Version == 2 {
			read = func(n int) []float32 { return r.q8(n, c.GroupSize) }
		}
		w.Embed = read(c.VocabSize * dim)
		w.WQ, w.WK, w.WV, w.WO = layers(read, dim*dim), layers(read, kv*dim), layers(read, kv*dim), layers(read, dim*dim)
		w.W1, w.W2, w.W3 = layers(read, hid*dim), layers(read, dim*hid), layers(read, hid*dim)
		if !c.SharedClassifier {
			w.Classifier = read(c.VocabSize * dim)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if c.SharedClassifier {
		w.Classifier = nil
	}
	return w, nil
}

// fileSize is the byte size the header implies.
func (c Config) fileSize() int64 {
	L, dim, kv, hid := int64(c.Layers), int64(c.Dim), int64(c.KVHeads*c.HeadDim()), int64(c.HiddenDim)
	vocab := int64(c.VocabSize)
	matrices := vocab*dim + L*(2*dim*dim+2*kv*dim+3*hid*dim)
	if !c.SharedClassifier {
		matrices += vocab * dim
	}
	norms := L*2*dim + dim
	switch c.Version {
	case 0:
		return 28 + 4*(matrices+norms) + 4*int64(c.SeqLen)*int64(c.HeadDim())
	case 1:
		return headerSize + 4*(matrices+norms)
	default:
		g := int64(c.GroupSize)
		for _, n := range c.quantised() {
			if n%g != 0 {
				return -1
			}
		}
		return headerSize + 4*norms + matrices + 4*matrices/g
	}
}

// quantised lists the sizes of version 2's quantised tensors.
func (c Config) quantised() []int64 {
	dim, kv, hid := int64(c.Dim), int64(c.KVHeads*c.HeadDim()), int64(c.HiddenDim)
	out := []int64{int64(c.VocabSize) * dim, dim * dim, kv * dim, hid * dim}
	return out
}
