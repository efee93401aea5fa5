package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newMergeCmd()) }

// storageDTypes maps --dtype to config.json's dtype name.
var storageDTypes = map[string]string{"F32": "float32", "BF16": "bfloat16", "F16": "float16"}

func newMergeCmd() *cobra.Command {
	var baseDir, adapterDir, outDir, dtype, shardSize string
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Fold a LoRA adapter into its base model and write a full checkpoint",
		Long: `Merge a PEFT LoRA adapter into the base model's weights, as PEFT's
merge_and_unload does (W += lora_alpha/r · B·A, or lora_alpha/√r with
use_rslora), and write a standalone Hugging Face checkpoint that loads
without PEFT.

--adapter is a folder written by PEFT's save_pretrained or by smaug train
(adapter_config.json + adapter_model.safetensors). The merge is done in
float32; --dtype then sets the stored precision (default: the base's own,
from config.json). Weights past --max-shard-size are split into shards
with model.safetensors.index.json, as transformers does.

The tokenizer, chat-template and generation files of the base folder
(tokenizer.json, tokenizer.model, vocab.json, merges.txt,
added_tokens.json, tokenizer_config.json, special_tokens_map.json,
chat_template.jinja, chat_template.json, additional_chat_templates/*.jinja,
generation_config.json) are copied when present, so --out is ready for
smaug generate, smaug chat or transformers. --out must not exist yet: the
checkpoint is written into a temporary folder beside it and renamed into
place, so a failed merge leaves nothing behind.`,
		Example: `  # Merge a trained adapter into its base, stored in bfloat16
  smaug merge --base ./Llama-3-8B --adapter ./runs/dpop/final --out ./llama3-dpop --dtype BF16

  # Keep float32 and write a single safetensors file
  smaug merge --base ./tiny --adapter ./tiny-lora --out ./tiny-merged --dtype F32 --max-shard-size 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			maxShard, err := parseByteSize(shardSize)
			if err != nil {
				return fmt.Errorf("--max-shard-size: %w", err)
			}
			if err := errors.Join(resolveModelArg(cmd.Context(), &baseDir), resolveModelArg(cmd.Context(), &adapterDir)); err != nil {
				return err
			}
			return runMerge(cmd, baseDir, adapterDir, outDir, strings.ToUpper(dtype), maxShard)
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseDir, "base", "", "base model folder (config.json + safetensors) (required)")
	f.StringVar(&adapterDir, "adapter", "", "PEFT LoRA adapter folder (required)")
	f.StringVar(&outDir, "out", "", "folder to create for the merged checkpoint (required)")
	f.StringVar(&dtype, "dtype", "", "stored precision: F32, BF16 or F16 (default: the base's)")
	f.StringVar(&shardSize, "max-shard-size", "5GB", `largest safetensors shard, e.g. "5GB", "500MiB"; 0 writes one file`)
	cmd.MarkFlagRequired("base")
	cmd.MarkFlagRequired("adapter")
	cmd.MarkFlagRequired("out")
	return cmd
}

func runMerge(cmd *cobra.Command, baseDir, adapterDir, outDir, dtype string, maxShard int64) error {
	if _, err := os.Stat(outDir); err == nil {
		return fmt.Errorf("--out %s already exists: choose a new folder", outDir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if dtype != "" {
		if _, ok := storageDTypes[dtype]; !ok {
			return fmt.Errorf("--dtype %q: want F32, BF16 or F16", dtype)
		}
	}
	warn := func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "warning:", msg) }
	m, err := model.LoadOptions{Warn: warn}.Load(baseDir)
	if err != nil {
		return err
	}
	c, err := model.LoadAdapter(m, adapterDir)
	if err != nil {
		return err
	}
	if dtype == "" {
		dtype = "F32"
		for k, v := range storageDTypes {
			if v == m.Config.TorchDtype {
				dtype = k
			}
		}
	}
	n := len(m.LoRAParams()) / 2
	m.MergeLoRA()
	m.Config.TorchDtype = storageDTypes[dtype]

	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(outDir)), "."+filepath.Base(outDir)+".tmp-*")
	if err != nil {
		return err
	}
	if err := writeMerged(m, tmp, baseDir, dtype, maxShard); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, outDir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write %s: %w", outDir, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "merged %d LoRA adapters (r %d, lora_alpha %g, %s) into %s; wrote %s (%s, %d parameters)\n",
		n, c.R, c.Alpha, strings.Join(c.Targets, " "), baseDir, outDir, dtype, m.NumParams())
	return nil
}

// writeMerged writes the checkpoint and the base's tokenizer files into dir.
func writeMerged(m *model.Model, dir, baseDir, dtype string, maxShard int64) error {
	if err := m.Save(dir, dtype, maxShard); err != nil {
		return err
	}
	if _, err := hf.CopyTokenizerFiles(baseDir, dir); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// parseByteSize reads a size as transformers' max_shard_size does: a number
// with an optional unit, KB/MB/GB powers of 1000 and KiB/MiB/GiB powers of
// 1024 ("5GB" = 5·10⁹ bytes).
func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q: want a size such as 5GB, 500MiB or 0", s)
	}
	return int64(v * mult), nil
}
