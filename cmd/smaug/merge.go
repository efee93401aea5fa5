package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newMergeCmd()) }

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
--lora-r (the run folder itself: adapter_config.json +
adapter_model.safetensors). --base defaults to the adapter's
base_model_name_or_path when that is a folder here (as a path, or relative
to the adapter folder); a Hub name must be downloaded and given. The merge is done in
float32; --dtype then sets the stored precision (default: the base's own,
from config.json). Weights past --max-shard-size are split into shards
with model.safetensors.index.json, as transformers does.

The tokenizer, chat-template and generation files of the base folder
(tokenizer.json, tokenizer.model, vocab.json, merges.txt,
added_tokens.json, tokenizer_config.json, special_tokens_map.json,
chat_template.jinja, chat_template.json, additional_chat_templates/*.jinja,
generation_config.json) are copied when present, so --output is ready for
smaug generate, smaug chat or transformers. --output must not exist yet: the
checkpoint is written into a temporary folder beside it and renamed into
place, so a failed merge leaves nothing behind.`,
		Example: `  # Train an adapter, then merge it into the base it names, stored in bfloat16
  smaug train --model ./Llama-3-8B --data pairs.jsonl --output runs/lora --lora-r 16
  smaug merge --adapter runs/lora --output ./llama3-dpop --dtype BF16

  # Name the base; keep float32 and write a single safetensors file
  smaug merge --base ./tiny --adapter ./tiny-lora --output ./tiny-merged --dtype F32 --max-shard-size 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			maxShard, err := parseByteSize(shardSize)
			if err != nil {
				return fmt.Errorf("--max-shard-size: %w", err)
			}
			if err := errors.Join(resolveModelArg(cmd.Context(), &baseDir), resolveModelArg(cmd.Context(), &adapterDir)); err != nil {
				return err
			}
			return runMerge(cmd, baseDir, adapterDir, outDir, dtype, maxShard)
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseDir, "base", "", "base model folder (config.json + safetensors) (default: the adapter's base_model_name_or_path, when it is a folder)")
	f.StringVar(&adapterDir, "adapter", "", "PEFT LoRA adapter folder (required)")
	f.StringVar(&outDir, "output", "", "folder to create for the merged checkpoint (required)")
	f.StringVar(&dtype, "dtype", "", "stored precision: F32, BF16 or F16 (default: the base's)")
	f.StringVar(&shardSize, "max-shard-size", "5GB", `largest safetensors shard, e.g. "5GB", "500MiB"; 0 writes one file`)
	cmd.MarkFlagRequired("adapter")
	cmd.MarkFlagRequired("output")
	return cmd
}

func runMerge(cmd *cobra.Command, baseDir, adapterDir, outDir, name string, maxShard int64) error {
	if _, err := os.Stat(outDir); err == nil {
		return fmt.Errorf("--output %s already exists: choose a new folder", outDir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var stored dtype.DType
	if name != "" {
		d, err := dtype.Parse(name)
		if err != nil {
			return fmt.Errorf("--dtype %q: want F32, BF16 or F16", name)
		}
		stored = d
	}
	baseFrom := "--base"
	if baseDir == "" {
		var err error
		if baseDir, err = adapterBase(adapterDir); err != nil {
			return err
		}
		baseFrom = "the adapter's base_model_name_or_path"
	}
	warn := func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "warning:", msg) }
	m, err := model.LoadOptions{Warn: warn}.Load(baseDir)
	if err != nil {
		return err
	}
	baseParams := m.NumParams()
	c, err := model.LoadAdapter(m, adapterDir)
	if err != nil {
		return err
	}
	if name == "" { // the base's own precision
		stored = dtype.F32
		if d, err := dtype.Parse(m.Config.TorchDtype); err == nil {
			stored = d
		}
	}
	n := len(m.LoRAParams()) / 2
	m.MergeLoRA()
	m.Config.TorchDtype = stored.TorchName()

	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(outDir)), "."+filepath.Base(outDir)+".tmp-*")
	if err != nil {
		return err
	}
	if err := writeMerged(m, tmp, baseDir, stored.String(), maxShard); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, outDir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write %s: %w", outDir, err)
	}
	files, err := os.ReadDir(outDir)
	if err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name()
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "read    base %s (from %s; %d parameters, %s)\n", baseDir, baseFrom, baseParams, m.Config.TorchDtype)
	fmt.Fprintf(w, "read    adapter %s (%d LoRA pairs, r %d, lora_alpha %g, on %s)\n", adapterDir, n, c.R, c.Alpha, strings.Join(c.Targets, ","))
	fmt.Fprintf(w, "wrote   %s: the merged model (%d parameters, stored as %s): %s\n", outDir, m.NumParams(), stored, strings.Join(names, ", "))
	return nil
}

// adapterBase is the adapter's base_model_name_or_path when it names a
// model folder here: as given, or relative to the adapter folder.
func adapterBase(adapterDir string) (string, error) {
	path := filepath.Join(adapterDir, "adapter_config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--base not given, and the adapter's config cannot be read: %w", err)
	}
	var ac struct {
		Base *string `json:"base_model_name_or_path"`
	}
	if err := json.Unmarshal(b, &ac); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if ac.Base == nil || *ac.Base == "" {
		return "", fmt.Errorf("--base is required: %s names no base_model_name_or_path", path)
	}
	for _, dir := range []string{*ac.Base, filepath.Join(adapterDir, *ac.Base)} {
		if st, err := os.Stat(filepath.Join(dir, "config.json")); err == nil && !st.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("--base is required: the adapter's base_model_name_or_path %q (%s) is not a model folder here (a Hub name must be downloaded first)", *ac.Base, path)
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
