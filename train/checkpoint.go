package train

import (
	"encoding/json"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"os"
	"path/filepath"
	"strconv"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/hf"
)

// SaveCheckpoint writes checkpoint-<step>/ in the run folder: the weights
// (a Hugging Face checkpoint, or the PEFT adapter with LoRA), the optimiser
// moments (optimizer.safetensors), the trainer state (trainer_state.json:
// step, data position, running means, RNG) and the config. It is written
// under a temporary name and renamed, so a kill leaves either the whole
// checkpoint or none. Weights that are not finite (see [DivergedError]) are
// not saved. With Config.SaveTotalLimit, older checkpoints beyond the
// newest SaveTotalLimit are removed after the save.
func (t *Trainer) SaveCheckpoint() error {
	if err := t.checkWeights(); err != nil {
		return err
	}
	name := fmt.Sprintf("checkpoint-%d", t.state.Step)
	final := filepath.Join(t.Cfg.Output, name)
	tmp := filepath.Join(t.Cfg.Output, "."+name+".tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := t.saveWeights(tmp, dtype.F32); err != nil {
		return fmt.Errorf("checkpoint %s: %w", name, err)
	}
	step, m, v := t.opt.State()
	var ts []hf.WriteTensor
	for _, p := range t.params {
		if mm, ok := m[p.Name]; ok {
			ts = append(ts, hf.WriteTensor{Name: "exp_avg." + p.Name, Shape: []int{len(mm)}, Data: mm})
			ts = append(ts, hf.WriteTensor{Name: "exp_avg_sq." + p.Name, Shape: []int{len(v[p.Name])}, Data: v[p.Name]})
		}
	}
	if err := hf.WriteSafetensors(filepath.Join(tmp, "optimizer.safetensors"), ts, map[string]string{"format": "pt", "step": strconv.Itoa(step)}); err != nil {
		return fmt.Errorf("checkpoint %s: %w", name, err)
	}
	st := t.state
	st.DataHash = refCacheKey("", t.train)
	var err error
	if t.lora {
		if st.DropoutRNG, err = t.Policy.DropoutState(); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, "trainer_state.json"), b); err != nil {
		return err
	}
	if err := t.Cfg.Save(tmp); err != nil {
		return err
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	t.kept = true
	fmt.Fprintf(t.log, "saved %s\n", final)
	return rotateCheckpoints(t.Cfg.Output, t.Cfg.SaveTotalLimit, t.logf)
}

// saveWeights writes the policy (or its adapter) into dir.
func (t *Trainer) saveWeights(dir string, d dtype.DType) error {
	if t.lora {
		return t.Policy.SaveAdapter(dir, t.Cfg.Model)
	}
	return t.Policy.Save(dir, d.String(), 5<<30)
}

// FindCheckpoint resolves Config.Resume: a checkpoint folder itself, or a run
// folder, whose highest-numbered checkpoint-N holding trainer_state.json is
// taken (hidden .checkpoint-N.tmp folders, left by a kill during a save,
// are not checkpoints).
func FindCheckpoint(path string) (string, error) {
	if _, err := os.Stat(filepath.Join(path, "trainer_state.json")); err == nil {
		return path, nil
	}
	if _, err := os.ReadDir(path); err != nil {
		return "", fmt.Errorf("resume: %w", err)
	}
	steps := checkpointSteps(path)
	if len(steps) == 0 {
		return "", fmt.Errorf("resume %s: no checkpoint-N folder with trainer_state.json in it", path)
	}
	return filepath.Join(path, fmt.Sprintf("checkpoint-%d", steps[len(steps)-1])), nil
}

// loadCheckpointState restores the optimiser and trainer state (the
// weights were loaded with the policy).
func (t *Trainer) loadCheckpointState(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := json.Unmarshal(b, &t.state); err != nil {
		return fmt.Errorf("resume %s/trainer_state.json: %w", dir, err)
	}
	if h := refCacheKey("", t.train); t.state.DataHash != "" && t.state.DataHash != h {
		return fmt.Errorf("resume %s: the training examples differ from the run's (data hash %s, checkpoint %s): resume with the same examples (data, tokenizer and length limits)", dir, h, t.state.DataHash)
	}
	if t.lora && t.state.DropoutRNG != nil {
		if err := t.Policy.SetDropoutState(t.state.DropoutRNG); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	path := filepath.Join(dir, "optimizer.safetensors")
	f, err := hf.OpenSafetensors(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer f.Close()
	step, err := strconv.Atoi(f.Metadata()["step"])
	if err != nil {
		return fmt.Errorf("resume %s: no optimiser step in the metadata", path)
	}
	m, v := map[string][]float32{}, map[string][]float32{}
	for _, p := range t.params {
		for _, kv := range []struct {
			prefix string
			dst    map[string][]float32
		}{{"exp_avg.", m}, {"exp_avg_sq.", v}} {
			ten, ok := f.Tensor(kv.prefix + p.Name)
			if !ok {
				if step == 0 {
					continue
				}
				return fmt.Errorf("resume %s: missing %s%s", path, kv.prefix, p.Name)
			}
			d, err := ten.Float32()
			if err != nil {
				return fmt.Errorf("resume %s: %w", path, err)
			}
			kv.dst[p.Name] = d
		}
	}
	return t.opt.Load(step, m, v)
}

// saveFinal writes the trained model (or adapter) into the run folder, with
// the tokenizer files of the starting model copied beside it.
func (t *Trainer) saveFinal() error {
	if err := t.checkWeights(); err != nil {
		return err
	}
	t.kept = true
	if err := t.saveWeights(t.Cfg.Output, t.Cfg.SaveDType); err != nil {
		return fmt.Errorf("save %s: %w", t.Cfg.Output, err)
	}
	if src := tokenizerDir(t.Cfg); src != "" {
		if _, err := hf.CopyTokenizerFiles(src, t.Cfg.Output); err != nil {
			return err
		}
	}
	fmt.Fprintf(t.log, "saved the trained %s to %s\n", map[bool]string{true: "adapter", false: "model"}[t.lora], t.Cfg.Output)
	return nil
}

// tokenizerDir is the folder whose tokenizer files go with the trained
// model: Tokenizer's (the folder, or the folder of the file), else the
// starting model's.
func tokenizerDir(c Config) string {
	if c.Tokenizer == "" {
		return c.Model
	}
	if st, err := os.Stat(c.Tokenizer); err == nil && !st.IsDir() {
		return filepath.Dir(c.Tokenizer)
	}
	return c.Tokenizer
}
