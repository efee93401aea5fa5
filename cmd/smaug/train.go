package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/pref"
	"github.com/smaug-dev/smaug/promptfmt"
	"github.com/smaug-dev/smaug/report"
	"github.com/smaug-dev/smaug/tokenizer"
	"github.com/smaug-dev/smaug/train"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	rootCmd.AddCommand(newTrainCmd(train.Preference))
	rootCmd.AddCommand(newTrainCmd(train.SFT))
}

func newTrainCmd(mode train.Mode) *cobra.Command {
	cfg := train.Defaults(mode)
	// The settings the command resolves before the library sees them: the
	// loss list and the β and λ that default per loss (pref.ParseSpec).
	var configFile, loss, lossWeights, loraTargets string
	var beta, dpopLambda, rpoAlpha float64
	var noProgress, usePEFT bool
	var guard guardFlags
	cmd := &cobra.Command{Args: cobra.NoArgs}
	if mode == train.Preference {
		cmd.Use = "train"
		cmd.Short = "Preference fine-tuning with DPOP and the DPO family (full or LoRA)"
		cmd.Long = `Fine-tune a Llama-family model on prompt/chosen/rejected pairs.

The default loss is DPO-Positive (DPOP, Pal et al. 2024, Eq. 3):

    −log σ(β [ (ρ_w − ρ_l) − λ·max(0, −ρ_w) ]),  ρ = log π_θ(y|x) − log π_ref(y|x)

with the paper's β = 0.3 and λ = 50 (other losses default to TRL's β = 0.1
and no DPOP penalty). The penalty keeps the chosen completion's
log-prob from falling below the reference, DPO's failure mode on pairs that
differ in a few tokens. Other losses (TRL names): dpo, ipo, hinge, robust,
cdpo, exo_pair, nca_pair, bco_pair, sppo_hard, apo_zero, apo_down, sft,
simpo, orpo; combine them with --loss dpo,sft --loss-weights 1,0.2.

Data (JSONL or parquet): prompt/chosen/rejected as strings (formatted by
--prompt-template: raw by default, gsm8k for "Question: …\nAnswer:" and " "
before completions, or a Jinja string) or message lists (rendered with the
model's chat template as TRL does; --chat-template for strings too), or
prompt_ids/chosen_ids/rejected_ids. The reference log-probs (of --ref-model, or of the starting
weights, or with LoRA of the base with the adapter off) are computed once
and cached in the output folder.

The output folder receives config.yaml, metrics.jsonl (TRL metric names),
PNG plots, checkpoint-N/ folders (--save-steps), and the final model (or
PEFT adapter with --lora-r). --resume continues a killed run exactly, with
the settings saved in its checkpoint, in the folder the checkpoint is in
(wherever the run was moved or copied); Ctrl-C (SIGINT) or SIGTERM finishes the
step in progress, saves a checkpoint and stops. Every flag can also be given in a
YAML file (--config), keyed by flag name; a run's config.yaml repeats it.

A run folder belongs to one run: an --output holding another run is refused
(--overwrite-output-dir empties it first), as are a model folder, an --output
inside --model or --ref-model, and a folder another smaug train is using (its
pid is named). A step whose loss or gradient is NaN or infinite stops the run
("diverged at step N: lower the learning rate"); weights that are not finite
are never saved, and the last finite checkpoint stays.

When stderr is not a terminal (CI, nohup, a notebook) the bar gives way to
log lines: a start block (model, parameters, data, truncation, memory), one
line every --logging-steps steps (step, loss, margin, chosen/rejected
log-probs, lr, tok/s, ETA) and an end block (time, final metrics, files).

` + trlAliasHelp
		cmd.Example = `  smaug train --model ./base --data pairs.jsonl --output runs/dpop --max-steps 200
  smaug train --model ./base --data pairs.parquet --output runs/lora --lora-r 16 --lora-alpha 32 --lora-targets q_proj,v_proj
  smaug train --model ./base-bf16 --data pairs.jsonl --output runs/lora --lora-r 16 --base-dtype BF16   # half the base's memory
  smaug train --config run.yaml
  smaug train --resume runs/dpop          # continue a killed run with its saved settings
  smaug train --model ./base --data pairs.jsonl --output runs/dpop --overwrite-output-dir --save-steps 100 --save-total-limit 2
  smaug train --config runs/dpop/config.yaml --output runs/dpop-seed1 --seed 1
  smaug train --model_name_or_path ./base --data pairs.jsonl --output_dir runs/trl --loss_type sigmoid --learning_rate 5e-7 --use_peft
  smaug train --model ./base --data pairs.jsonl --output runs/x --dry-run   # memory estimate, and what would fit`
	} else {
		cmd.Use = "sft"
		cmd.Short = "Supervised fine-tuning on prompt/completion or text rows"
		cmd.Long = `Fine-tune a Llama-family model (or a fresh one from --init-config) to
maximise the likelihood of completions: the loss is the mean negative
log-likelihood over completion tokens (prompt tokens are not trained on).

Data (JSONL or parquet): prompt/completion (strings or message lists),
text, messages, or prompt_ids/completion_ids; text is formatted by
--prompt-template and --chat-template as in smaug train. The run folder, the
logs without a terminal and the TRL/transformers names are as for smaug
train.`
		cmd.Example = `  smaug sft --model ./base --data sft.jsonl --output runs/sft --epochs 3
  smaug sft --init-config tiny/config.json --tokenizer tiny/tokenizer.json --data text.jsonl --output runs/scratch --lr 1e-3`
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file of settings keyed by flag name (flags given on the command line win)")
	f.StringVar(&cfg.Model, "model", cfg.Model, "Hugging Face model folder to start from")
	if mode == train.SFT {
		f.StringVar(&cfg.InitConfig, "init-config", "", "start from random weights of this config.json instead of --model")
	} else {
		f.StringVar(&cfg.RefModel, "ref-model", "", "reference model folder (default: the starting weights; with LoRA the base with the adapter off)")
		f.StringVar(&loss, "loss", strings.Join(cfg.Loss.Losses, ","), "loss or comma-separated losses: "+strings.Join(pref.Names(), ", "))
		f.StringVar(&lossWeights, "loss-weights", "", "comma-separated weights of the losses (default 1 each)")
		f.Float64Var(&beta, "beta", 0, fmt.Sprintf("β, the temperature of the preference losses (default %g with dpop, %g otherwise)", pref.DefaultDPOPBeta, pref.DefaultBeta))
		f.Float64Var(&dpopLambda, "dpop-lambda", 0, fmt.Sprintf("λ of DPOP (default %d with dpop, 0 otherwise); set it with another loss to add the DPOP penalty to that loss", pref.DefaultDPOPLambda))
		f.Float64Var(&cfg.Loss.LabelSmoothing, "label-smoothing", cfg.Loss.LabelSmoothing, "ε for robust, cdpo and exo_pair")
		f.Float64Var(&cfg.Loss.SimPOGamma, "simpo-gamma", cfg.Loss.SimPOGamma, "γ, SimPO's target margin")
		f.Float64Var(&cfg.Loss.ORPOAlpha, "orpo-alpha", cfg.Loss.ORPOAlpha, "α, ORPO's odds-ratio weight")
		f.Float64Var(&rpoAlpha, "rpo-alpha", 0, "α of RPO (TRL rpo_alpha): adds α × the chosen completion's mean token NLL (the sft loss) to the loss")
		f.BoolVar(&cfg.PrecomputeRef, "precompute-ref", cfg.PrecomputeRef, "compute reference log-probs once and cache them (no reference weights in memory while training)")
	}
	f.StringVar(&cfg.Tokenizer, "tokenizer", "", "tokenizer (tokenizer.json, .model, .gguf or folder; default: the model folder) for text data")
	f.StringVar(&cfg.Data, "data", "", "training data: JSONL or parquet (required)")
	f.StringVar(&cfg.PromptTemplate, "prompt-template", "", promptTemplateUsage)
	f.BoolVar(&cfg.ChatTemplate, "chat-template", false, chatTemplateUsage)
	f.StringVar(&cfg.EvalData, "eval-data", "", "evaluation data in the same layout; its metrics are logged with the eval_ prefix")
	f.StringVar(&cfg.Output, "output", "", "run folder (required unless --resume): new or empty; a folder holding another run is refused unless --overwrite-output-dir")
	f.BoolVar(&cfg.OverwriteOutput, "overwrite-output-dir", false, "empty an --output that holds another run (or other files) before starting; never a model folder or a folder holding an input")
	f.StringVar(&cfg.Resume, "resume", "", "continue from a checkpoint folder, or the latest checkpoint of a run folder, in that run folder (wherever it was moved or copied), with the run's settings (flags given again win)")
	f.Float64Var(&cfg.Optim.LR, "lr", cfg.Optim.LR, "peak learning rate")
	f.StringVar(&cfg.Optim.Schedule, "lr-schedule", cfg.Optim.Schedule, "constant (constant_with_warmup accepted), linear or cosine, each after --warmup-steps of linear warm-up")
	f.IntVar(&cfg.Optim.WarmupSteps, "warmup-steps", cfg.Optim.WarmupSteps, "steps of linear learning-rate warm-up")
	f.Float64Var(&cfg.Optim.WarmupRatio, "warmup-ratio", 0, "warm-up as a fraction of the steps, ⌈ratio × steps⌉, when --warmup-steps is 0")
	f.Float64Var(&cfg.Optim.WeightDecay, "weight-decay", cfg.Optim.WeightDecay, "AdamW decoupled weight decay (not on biases and norm weights unless --decay-all-params)")
	f.BoolVar(&cfg.Optim.DecayAllParams, "decay-all-params", false, "apply weight decay to biases and norm weights too")
	f.Float64Var(&cfg.Optim.Beta1, "adam-beta1", cfg.Optim.Beta1, "AdamW β1")
	f.Float64Var(&cfg.Optim.Beta2, "adam-beta2", cfg.Optim.Beta2, "AdamW β2")
	f.Float64Var(&cfg.Optim.Eps, "adam-eps", cfg.Optim.Eps, "AdamW ε")
	f.Float64Var(&cfg.Optim.MaxGradNorm, "max-grad-norm", cfg.Optim.MaxGradNorm, "clip the global gradient norm to this (0: no clipping)")
	f.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "examples per micro-batch")
	f.IntVar(&cfg.GradAccum, "grad-accum", cfg.GradAccum, "micro-batches per optimiser step")
	f.IntVar(&cfg.MaxSteps, "max-steps", 0, "optimiser steps (0 or -1: --epochs passes over the data)")
	f.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the data when --max-steps is 0")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the data order, LoRA initialisation and dropout")
	f.IntVar(&cfg.MaxLength, "max-length", cfg.MaxLength, "longest prompt+completion in tokens (completions are cut from the right)")
	f.IntVar(&cfg.MaxPromptLength, "max-prompt-length", cfg.MaxPromptLength, "longest prompt in tokens (prompts keep their end)")
	f.BoolVar(&cfg.GroupByLength, "group-by-length", false, "batch examples of similar length together (less padding)")
	f.BoolVar(&cfg.SkipBadRows, "skip-bad-rows", false, "skip (and count) rows with missing or malformed fields instead of stopping")
	f.BoolVar(&cfg.GradientCheckpointing, "gradient-checkpointing", false, "recompute each layer's activations in the backward (less memory, about a third more time)")
	f.BoolVar(&cfg.NoSharePrefix, "no-share-prefix", false, "run every sequence whole instead of running a prefix common to several (a pair's prompt) once; same results, more work (metric tokens_saved shows the share saved)")
	f.BoolVar(&cfg.PaddingFree, "padding-free", false, "fill each micro-batch by a token budget (--max-tokens-per-batch) instead of --batch-size examples; sequences are always packed without padding")
	f.IntVar(&cfg.MaxTokensPerBatch, "max-tokens-per-batch", 0, "token budget of a --padding-free micro-batch, in positions the model runs (0: --batch-size × --max-length, twice that for pairs)")
	f.IntVar(&cfg.LoRA.R, "lora-r", 0, "LoRA rank (0: full fine-tuning)")
	f.BoolVar(&usePEFT, "use-peft", false, "train a LoRA adapter with TRL ModelConfig's defaults for what is not given: --lora-r 16 --lora-alpha 32 --lora-dropout 0.05 --lora-targets q_proj,v_proj")
	f.Float64Var(&cfg.LoRA.Alpha, "lora-alpha", cfg.LoRA.Alpha, "LoRA α (scaling α/r)")
	f.Float64Var(&cfg.LoRA.Dropout, "lora-dropout", 0, "LoRA dropout")
	f.StringVar(&loraTargets, "lora-targets", strings.Join(cfg.LoRA.Targets, ","), "modules to adapt (PEFT names: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all-linear)")
	f.BoolVar(&cfg.LoRA.RSLoRA, "rslora", false, "rank-stabilised LoRA scaling α/√r")
	f.Var(&cfg.BaseDType, "base-dtype", "how frozen weights are held: F32, or BF16 for half the memory (the base under --lora-r, a reference model; exact for a BF16 checkpoint, rounded otherwise)")
	f.Var(&cfg.ComputeDType, "compute-dtype", "precision of the matrix products (projections, LoRA, output layer; forward and backward): F32, or BF16 as torch autocast — bfloat16 operands, float32 sums; weights, gradients and AdamW stay float32")
	f.IntVar(&cfg.SaveSteps, "save-steps", 0, "write a checkpoint every N steps and at the end (0: only the final model)")
	f.IntVar(&cfg.SaveTotalLimit, "save-total-limit", 0, "keep only the newest N checkpoints, removing older ones after each save (0: keep all)")
	f.IntVar(&cfg.LoggingSteps, "logging-steps", cfg.LoggingSteps, "steps between log lines when stderr is not a terminal (metrics.jsonl has every step)")
	f.IntVar(&cfg.EvalSteps, "eval-steps", 0, "evaluate on --eval-data every N steps (0: at the end only)")
	f.BoolVar(&cfg.EvalOnStart, "eval-on-start", false, "also evaluate before the first step (step 0), to see where training starts")
	f.Var(&cfg.SaveDType, "save-dtype", "dtype of the saved model: F32, BF16 or F16")
	if mode == train.Preference {
		f.Float64Var(&cfg.Health.ChosenDrop, "alarm-chosen-drop", cfg.Health.ChosenDrop, "warn when the mean chosen log-prob falls this many nats below the reference's while the margin grows (0: off)")
		f.IntVar(&cfg.Health.StuckSteps, "alarm-stuck-steps", cfg.Health.StuckSteps, "warn when the loss stays at its policy-equals-reference value (log 2 for DPO) this many steps (0: off)")
	}
	f.IntVar(&cfg.Samples.Prompts, "sample-prompts", cfg.Samples.Prompts, "at every evaluation, greedy generations for this many eval prompts into samples.jsonl (0: none)")
	f.IntVar(&cfg.Samples.MaxNewTokens, "sample-max-new-tokens", cfg.Samples.MaxNewTokens, "longest sample generation in tokens")
	f.IntVar(&cfg.Health.MaxSkippedSteps, "max-skipped-steps", cfg.Health.MaxSkippedSteps, "steps with NaN/Inf log-probs or gradients skipped (no update) before the run stops")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	guard.register(f)
	var split, evalSplit string
	f.StringVar(&split, "split", "train", "split of a hub dataset given to --data (ORG/NAME)")
	f.StringVar(&evalSplit, "eval-split", "test", "split of a hub dataset given to --eval-data")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		fs := cmd.Flags()
		if configFile != "" {
			if err := applyConfigFile(fs, "--config", configFile, mode); err != nil {
				return err
			}
		}
		if cfg.Resume != "" {
			// The run's own settings, for those not given again.
			ck, err := train.FindCheckpoint(cfg.Resume)
			if err != nil {
				return fmt.Errorf("--resume: %w", err)
			}
			output := cfg.Output // given (by any spelling) or empty
			if err := applyConfigFile(fs, "--resume", filepath.Join(ck, "config.yaml"), mode); err != nil {
				return err
			}
			// Never the output config.yaml recorded: without one given, the
			// run continues where the checkpoint is (train.RunFolder).
			cfg.Output = output
		}
		switch {
		case cfg.Model == "" && cfg.InitConfig == "" && cfg.Resume == "":
			return fmt.Errorf("--model is required")
		case cfg.Data == "":
			return fmt.Errorf("--data is required")
		case cfg.Output == "" && cfg.Resume == "":
			return fmt.Errorf("--output is required")
		case cfg.MaxTokensPerBatch != 0 && !cfg.PaddingFree:
			return fmt.Errorf("--max-tokens-per-batch is the budget of --padding-free batches: add --padding-free")
		}
		if usePEFT {
			usePEFTDefaults(fs)
		}
		// TRL's spellings of values: max_steps -1 is "no limit", and
		// constant_with_warmup is smaug's constant (which warms up).
		if cfg.MaxSteps == -1 {
			cfg.MaxSteps = 0
		}
		if cfg.Optim.Schedule == "constant_with_warmup" {
			cfg.Optim.Schedule = "constant"
		}
		cfg.LoRA.Targets = splitList(loraTargets)
		if mode == train.Preference {
			// Per-loss defaults come from pref.ParseSpec; a β or λ given
			// (on the command line, in --config or in the resumed run's
			// config.yaml) replaces them.
			spec, err := pref.ParseSpec(loss, lossWeights)
			if err != nil {
				return fmt.Errorf("--loss: %w", err)
			}
			if fs.Changed("beta") {
				spec.Beta = beta
			}
			if fs.Changed("dpop-lambda") {
				spec.DPOPLambda = dpopLambda
			}
			spec.LabelSmoothing, spec.SimPOGamma, spec.ORPOAlpha = cfg.Loss.LabelSmoothing, cfg.Loss.SimPOGamma, cfg.Loss.ORPOAlpha
			if rpoAlpha != 0 {
				if spec, err = withRPO(spec, rpoAlpha); err != nil {
					return fmt.Errorf("--rpo-alpha: %w", err)
				}
			}
			cfg.Loss = spec
		}
		if err := errors.Join(resolveModelArg(cmd.Context(), &cfg.Model), resolveModelArg(cmd.Context(), &cfg.RefModel),
			resolveDataArg(cmd.Context(), &cfg.Data, split), resolveDataArg(cmd.Context(), &cfg.EvalData, evalSplit)); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runTrain(ctx, cfg, noProgress, guard)
	}
	return cmd
}

