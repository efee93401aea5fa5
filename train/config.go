// Package train runs preference fine-tuning (DPOP and the DPO family, on
// top of package pref) and supervised fine-tuning of Llama-family models:
// data to token batches, reference log-probs computed once and cached,
// AdamW with clipping, accumulation and schedules, full-parameter or LoRA,
// per-step metrics under TRL's names, atomic checkpoints and exact resume.
//
// A run folder holds config.yaml (every effective setting), data_stats.json
// (rows read, bad rows skipped, prompts and completions truncated),
// metrics.jsonl (one JSON object per optimiser step, and eval rows prefixed
// eval_), checkpoint-N/ folders (weights or adapter, optimiser state, trainer state
// with the data position), the cached reference log-probs, plots, and at the
// end the trained model (a Hugging Face checkpoint or a PEFT adapter).
package train

import (
	"encoding/json"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"os"
	"path/filepath"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"gopkg.in/yaml.v3"
)

// Config is every setting of a run. The yaml names are the command-line
// flag names, so a --config file and the flags say the same things.
type Config struct {
	Mode string `yaml:"mode"` // "pref" (smaug train) or "sft" (smaug sft)

	Model      string `yaml:"model"`
	InitConfig string `yaml:"init-config"` // sft only: start from random weights of this config.json
	RefModel   string `yaml:"ref-model"`
	Tokenizer  string `yaml:"tokenizer"`
	Data       string `yaml:"data"`
	EvalData   string `yaml:"eval-data"`
	Output     string `yaml:"output"`
	Resume     string `yaml:"resume"`

	Loss           string  `yaml:"loss"`
	LossWeights    string  `yaml:"loss-weights"`
	Beta           float64 `yaml:"beta"`
	DPOPLambda     float64 `yaml:"dpop-lambda"`
	LabelSmoothing float64 `yaml:"label-smoothing"`
	SimPOGamma     float64 `yaml:"simpo-gamma"`
	ORPOAlpha      float64 `yaml:"orpo-alpha"`
	PrecomputeRef  bool    `yaml:"precompute-ref"`

	LR             float64 `yaml:"lr"`
	LRSchedule     string  `yaml:"lr-schedule"`
	WarmupSteps    int     `yaml:"warmup-steps"`
	WeightDecay    float64 `yaml:"weight-decay"`
	DecayAllParams bool    `yaml:"decay-all-params"`
	AdamBeta1      float64 `yaml:"adam-beta1"`
	AdamBeta2      float64 `yaml:"adam-beta2"`
	AdamEps        float64 `yaml:"adam-eps"`
	MaxGradNorm    float64 `yaml:"max-grad-norm"`

	BatchSize             int    `yaml:"batch-size"`
	GradAccum             int    `yaml:"grad-accum"`
	MaxSteps              int    `yaml:"max-steps"`
	Epochs                int    `yaml:"epochs"`
	Seed                  uint64 `yaml:"seed"`
	MaxLength             int    `yaml:"max-length"`
	MaxPromptLength       int    `yaml:"max-prompt-length"`
	GroupByLength         bool   `yaml:"group-by-length"`
	SkipBadRows           bool   `yaml:"skip-bad-rows"`
	GradientCheckpointing bool   `yaml:"gradient-checkpointing"`

	LoRAR       int     `yaml:"lora-r"`
	LoRAAlpha   float64 `yaml:"lora-alpha"`
	LoRADropout float64 `yaml:"lora-dropout"`
	LoRATargets string  `yaml:"lora-targets"`
	RSLoRA      bool    `yaml:"rslora"`
	// BaseDType is how frozen weights are held: "F32", or "BF16" for half
	// the memory (the base under LoRA, a reference model kept in memory).
	BaseDType string `yaml:"base-dtype"`

	SaveSteps int `yaml:"save-steps"`
	EvalSteps int `yaml:"eval-steps"`
	// EvalOnStart evaluates once before the first step (step 0), as the HF
	// Trainer's eval_on_start.
	EvalOnStart bool   `yaml:"eval-on-start"`
	SaveDType   string `yaml:"save-dtype"`
	NoProgress  bool   `yaml:"no-progress"`

	// Explicit lists the settings given on the command line or in the
	// config file (the rest are defaults); not saved.
	Explicit []string `yaml:"-"`
}

// Defaults returns the defaults of smaug train (DPOP with the paper's β and
// λ) or, for mode "sft", of smaug sft.
func Defaults(mode string) Config {
	c := Config{
		Mode: mode, Loss: "dpop", Beta: 0.3, DPOPLambda: 50, PrecomputeRef: true,
		LR: 5e-7, LRSchedule: "linear", WarmupSteps: 0, WeightDecay: 0,
		AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEps: 1e-8, MaxGradNorm: 1,
		BatchSize: 4, GradAccum: 1, Epochs: 1, MaxLength: 1024, MaxPromptLength: 512,
		LoRAAlpha: 16, LoRATargets: "q_proj,k_proj,v_proj,o_proj", SaveSteps: 0, SaveDType: "F32", BaseDType: "F32",
		SimPOGamma: 0.5, ORPOAlpha: 0.1,
	}
	if mode == "sft" {
		c.Loss, c.LR = "sft", 2e-5
	}
	return c
}

