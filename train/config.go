// Package train runs preference fine-tuning (DPOP and the DPO family, on
// top of package pref) and supervised fine-tuning of Llama-family models:
// data to token batches, reference log-probs computed once and cached,
// AdamW with clipping, accumulation and schedules, full-parameter or LoRA,
// per-step metrics under TRL's names, atomic checkpoints and exact resume.
//
// A [Config] is made of typed parts owned by other packages: the loss
// ([pref.Spec]), the optimiser and schedule ([optim.Settings]), the adapter
// ([model.LoRAConfig]) and storage formats ([dtype.DType]). [Defaults] is
// the one place that fills them; callers change the fields they want. [New]
// builds a trainer from model folders or from an in-memory [model.Model]
// and in-memory [Example]s; [Trainer.Run] trains (cancellable through its
// context, leaving a resumable checkpoint) and [Trainer.Step] does a
// single optimiser step for callers that drive their own loop.
//
// A run folder holds config.yaml (every effective setting), data_stats.json
// (rows read, bad rows skipped, prompts and completions truncated),
// metrics.jsonl (one JSON object per optimiser step, and eval rows prefixed
// eval_), checkpoint-N/ folders (weights or adapter, optimiser state, trainer state
// with the data position), the cached reference log-probs, plots, and at the
// end the trained model (a Hugging Face checkpoint or a PEFT adapter).
// A run folder belongs to one run: [New] refuses one that holds another
// run, a model, or is an input's folder ([RunFolderError]), and locks it
// ([LockFile]) while the trainer uses it; a step that produces non-finite
// numbers stops the run ([DivergedError]) and such weights are never saved.
//
// Guard rails: [CheckMemory] estimates a run's peak memory before anything
// is loaded (package memplan), [CheckData] and [FormatExample] check and
// show the examples (example.txt), the health monitor raises alarms during
// training (health/… metrics; [HealthConfig]), samples.jsonl holds greedy
// generations at every evaluation ([SamplesConfig]), and [TokenCache]
// keeps tokenised data so that it is not tokenised twice.
package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/optim"
	"github.com/smaug-dev/smaug/pref"
	"gopkg.in/yaml.v3"
)

// Mode is the kind of training: preference pairs or supervised completions.
type Mode string

// The training modes.
const (
	// Preference trains on prompt/chosen/rejected pairs with a [pref.Spec]
	// loss (smaug train).
	Preference Mode = "pref"
	// SFT maximises the likelihood of completions (smaug sft).
	SFT Mode = "sft"
)