// applyConfigFile sets every flag named in the YAML file that was not given
// on the command line (or by an earlier file). what names the flag that
// brought the file, for errors. A file written for the other command (its
// mode key) is refused.
func applyConfigFile(fs *pflag.FlagSet, what, path string, mode train.Mode) error {
	entries, err := train.LoadConfigFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if m, ok := entries["mode"]; ok && train.Mode(m) != mode {
		return fmt.Errorf("%s %s: settings of a smaug %s run (mode %s), not smaug %s", what, path, commandOf(train.Mode(m)), m, commandOf(mode))
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unknown []string
	seen := map[string]string{} // flag name → the key that set it
	for _, k := range keys {
		if k == "mode" || k == "config" {
			continue
		}
		fl := fs.Lookup(k)
		if fl == nil {
			unknown = append(unknown, k)
			continue
		}
		if other, ok := seen[fl.Name]; ok {
			return fmt.Errorf("%s %s: %s and %s are the same setting (--%s); give one", what, path, other, k, fl.Name)
		}
		seen[fl.Name] = k
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%s %s: unknown settings %s (keys are the flag names, e.g. lr, batch-size, or their TRL names, e.g. learning_rate; see smaug %s --help)",
			what, path, strings.Join(unknown, ", "), commandOf(mode))
	}
	for _, k := range keys {
		if k == "mode" || k == "config" {
			continue
		}
		if fs.Lookup(k).Changed {
			continue
		}
		if err := fs.Set(k, entries[k]); err != nil {
			return fmt.Errorf("%s %s: %s: %w", what, path, k, err)
		}
	}
	return nil
}

