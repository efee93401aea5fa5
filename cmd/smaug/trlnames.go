package main

import (
	"strings"

	"github.com/spf13/pflag"
)

// One spelling per idea across the commands, and the spellings of
// transformers' TrainingArguments and TRL's DPOConfig/ModelConfig accepted as
// aliases, on the command line and in --config YAML files. Underscores are
// dashes (--max_steps is --max-steps, --lora_r is --lora-r); the names below
// are the ones that differ beyond that.
var flagAliases = map[string]string{
	// smaug's own second spellings.
	"out": "output",
	// TrainingArguments.
	"learning-rate":               "lr",
	"per-device-train-batch-size": "batch-size",
	"gradient-accumulation-steps": "grad-accum",
	"num-train-epochs":            "epochs",
	"output-dir":                  "output",
	"lr-scheduler-type":           "lr-schedule",
	"resume-from-checkpoint":      "resume",
	"adam-epsilon":                "adam-eps",
	// DPOConfig.
	"loss-type": "loss",
	// ModelConfig (TRL's scripts).
	"model-name-or-path":  "model",
	"lora-target-modules": "lora-targets",
}

// normalizeFlag maps a flag name to smaug's spelling: underscores become
// dashes, then flagAliases applies. It is every command's normalization
// function, so `--output_dir x` is `--output x` and a YAML key
// learning_rate sets --lr.
func normalizeFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	name = strings.ReplaceAll(name, "_", "-")
	if a, ok := flagAliases[name]; ok {
		name = a
	}
	return pflag.NormalizedName(name)
}

func init() { rootCmd.SetGlobalNormalizationFunc(normalizeFlag) }

// trlAliasHelp lists the aliases for a command's --help.
const trlAliasHelp = `TRL and transformers names are accepted too, on the command line and as
--config keys: --learning_rate, --per_device_train_batch_size,
--gradient_accumulation_steps, --num_train_epochs, --max_steps, --output_dir,
--warmup_ratio, --warmup_steps, --lr_scheduler_type, --logging_steps,
--save_steps, --save_total_limit, --eval_steps, --loss_type (sigmoid is dpo),
--beta, --rpo_alpha, --resume_from_checkpoint, --max_length,
--max_prompt_length, --seed, --use_peft, --lora_r, --lora_alpha,
--lora_dropout, --lora_target_modules, --model_name_or_path, --adam_epsilon
(any flag may be written with underscores). A key of a --config file that is
no setting is an error that names it.`