// Config is every setting of a run, as values: the trainer applies no
// defaults of its own and never changes a Config. Start from [Defaults].
type Config struct {
	// Mode selects the preference or the supervised trainer.
	Mode Mode

	// Model is the Hugging Face folder to start from; empty when the
	// starting model is given in memory ([Options].Policy) or is drawn at
	// random from InitConfig.
	Model string
	// InitConfig (SFT only) is a config.json to draw random starting
	// weights from.
	InitConfig string
	// RefModel (Preference only) is the reference model's folder; empty
	// means the starting weights (with LoRA, the base with the adapter off).
	RefModel string
	// Tokenizer is the folder (or file) whose tokenizer files are copied
	// next to the trained model; empty means Model's.
	Tokenizer string
	// Data and EvalData record where the examples came from (config.yaml
	// repeats a run with them); the trainer takes the examples themselves
	// from [Options].
	Data, EvalData string
	// PromptTemplate and ChatTemplate record how text rows were formatted
	// (a package promptfmt template; the chat template applied to text rows
	// too), for config.yaml; see [LoadOptions].
	PromptTemplate string
	ChatTemplate   bool
	// Output is the run folder. It must be new, empty, or (with
	// OverwriteOutput) a folder to empty first; required unless Resume is
	// set, whose run folder it then is (see [RunFolder]).
	Output string
	// OverwriteOutput empties an Output that holds another run or other
	// files before the run starts (TRL's overwrite_output_dir). A model
	// folder, or an Output holding an input of the run, is refused all the
	// same.
	OverwriteOutput bool
	// Resume is a checkpoint folder, or a run folder whose latest
	// checkpoint is taken, to continue from.
	Resume string

	// Loss is the preference loss (Preference only), built by
	// [pref.ParseSpec], which owns the per-loss defaults of β and λ.
	Loss pref.Spec
	// PrecomputeRef computes the reference log-probs once and caches them
	// in the run folder; otherwise the reference is scored at every step.
	PrecomputeRef bool

	// Optim are the optimiser and learning-rate schedule settings.
	Optim optim.Settings

	// BatchSize is the number of examples per micro-batch.
	BatchSize int
	// GradAccum is the number of micro-batches per optimiser step.
	GradAccum int
	// MaxSteps is the number of optimiser steps; 0 means Epochs passes.
	MaxSteps int
	// Epochs is the number of passes over the data when MaxSteps is 0.
	Epochs int
	// Seed seeds the data order, LoRA initialisation, dropout and random
	// starting weights.
	Seed uint64
	// MaxLength and MaxPromptLength are the token limits the examples were
	// truncated to (recorded in config.yaml; see [LoadOptions]).
	MaxLength, MaxPromptLength int
	// GroupByLength batches examples of similar length together.
	GroupByLength bool
	// SkipBadRows records whether bad data rows were skipped (see
	// [LoadOptions]).
	SkipBadRows bool
	// GradientCheckpointing recomputes activations in the backward.
	GradientCheckpointing bool
	// NoSharePrefix runs every sequence whole instead of running each
	// prefix common to several sequences of a batch (a pair's prompt) once
	// (model.Model.NoSharePrefix); the results are the same.
	NoSharePrefix bool
	// PaddingFree fills each micro-batch by a token budget instead of
	// BatchSize examples (TRL's padding_free; model.Model.TokenBatches):
	// examples join a batch in the epoch's order while the positions the
	// model runs for it stay within TokenBudget().
	PaddingFree bool
	// MaxTokensPerBatch is the token budget of a padding-free micro-batch;
	// 0 means that of BatchSize examples of MaxLength tokens (see
	// TokenBudget).
	MaxTokensPerBatch int

	// LoRA is the adapter to train; LoRA.R == 0 means full fine-tuning.
	LoRA model.LoRAConfig
	// BaseDType is how frozen weights are held: F32, or BF16 for half the
	// memory (the base under LoRA, a reference model kept in memory).
	BaseDType dtype.DType
	// SaveDType is the storage format of the saved model.
	SaveDType dtype.DType
	// ComputeDType is the precision of the models' matrix products
	// (model.Model.ComputeDType), the policy's and the reference's: F32, or
	// BF16 as torch autocast computes them — bfloat16-rounded operands of
	// every projection, LoRA and output-layer product (forward and
	// backward), float32 sums; weights, gradients, AdamW and everything
	// else stay float32.
	ComputeDType dtype.DType

	// SaveSteps writes a checkpoint every SaveSteps steps and at the end
	// (0: only the final model).
	SaveSteps int
	// SaveTotalLimit keeps only the newest SaveTotalLimit checkpoints,
	// removing older ones after each save (0: keep all), as TRL's
	// save_total_limit.
	SaveTotalLimit int
	// EvalSteps evaluates every EvalSteps steps (0: at the end only).
	EvalSteps int
	// LoggingSteps is how often, in optimiser steps, a progress line is
	// written to [Options].Log (0: never); metrics.jsonl has every step.
	LoggingSteps int
	// EvalOnStart evaluates once before the first step (step 0), as the HF
	// Trainer's eval_on_start.
	EvalOnStart bool

	// Health are the thresholds of the alarms raised while training.
	Health HealthConfig
	// Samples are the greedy generations made at every evaluation.
	Samples SamplesConfig
}

// Default learning rates of each mode.
const (
	// DefaultPreferenceLR is the DPOP paper's learning rate.
	DefaultPreferenceLR = 5e-7
	// DefaultSFTLR is TRL's SFTConfig.learning_rate.
	DefaultSFTLR = 2e-5
)

// Defaults returns the defaults of a mode, the only defaults of a run: for
// Preference, DPOP with the paper's β 0.3 and λ 50 (from [pref.ParseSpec])
// and learning rate 5e-7; for SFT, learning rate 2e-5. The command line
// starts from the same values.
func Defaults(mode Mode) Config {
	lr := DefaultPreferenceLR
	if mode == SFT {
		lr = DefaultSFTLR
	}
	spec, err := pref.ParseSpec("dpop", "")
	if err != nil {
		panic(err) // a fixed, valid spec
	}
	return Config{
		Mode: mode, Loss: spec, PrecomputeRef: true,
		Optim:     optim.DefaultSettings(lr),
		BatchSize: 4, GradAccum: 1, Epochs: 1, MaxLength: 1024, MaxPromptLength: 512, LoggingSteps: 10,
		LoRA:      model.LoRAConfig{Alpha: 16, Targets: []string{"q_proj", "k_proj", "v_proj", "o_proj"}},
		BaseDType: dtype.F32, SaveDType: dtype.F32, ComputeDType: dtype.F32,
		Health: DefaultHealth,
	}
}

// TokenBudget is the budget of a PaddingFree micro-batch in positions the
// model runs: MaxTokensPerBatch, or when 0 BatchSize·MaxLength (twice that
// for preference pairs, a chosen and a rejected sequence each).
func (c Config) TokenBudget() int {
	if c.MaxTokensPerBatch > 0 {
		return c.MaxTokensPerBatch
	}
	if c.Mode == Preference {
		return 2 * c.BatchSize * c.MaxLength
	}
	return c.BatchSize * c.MaxLength
}