// usePEFTDefaults gives the LoRA settings not set on the command line or
// in a config file TRL ModelConfig's defaults (lora_r 16, lora_alpha 32,
// lora_dropout 0.05, and PEFT's Llama targets q_proj and v_proj).
func usePEFTDefaults(fs *pflag.FlagSet) {
	for _, d := range []struct{ flag, value string }{
		{"lora-r", "16"}, {"lora-alpha", "32"}, {"lora-dropout", "0.05"}, {"lora-targets", "q_proj,v_proj"},
	} {
		if !fs.Changed(d.flag) {
			fs.Set(d.flag, d.value) // fixed, valid values
		}
	}
}

// withRPO adds TRL's rpo_alpha term to a loss spec: the sft loss (mean
// token NLL of the chosen completion) with weight alpha, the other losses
// keeping their weights (1 each when none were given).
func withRPO(spec pref.Spec, alpha float64) (pref.Spec, error) {
	for _, l := range spec.Losses {
		if l == "sft" {
			return spec, fmt.Errorf("the loss list already has sft; give its weight with --loss-weights instead")
		}
	}
	if len(spec.Weights) == 0 {
		for range spec.Losses {
			spec.Weights = append(spec.Weights, 1)
		}
	}
	spec.Losses = append(append([]string{}, spec.Losses...), "sft")
	spec.Weights = append(append([]float64{}, spec.Weights...), alpha)
	return spec, spec.Validate()
}

