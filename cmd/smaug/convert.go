package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smaug-dev/smaug/gguf"
	"github.com/smaug-dev/smaug/llama2c"
)

func init() { rootCmd.AddCommand(newConvertCmd()) }

func newConvertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert models between llama2.c, GGUF and Hugging Face folders",
		Long: `Convert models between formats:

  llama2c  a llama2.c model (.bin: legacy, version 1 float32 or version 2
           int8) and tokenizer.bin → a Hugging Face Llama folder
  gguf     a Hugging Face folder → a GGUF file llama.cpp loads
  hf       a GGUF file (llama, mistral, qwen2; F32, F16, BF16, Q8_0, Q4_0,
           Q4_K, Q5_K, Q6_K) → a Hugging Face folder, dequantised

Commands that take --model also accept a .gguf file directly (converted
once and kept in $HF_HOME/smaug/gguf).`,
	}
	cmd.AddCommand(newConvertLlama2cCmd(), newConvertGGUFCmd(), newConvertHFCmd())
	return cmd
}

func newConvertLlama2cCmd() *cobra.Command {
	var c llama2c.Conversion
	cmd := &cobra.Command{
		Use:   "llama2c",
		Short: "Convert a llama2.c model and tokenizer into a Hugging Face Llama folder",
		Long: `Write config.json, model.safetensors, tokenizer.json and
tokenizer_config.json for a llama2.c model: the legacy (version 0) export,
or the version 1 (float32) and version 2 (int8 groups) exports, with a
shared or separate classifier. Q and K rows are reordered from llama2.c's
interleaved rotary pairs to transformers' layout; the tokenizer.json
encodes and decodes as llama2.c's run.c (BOS 1, EOS 2, byte fallback).`,
		Example: `  smaug convert llama2c --model stories15M.bin --tokenizer tokenizer.bin --out stories15M-hf
  smaug convert llama2c --model stories260K.bin --tokenizer tok512.bin --out s260k --dtype BF16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.DType = strings.ToUpper(c.DType)
			if err := c.Run(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Model, "model", "", "llama2.c model file (required)")
	f.StringVar(&c.Tokenizer, "tokenizer", "", "llama2.c tokenizer.bin (recommended: without it no tokenizer files are written)")
	f.StringVar(&c.Out, "out", "", "folder to create (required)")
	f.StringVar(&c.DType, "dtype", "F32", "stored precision: F32, BF16 or F16")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newConvertGGUFCmd() *cobra.Command {
	var e gguf.Export
	var typ string
	cmd := &cobra.Command{
		Use:   "gguf",
		Short: "Write a Hugging Face model folder as a GGUF file for llama.cpp",
		Long: `Write a Llama, Mistral or Qwen2 folder (a trained or merged model) as GGUF
version 3 with llama.cpp's metadata and tensor names, Q and K rows permuted
for the llama architecture, and the tokenizer (tokenizer.json as
tokenizer.ggml.*: SentencePiece-style or byte-level BPE) and chat template.
--type stores the matrices as f32, f16, bf16 or q8_0 (llama.cpp's
reference Q8_0 rounding); norms and biases stay f32.`,
		Example: `  smaug convert gguf --model runs/dpop --out dpop-f16.gguf --type f16
  smaug convert gguf --model Qwen/Qwen2.5-0.5B-Instruct --out qwen-q8.gguf --type q8_0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := gguf.ParseType(typ)
			if err != nil {
				return fmt.Errorf("--type: %w", err)
			}
			e.Type = t
			if err := resolveModelArg(cmd.Context(), &e.Model); err != nil {
				return err
			}
			e.Progress = tensorProgress("write " + e.Out)
			if err := e.Run(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), e.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&e.Model, "model", "", "Hugging Face model folder or hub repo id (required)")
	f.StringVar(&e.Out, "out", "", "GGUF file to write (required)")
	f.StringVar(&typ, "type", "f16", "tensor type of the matrices: f32, f16, bf16 or q8_0")
	f.StringVar(&e.Name, "name", "", "general.name (default: the folder's name)")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newConvertHFCmd() *cobra.Command {
	var c gguf.ToHF
	cmd := &cobra.Command{
		Use:   "hf",
		Short: "Convert a GGUF model into a Hugging Face folder",
		Long: `Write config.json, model.safetensors (every tensor dequantised, Q and K rows
back in transformers' order), tokenizer.json and tokenizer_config.json (with
the chat template) for a llama, mistral or qwen2 GGUF model.`,
		Example: `  smaug convert hf --model qwen2.5-0.5b-instruct-q4_k_m.gguf --out qwen-hf
  smaug convert hf --model llama-3.2-1b-q8_0.gguf --out llama-hf --dtype BF16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.DType = strings.ToUpper(c.DType)
			c.Progress = tensorProgress("read " + c.Model)
			if err := c.Run(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Model, "model", "", "GGUF file (required)")
	f.StringVar(&c.Out, "out", "", "folder to create (required)")
	f.StringVar(&c.DType, "dtype", "F32", "stored precision: F32, BF16 or F16")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("out")
	return cmd
}

// tensorProgress shows a conversion's progress in tensors: a bar on a
// terminal (newBar is silent elsewhere).
func tensorProgress(desc string) func(done, total int) {
	var bar interface {
		Set(int) error
		Finish() error
	}
	return func(done, total int) {
		if bar == nil {
			bar = newBar(total, desc)
		}
		bar.Set(done)
		if done == total {
			bar.Finish()
		}
	}
}
