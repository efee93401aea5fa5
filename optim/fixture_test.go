package optim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// readF32Safetensors reads every tensor of a float32 safetensors file
// (8-byte little-endian header length, JSON header, raw data).
func readF32Safetensors(path string) (map[string][]float32, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("%s: %d bytes, too short", path, len(raw))
	}
	n := binary.LittleEndian.Uint64(raw)
	if n > uint64(len(raw)-8) {
		return nil, fmt.Errorf("%s: header length %d past the end", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	data := raw[8+n:]
	out := map[string][]float32{}
	for name, h := range header {
		if name == "__metadata__" {
			continue
		}
		var info struct {
			Dtype   string   `json:"dtype"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(h, &info); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", path, name, err)
		}
		lo, hi := info.Offsets[0], info.Offsets[1]
		if info.Dtype != "F32" || lo < 0 || hi < lo || hi > int64(len(data)) || (hi-lo)%4 != 0 {
			return nil, fmt.Errorf("%s: tensor %s: dtype %s, offsets %d..%d of %d", path, name, info.Dtype, lo, hi, len(data))
		}
		v := make([]float32, (hi-lo)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[lo+4*int64(i):]))
		}
		out[name] = v
	}
	return out, nil
}

// TestClipGradNormFixture measures the global norm of the DPOP gradients
// that torch computed for the tiny Llama fixture and clips them to 1.0, as
// the fixture's AdamW run does before its first step.
func TestClipGradNormFixture(t *testing.T) {
	path := sharedtest.Path(t, "fixtures/hf/llama/grads_dpop.safetensors")
	expPath := sharedtest.Path(t, "fixtures/hf/llama/expected.json")
	grads, err := readF32Safetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(expPath)
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		GradNorm float64 `json:"grad_norm_dpop"`
		AdamW    struct {
			Clip  float64 `json:"clip"`
			Steps []struct {
				GradNormBeforeClip float64 `json:"grad_norm_before_clip"`
			} `json:"steps"`
		} `json:"adamw"`
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("%s: %v", expPath, err)
	}
	if len(exp.AdamW.Steps) == 0 || exp.GradNorm == 0 {
		t.Fatalf("%s: grad_norm_dpop or adamw.steps missing", expPath)
	}
	names := make([]string, 0, len(grads))
	for name := range grads {
		names = append(names, name)
	}
	sort.Strings(names)
	var params []*Param
	for _, name := range names {
		params = append(params, &Param{Name: name, Grad: grads[name]})
	}
	total := ClipGradNorm(params, exp.AdamW.Clip)
	// grad_norm_dpop is a float64 norm of the same float32 values: 1e-12
	// relative. torch's float32 norm before clipping: 1e-6 relative.
	if math.Abs(total-exp.GradNorm) > 1e-12*exp.GradNorm {
		t.Errorf("norm %.15g, fixture grad_norm_dpop %.15g", total, exp.GradNorm)
	}
	if want := exp.AdamW.Steps[0].GradNormBeforeClip; math.Abs(total-want) > 1e-6*want {
		t.Errorf("norm %.15g, torch's clip_grad_norm_ %.15g", total, want)
	}
	if after := ClipGradNorm(params, 0); math.Abs(after-exp.AdamW.Clip) > 1e-6 {
		t.Errorf("norm after clipping %.9g, want %g", after, exp.AdamW.Clip)
	}
}