// commandOf names the command of a training mode.
func commandOf(mode train.Mode) string {
	if mode == train.Preference {
		return "train"
	}
	return string(mode)
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// runTrain loads the data and runs the trainer. When ctx is cancelled
// (SIGINT, SIGTERM) the trainer saves a checkpoint, and the error says how
// to resume.
func runTrain(ctx context.Context, cfg train.Config, noProgress bool, guard guardFlags) error {
	if err := cfg.Validate(); err != nil {
		return inFlagTerms(err)
	}
	if err := train.CheckRunFolder(cfg); err != nil {
		return inTrainTerms(err) // before the data is read
	}
	lo := train.LoadOptions{Mode: cfg.Mode, MaxLength: cfg.MaxLength, MaxPromptLength: cfg.MaxPromptLength, SkipBadRows: cfg.SkipBadRows}
	if err := textSupport(&lo, cfg.Tokenizer, cfg.Model, cfg.PromptTemplate, cfg.ChatTemplate); err != nil {
		return err
	}
	guard.watch(&lo)
	exs, stats, err := guard.load(cfg, lo)
	if err != nil {
		return &flagError{dataTerms.Replace(err.Error()), err}
	}
	var evalExs []train.Example
	if cfg.EvalData != "" {
		if evalExs, _, err = train.LoadExamples(cfg.EvalData, lo); err != nil {
			return &flagError{dataTerms.Replace(err.Error()), err}
		}
	}
	logf("data: %d examples from %s (%d rows, %d skipped, %d prompts and %d completions truncated)",
		len(exs), cfg.Data, stats.Rows, stats.Skipped, stats.TruncatedPrompt, stats.TruncatedCompletion)
	for _, r := range stats.SkipReasons {
		logf("  skipped: %s", r)
	}
	example, err := dataGate(cfg, exs, stats, lo, guard)
	if err != nil {
		return err
	}
	if stop, err := memoryGate(cfg, exs, guard); stop || err != nil {
		return err
	}
	opts := train.Options{Train: exs, Eval: evalExs, LoadStats: stats, Log: os.Stderr, Decode: guard.decode}
	if !noProgress {
		opts.NewBar = func(n int, desc string) func(int) {
			b := newBar(n, desc)
			return func(k int) { b.Add(k) }
		}
	}
	t, err := train.New(cfg, opts)
	if err != nil {
		return inTrainTerms(err)
	}
	defer t.Close()
	if t.Finished() {
		return t.Run(ctx) // says so, and writes nothing
	}
	start := time.Now()
	// Log lines where no bar shows (not a terminal, or --no-progress).
	lines := noProgress || !stderrIsTerminal()
	if lines {
		logf("%s", t.StartBlock())
	}
	steps := train.NewStepLogger(os.Stderr, "", cfg.LoggingSteps, t.TotalSteps(), t.StepsDone())
	if err := saveExample(t.Cfg.Output, example); err != nil {
		return err
	}
	pb := makeBar(t.TotalSteps(), "train", !noProgress)
	pb.Set(t.StepsDone())
	t.SetProgress(func(step int, m map[string]float64) {
		if lines {
			steps.Step(step, m)
			return
		}
		desc := fmt.Sprintf("loss %.4f", m["loss"])
		if v, ok := m["rewards/margins"]; ok {
			desc += fmt.Sprintf(" margin %.3f", v)
		}
		desc += fmt.Sprintf(" %.0f tok/s %.0f%% saved", m["tokens_per_s"], 100*m["tokens_saved"])
		pb.Describe(desc)
		pb.Set(step)
	})
	if err := t.Run(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w; continue with: smaug %s --resume %s", err, commandOf(cfg.Mode), t.Cfg.Output)
		}
		return inTrainTerms(err)
	}
	pb.Finish()
	fmt.Println(t.Summary())
	if lines {
		logf("%s", t.EndBlock(time.Since(start)))
	}
	// The model is saved by now: a plot that cannot be drawn is reported,
	// not fatal.
	plots, err := report.PlotRun(t.Cfg.Output)
	if err != nil {
		logf("warning: plots: %v", err)
	}
	if len(plots) > 0 {
		logf("plots: %d PNG files in %s", len(plots), t.Cfg.Output)
	}
	return nil
}