// Validate reports the first setting that cannot work, naming its field.
// It does not change the Config.
func (c Config) Validate() error {
	switch {
	case c.Mode != Preference && c.Mode != SFT:
		return fmt.Errorf("Mode %q: want %q or %q", c.Mode, Preference, SFT)
	case c.Model != "" && c.InitConfig != "":
		return fmt.Errorf("Model and InitConfig exclude each other")
	case c.InitConfig != "" && c.Mode != SFT:
		return fmt.Errorf("InitConfig is for SFT only")
	case c.RefModel != "" && c.Mode != Preference:
		return fmt.Errorf("RefModel is for preference training only")
	case c.Output == "" && c.Resume == "":
		return fmt.Errorf("Output (the run folder) is required")
	case c.BatchSize < 1:
		return fmt.Errorf("BatchSize must be ≥ 1, got %d", c.BatchSize)
	case c.GradAccum < 1:
		return fmt.Errorf("GradAccum must be ≥ 1, got %d", c.GradAccum)
	case c.MaxSteps < 0:
		return fmt.Errorf("MaxSteps must be ≥ 0, got %d", c.MaxSteps)
	case c.MaxSteps == 0 && c.Epochs < 1:
		return fmt.Errorf("Epochs must be ≥ 1 when MaxSteps is 0, got %d", c.Epochs)
	case c.MaxLength < 2:
		return fmt.Errorf("MaxLength must be ≥ 2, got %d", c.MaxLength)
	case c.MaxPromptLength < 1 || c.MaxPromptLength >= c.MaxLength:
		return fmt.Errorf("MaxPromptLength must be in [1, MaxLength), got %d with MaxLength %d", c.MaxPromptLength, c.MaxLength)
	case c.LoRA.R < 0:
		return fmt.Errorf("LoRA.R must be ≥ 0, got %d", c.LoRA.R)
	case c.LoRA.R > 0 && !(c.LoRA.Alpha > 0):
		return fmt.Errorf("LoRA.Alpha must be > 0, got %v", c.LoRA.Alpha)
	case !(c.LoRA.Dropout >= 0 && c.LoRA.Dropout < 1):
		return fmt.Errorf("LoRA.Dropout must be in [0, 1), got %v", c.LoRA.Dropout)
	case c.SaveSteps < 0 || c.EvalSteps < 0:
		return fmt.Errorf("SaveSteps and EvalSteps must be ≥ 0, got %d and %d", c.SaveSteps, c.EvalSteps)
	case c.SaveTotalLimit < 0 || c.LoggingSteps < 0:
		return fmt.Errorf("SaveTotalLimit and LoggingSteps must be ≥ 0, got %d and %d", c.SaveTotalLimit, c.LoggingSteps)
	case c.MaxTokensPerBatch < 0:
		return fmt.Errorf("MaxTokensPerBatch must be ≥ 0, got %d", c.MaxTokensPerBatch)
	case c.MaxTokensPerBatch > 0 && !c.PaddingFree:
		return fmt.Errorf("MaxTokensPerBatch is the budget of PaddingFree batches: set PaddingFree too")
	}
	if err := c.Optim.Validate(); err != nil {
		return err
	}
	if err := c.Health.Validate(); err != nil {
		return err
	}
	if err := c.Samples.Validate(); err != nil {
		return err
	}
	if c.Mode == Preference {
		if err := c.Loss.Validate(); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		v    dtype.DType
		ok   []dtype.DType
	}{{"BaseDType", c.BaseDType, []dtype.DType{dtype.F32, dtype.BF16}}, {"SaveDType", c.SaveDType, []dtype.DType{dtype.F32, dtype.BF16, dtype.F16}},
		{"ComputeDType", c.ComputeDType, []dtype.DType{dtype.F32, dtype.BF16}}} {
		found := false
		for _, o := range d.ok {
			found = found || d.v == o
		}
		if !found {
			return fmt.Errorf("%s %v: want one of %v", d.name, d.v, d.ok)
		}
	}
	if c.BaseDType == dtype.BF16 && c.LoRA.R == 0 && (c.Mode == SFT || c.RefModel == "" && c.PrecomputeRef) {
		return fmt.Errorf("BaseDType BF16 holds frozen weights in bfloat16, and this run has none: use it with LoRA.R, or with a reference model (RefModel, or PrecomputeRef false)")
	}
	return nil
}

// setting is one config.yaml entry.
type setting struct {
	key   string
	value any
	mode  Mode // the only mode that has it; "" for both
}