// Validate reports the first setting that cannot work, naming its flag.
func (c *Config) Validate() error {
	switch {
	case c.Mode != "pref" && c.Mode != "sft":
		return fmt.Errorf("mode %q: want pref or sft", c.Mode)
	case c.Model == "" && c.InitConfig == "" && c.Resume == "":
		return fmt.Errorf("--model is required")
	case c.Model != "" && c.InitConfig != "":
		return fmt.Errorf("--model and --init-config exclude each other")
	case c.InitConfig != "" && c.Mode != "sft":
		return fmt.Errorf("--init-config is for smaug sft only")
	case c.Data == "":
		return fmt.Errorf("--data is required")
	case c.Output == "":
		return fmt.Errorf("--output is required")
	case c.LR < 0:
		return fmt.Errorf("--lr must be ≥ 0, got %v", c.LR)
	case c.BatchSize < 1:
		return fmt.Errorf("--batch-size must be ≥ 1, got %d", c.BatchSize)
	case c.GradAccum < 1:
		return fmt.Errorf("--grad-accum must be ≥ 1, got %d", c.GradAccum)
	case c.MaxSteps < 0:
		return fmt.Errorf("--max-steps must be ≥ 0, got %d", c.MaxSteps)
	case c.MaxSteps == 0 && c.Epochs < 1:
		return fmt.Errorf("--epochs must be ≥ 1 when --max-steps is not set, got %d", c.Epochs)
	case c.MaxLength < 2:
		return fmt.Errorf("--max-length must be ≥ 2, got %d", c.MaxLength)
	case c.MaxPromptLength < 1 || c.MaxPromptLength >= c.MaxLength:
		return fmt.Errorf("--max-prompt-length must be in [1, --max-length), got %d with --max-length %d", c.MaxPromptLength, c.MaxLength)
	case c.MaxGradNorm < 0:
		return fmt.Errorf("--max-grad-norm must be ≥ 0 (0 disables clipping), got %v", c.MaxGradNorm)
	case c.LoRAR < 0:
		return fmt.Errorf("--lora-r must be ≥ 0, got %d", c.LoRAR)
	case c.LoRAR > 0 && c.LoRAAlpha <= 0:
		return fmt.Errorf("--lora-alpha must be > 0, got %v", c.LoRAAlpha)
	case c.LoRADropout < 0 || c.LoRADropout >= 1:
		return fmt.Errorf("--lora-dropout must be in [0, 1), got %v", c.LoRADropout)
	case c.SaveSteps < 0 || c.EvalSteps < 0:
		return fmt.Errorf("--save-steps and --eval-steps must be ≥ 0")
	}
	switch strings.ToUpper(c.BaseDType) {
	case "", "F32": // unset in configs written before the setting existed
		c.BaseDType = "F32"
	case "BF16":
		c.BaseDType = "BF16"
	default:
		return fmt.Errorf("--base-dtype %q: want F32 or BF16", c.BaseDType)
	}
	if c.BaseDType == "BF16" && c.LoRAR == 0 && c.RefModel == "" && c.PrecomputeRef {
		return fmt.Errorf("--base-dtype BF16 holds frozen weights in bfloat16, and this run has none: use it with --lora-r, or with a reference model (--ref-model, or --precompute-ref=false)")
	}
	switch strings.ToUpper(c.SaveDType) {
	case "F32", "BF16", "F16":
		c.SaveDType = strings.ToUpper(c.SaveDType)
	default:
		return fmt.Errorf("--save-dtype %q: want F32, BF16 or F16", c.SaveDType)
	}
	return nil
}

// LoadConfigFile reads a YAML run configuration into a map of flag name to
// value (as text), so the command can apply the entries its flags did not
// set. Unknown keys are reported by the caller, which knows the flags.
func LoadConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]string{}
	for k, v := range raw {
		switch x := v.(type) {
		case nil:
			continue
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			out[k] = strings.Join(parts, ",")
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out, nil
}

// modeOnly are the settings that only one mode has (as flags of its
// command); config.yaml leaves out those of the other mode.
var modeOnly = map[string]string{
	"ref-model": "pref", "loss": "pref", "loss-weights": "pref", "beta": "pref", "dpop-lambda": "pref",
	"label-smoothing": "pref", "simpo-gamma": "pref", "orpo-alpha": "pref", "precompute-ref": "pref",
	"init-config": "sft",
}

// Save writes the effective configuration as YAML into dir/config.yaml,
// keyed by flag name, with only the settings of the run's mode and without
// resume (how this run started, not what it is), so the file given back as
// --config repeats the run from the start.
func (c *Config) Save(dir string) error {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return err
	}
	kept := doc.Content[:0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key := doc.Content[i].Value
		if m, ok := modeOnly[key]; (ok && m != c.Mode) || key == "resume" {
			continue
		}
		kept = append(kept, doc.Content[i], doc.Content[i+1])
	}
	doc.Content = kept
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "config.yaml"), b)
}

// initializerRange is the config's initializer_range, the standard
// deviation transformers draws fresh weights with, or 0 (model.NewRandom's
// default of 0.02) when it is absent or not a positive number.
func initializerRange(c *hf.Config) float64 {
	n, ok := c.Raw["initializer_range"].(json.Number)
	if !ok {
		return 0
	}
	f, err := n.Float64()
	if err != nil || !(f > 0) {
		return 0
	}
	return f
}