// The help of the formatting flags, shared by the commands that read text
// rows.
var (
	promptTemplateUsage = "format of text prompts: a preset (" + strings.Join(promptfmt.Presets(), ", ") + `; gsm8k is "Question: …\nAnswer:" with " " before completions) or a Jinja string using {{ prompt }}`
	chatTemplateUsage   = "apply the tokenizer's chat template to text rows too (prompt as the user's message, completions as the assistant's); conversational rows always get it"
)

// textSupport loads the tokenizer, prompt format and chat template needed
// for text rows, when the data may have them (tokenizer: the --tokenizer
// flag's value, else modelDir). Token-id data needs none of them.
func textSupport(lo *train.LoadOptions, tokenizerFlag, modelDir, promptTemplate string, chatStrings bool) error {
	format, err := promptfmt.Parse(promptTemplate)
	if err != nil {
		return fmt.Errorf("--prompt-template: %w", err)
	}
	lo.Format, lo.ChatStrings = format, chatStrings
	src := tokenizerFlag
	if src == "" {
		src = modelDir
	}
	if src == "" {
		return nil
	}
	tok, err := tokenizer.Load(src)
	if err != nil {
		if tokenizerFlag != "" {
			return fmt.Errorf("--tokenizer: %w", err)
		}
		return nil // token-id data still works; text rows will say what is missing
	}
	lo.Encoder = tok
	dir := src
	if st, err := os.Stat(src); err == nil && !st.IsDir() {
		dir = filepath.Dir(src)
	}
	tc, err := chat.LoadTokenizerConfig(dir)
	if err != nil || tc.ChatTemplate == "" {
		if chatStrings {
			return fmt.Errorf("--chat-template: %s has no chat template (chat_template in tokenizer_config.json)", dir)
		}
		return nil
	}
	tmpl, err := chat.Parse(tc.ChatTemplate)
	if err != nil {
		return fmt.Errorf("chat template of %s: %w", tc.Path, err)
	}
	lo.BOSText = tc.BOSToken
	lo.Chat = func(msgs []map[string]any, gen bool) (string, error) {
		return tmpl.Render(msgs, chat.Options{AddGenerationPrompt: gen, BOSToken: tc.BOSToken, EOSToken: tc.EOSToken})
	}
	return nil
}