// settings lists the entries of config.yaml in order, keyed by the names of
// smaug train's and smaug sft's flags, so the file given back as --config
// repeats the run.
func (c Config) settings() []setting {
	return []setting{
		{"mode", string(c.Mode), ""},
		{"model", c.Model, ""}, {"init-config", c.InitConfig, SFT}, {"ref-model", c.RefModel, Preference},
		{"tokenizer", c.Tokenizer, ""}, {"data", c.Data, ""}, {"eval-data", c.EvalData, ""},
		{"prompt-template", c.PromptTemplate, ""}, {"chat-template", c.ChatTemplate, ""}, {"output", c.Output, ""},
		{"loss", strings.Join(c.Loss.Losses, ","), Preference}, {"loss-weights", joinFloats(c.Loss.Weights), Preference},
		{"beta", c.Loss.Beta, Preference}, {"dpop-lambda", c.Loss.DPOPLambda, Preference},
		{"label-smoothing", c.Loss.LabelSmoothing, Preference}, {"simpo-gamma", c.Loss.SimPOGamma, Preference},
		{"orpo-alpha", c.Loss.ORPOAlpha, Preference}, {"precompute-ref", c.PrecomputeRef, Preference},
		{"lr", c.Optim.LR, ""}, {"lr-schedule", c.Optim.Schedule, ""}, {"warmup-steps", c.Optim.WarmupSteps, ""},
		{"warmup-ratio", c.Optim.WarmupRatio, ""},
		{"weight-decay", c.Optim.WeightDecay, ""}, {"decay-all-params", c.Optim.DecayAllParams, ""},
		{"adam-beta1", c.Optim.Beta1, ""}, {"adam-beta2", c.Optim.Beta2, ""}, {"adam-eps", c.Optim.Eps, ""},
		{"max-grad-norm", c.Optim.MaxGradNorm, ""},
		{"batch-size", c.BatchSize, ""}, {"grad-accum", c.GradAccum, ""}, {"max-steps", c.MaxSteps, ""},
		{"epochs", c.Epochs, ""}, {"seed", c.Seed, ""}, {"max-length", c.MaxLength, ""},
		{"max-prompt-length", c.MaxPromptLength, ""}, {"group-by-length", c.GroupByLength, ""},
		{"skip-bad-rows", c.SkipBadRows, ""}, {"gradient-checkpointing", c.GradientCheckpointing, ""},
		{"no-share-prefix", c.NoSharePrefix, ""}, {"padding-free", c.PaddingFree, ""}, {"max-tokens-per-batch", c.MaxTokensPerBatch, ""},
		{"lora-r", c.LoRA.R, ""}, {"lora-alpha", c.LoRA.Alpha, ""}, {"lora-dropout", c.LoRA.Dropout, ""},
		{"lora-targets", strings.Join(c.LoRA.Targets, ","), ""}, {"rslora", c.LoRA.RSLoRA, ""},
		{"base-dtype", c.BaseDType.String(), ""}, {"compute-dtype", c.ComputeDType.String(), ""},
		{"save-steps", c.SaveSteps, ""}, {"save-total-limit", c.SaveTotalLimit, ""}, {"eval-steps", c.EvalSteps, ""},
		{"logging-steps", c.LoggingSteps, ""}, {"eval-on-start", c.EvalOnStart, ""},
		{"save-dtype", c.SaveDType.String(), ""},
		{"alarm-chosen-drop", c.Health.ChosenDrop, Preference}, {"alarm-stuck-steps", c.Health.StuckSteps, Preference},
		{"max-skipped-steps", c.Health.MaxSkippedSteps, ""},
		{"sample-prompts", c.Samples.Prompts, ""}, {"sample-max-new-tokens", c.Samples.MaxNewTokens, ""},
	}
}

func joinFloats(fs []float64) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// LoadConfigFile reads a YAML run configuration into a map of setting name
// to value (as text), so the command can apply the entries its flags did not
// set. Unknown keys are reported by the caller, which knows the flags.
func LoadConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
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

// Save writes the configuration as YAML into dir/config.yaml, keyed by
// setting name (the flag names of smaug train and smaug sft), with only the
// settings of the run's mode and without Resume and OverwriteOutput (how
// this run started, not what it is), so the file given back as --config repeats the run from the
// start.
func (c Config) Save(dir string) error {
	doc := yaml.Node{Kind: yaml.MappingNode}
	for _, s := range c.settings() {
		if s.mode != "" && s.mode != c.Mode {
			continue
		}
		var k, v yaml.Node
		k.SetString(s.key)
		if err := v.Encode(s.value); err != nil {
			return fmt.Errorf("config.yaml: %s: %w", s.key, err)
		}
		doc.Content = append(doc.Content, &k, &v)
	}
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
