package model

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/tensor"
)

// LoadOptions are the settings of a load; the zero value is Load's.
type LoadOptions struct {
	// Frozen loads every parameter frozen: a reference model, or the base
	// under a LoRA adapter.
	Frozen bool
	// BF16 holds the matrices (embeddings, projections, output layer) of a
	// frozen model as bfloat16, half the memory of float32: exactly the
	// checkpoint's values when it is stored in BF16, rounded to nearest even
	// otherwise. Norm weights and biases stay float32. It needs Frozen.
	//
	// The BF16 matrices of a BF16 checkpoint are not copied: they are read
	// in place from the memory-mapped safetensors files (pages the kernel
	// shares with its file cache and can drop and re-read), which stay
	// mapped until Model.Close; the files must not be rewritten in place
	// meanwhile (writers that replace a file by renaming, as smaug's do, are
	// safe).
	BF16 bool
	// Warn receives each warning about the checkpoint, as transformers logs
	// them: tensors the model does not use (more layers than
	// num_hidden_layers, unknown names), settings run differently from
	// transformers. Nil drops them; the library never prints.
	Warn func(msg string)
}

// Load reads a Hugging Face checkpoint folder (config.json and a single or
// sharded safetensors file, in F32, BF16 or F16) into a float32 model with
// every parameter trainable, dropping warnings (LoadOptions.Load has a
// hook for them).
func Load(dir string) (*Model, error) { return LoadOptions{}.Load(dir) }

// LoadFrozen reads a checkpoint like Load for use without training its
// weights (LoadOptions Frozen, with BF16 = bf16; see there).
func LoadFrozen(dir string, bf16 bool) (*Model, error) {
	return LoadOptions{Frozen: true, BF16: bf16}.Load(dir)
}

// Load reads the checkpoint folder dir. Before anything is allocated,
// config.json must pass CheckConfig and the checkpoint's tensor table must
// hold every parameter the config calls for with the shape it implies: a
// config asking for more layers than the files hold fails at once, naming
// num_hidden_layers. Tensors the model does not use are reported through
// Warn.
func (o LoadOptions) Load(dir string) (*Model, error) {
	if o.BF16 && !o.Frozen {
		return nil, fmt.Errorf("load %s: bfloat16 weights are for frozen models only (LoadOptions.BF16 needs Frozen)", dir)
	}
	warn := o.Warn
	if warn == nil {
		warn = func(string) {}
	}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	m, mapped, err := o.load(ck, warn)
	if err != nil {
		ck.Close()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if mapped {
		m.mapped = ck
	} else {
		ck.Close()
	}
	return m, nil
}

func (o LoadOptions) load(ck *hf.Checkpoint, warn func(string)) (m *Model, mapped bool, err error) {
	c := ck.Config
	a, err := checkConfig(c, warn)
	if err != nil {
		return nil, false, err
	}
	ps, err := checkTable(ck, a, warn)
	if err != nil {
		return nil, false, err
	}
	m, err = build(c, a, ps, func(name string, shape []int) (*tensor.Tensor, error) {
		t, err := ck.Tensor(name)
		if err != nil {
			return nil, err
		}
		out, inPlace, err := o.convert(t, shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		mapped = mapped || inPlace
		return out, nil
	})
	return m, mapped, err
}

// convert makes a model tensor of a checkpoint tensor, reporting whether
// it reads the mapped file in place.
func (o LoadOptions) convert(t *hf.Tensor, shape []int) (*tensor.Tensor, bool, error) {
	if o.BF16 && len(shape) == 2 {
		if bits, ok := mappedBF16(t); ok {
			return tensor.FromBF16(bits, shape...), true, nil
		}
	}
	data, err := t.Float32()
	if err != nil {
		return nil, false, err
	}
	switch {
	case !o.Frozen:
		return tensor.NewParam(data, shape...), false, nil
	case o.BF16 && len(shape) == 2:
		// Not mapped in place: through float32 (exact for BF16 bits).
		return tensor.FromBF16(tensor.ToBF16(data), shape...), false, nil
	}
	return tensor.FromData(data, shape...), false, nil
}

// checkTable compares the checkpoint's tensor table with the parameters
// a calls for under ck.Config, reading only the headers: first the number
// of layers (so a config asking for a billion layers fails before the
// parameter list is made), then every name and shape. Tensors no parameter
// uses are reported through warn. It returns the parameter list.
func checkTable(ck *hf.Checkpoint, a Arch, warn func(string)) ([]ParamShape, error) {
	c := ck.Config
	names := ck.Names()
	layers := map[int]bool{} // the layer indices the tensors name
	extra := 0               // tensors of layers past num_hidden_layers
	for _, n := range names {
		if i, ok := layerIndex(n); ok {
			layers[i] = true
			if i >= c.NumHiddenLayers {
				extra++
			}
		}
	}
	if len(layers)-extraLayers(layers, c.NumHiddenLayers) < c.NumHiddenLayers {
		first := 0
		for layers[first] {
			first++
		}
		return nil, c.FieldError("num_hidden_layers", "%d layers, but the checkpoint holds no tensor of layer %d (it has tensors of %d layers)",
			c.NumHiddenLayers, first, len(layers))
	}
	ps := a.Params(c)
	used := make(map[string]bool, len(ps))
	for _, p := range ps {
		t, err := ck.Tensor(p.Name)
		if err != nil {
			return nil, fmt.Errorf("%w (config.json calls for it)", err)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("tensor %s has shape %v, config.json implies %v", p.Name, t.Shape, p.Shape)
		}
		used[p.Name] = true
	}
	if n := extraLayers(layers, c.NumHiddenLayers); n > 0 {
		warn(fmt.Sprintf("%s holds %d more layers than config.json's num_hidden_layers %d: their %d tensors are not used",
			ck.Dir, n, c.NumHiddenLayers, extra))
	}
	var unused []string
	for _, n := range names {
		if i, ok := layerIndex(n); (!ok || i < c.NumHiddenLayers) && !used[n] {
			unused = append(unused, n)
		}
	}
	if len(unused) > 0 {
		const show = 10
		list := strings.Join(unused[:min(len(unused), show)], ", ")
		if len(unused) > show {
			list += fmt.Sprintf(" and %d more", len(unused)-show)
		}
		warn(fmt.Sprintf("%s: tensors not used by %s (%d): %s", ck.Dir, c.Architecture(), len(unused), list))
	}
	return ps, nil
}

// extraLayers counts the layer indices at or past n.
func extraLayers(layers map[int]bool, n int) int {
	k := 0
	for i := range layers {
		if i >= n {
			k++
		}
	}
	return k
}

// layerIndex returns i for a name model.layers.i.…
func layerIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, layerPrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ".")
	i, err := strconv.Atoi(num)
	return i, ok && err == nil && i >= 0
}

// mappedBF16 views a BF16 tensor's bytes in the mapped file as bfloat16
// bits, where the machine is little-endian and the bytes are 2-aligned.
func mappedBF16(t *hf.Tensor) ([]uint16, bool) {
	n := t.NumElements()
	if t.DType != "BF16" || n == 0 || len(t.Data) != 2*n || !littleEndian ||
		uintptr(unsafe.Pointer(&t.Data[0]))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), n), true
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