// flagOf maps the names of train.Config's fields (and of the parts it is
// made of) to the flags that set them, to put library errors in the
// command's terms.
var flagOf = []struct{ field, flag string }{
	{"Model", "--model"}, {"InitConfig", "--init-config"}, {"RefModel", "--ref-model"}, {"Output", "--output"},
	{"Resume", "--resume"}, {"Losses", "--loss"}, {"Weights", "--loss-weights"}, {"Beta", "--beta"},
	{"DPOPLambda", "--dpop-lambda"}, {"LabelSmoothing", "--label-smoothing"}, {"SimPOGamma", "--simpo-gamma"},
	{"ORPOAlpha", "--orpo-alpha"}, {"PrecomputeRef", "--precompute-ref"}, {"MaxGradNorm", "--max-grad-norm"},
	{"BatchSize", "--batch-size"}, {"GradAccum", "--grad-accum"}, {"MaxSteps", "--max-steps"}, {"Epochs", "--epochs"},
	{"MaxLength", "--max-length"}, {"MaxPromptLength", "--max-prompt-length"}, {"LoRA.R", "--lora-r"},
	{"LoRA.Alpha", "--lora-alpha"}, {"LoRA.Dropout", "--lora-dropout"}, {"SaveSteps", "--save-steps"},
	{"EvalSteps", "--eval-steps"}, {"BaseDType", "--base-dtype"}, {"SaveDType", "--save-dtype"}, {"ComputeDType", "--compute-dtype"},
	{"SaveTotalLimit", "--save-total-limit"}, {"LoggingSteps", "--logging-steps"}, {"WarmupRatio", "--warmup-ratio"},
	{"Samples.Prompts", "--sample-prompts"}, {"Samples.MaxNewTokens", "--sample-max-new-tokens"},
	{"Health.ChosenDrop", "--alarm-chosen-drop"}, {"Health.StuckSteps", "--alarm-stuck-steps"}, {"Health.MaxSkippedSteps", "--max-skipped-steps"},
}

// dataTerms puts the library's advice in data errors in the command's
// terms (only these phrases: the rest of a data error quotes files and
// rows).
var dataTerms = strings.NewReplacer("set SkipBadRows", "use --skip-bad-rows",
	"a tokenizer (LoadOptions.Encoder)", "a tokenizer (--tokenizer, or tokenizer files in the model folder)")

// fieldWord matches a field name of flagOf as a whole word.
var fieldWord = func() *regexp.Regexp {
	names := make([]string, len(flagOf))
	for i, f := range flagOf {
		names[i] = regexp.QuoteMeta(f.field)
	}
	return regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\b`)
}()

// flagError is a library error reworded with flag names; it unwraps to
// the library's error.
type flagError struct {
	msg string
	err error
}

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return e.err }

// inFlagTerms rewrites the train.Config field names in a Validate error as
// the flags that set them ("BatchSize must be ≥ 1" becomes "--batch-size
// must be ≥ 1"). Only for Validate's errors, which quote no paths.
func inFlagTerms(err error) error {
	if err == nil {
		return nil
	}
	msg := fieldWord.ReplaceAllStringFunc(err.Error(), func(field string) string {
		for _, f := range flagOf {
			if f.field == field {
				return f.flag
			}
		}
		return field
	})
	return &flagError{msg, err}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
