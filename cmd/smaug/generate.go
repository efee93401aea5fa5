package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/smaug-dev/smaug/model"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newGenerateCmd()) }

func newGenerateCmd() *cobra.Command {
	var modelDir, promptIDs, dtype string
	var opt model.GenerateOptions
	var stopAtEOS bool
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Continue a prompt of token ids with a model (KV-cache decoding)",
		Long: `Continue a prompt given as token ids and print the new ids as a JSON list.

Decoding is greedy at --temperature 0 (the default). Otherwise the logits are
divided by the temperature, cut to the --top-k most likely tokens and then to
the smallest set reaching probability --top-p, and a token is drawn with a
generator seeded by --seed (the same seed gives the same tokens).`,
		Example: `  smaug generate --model ./policy --prompt-ids 5,17,42 --max-new-tokens 16
  smaug generate --model ./policy --prompt-ids 1,300 --max-new-tokens 64 --temperature 0.7 --top-p 0.9 --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prompt, err := parseIDs(promptIDs)
			if err != nil {
				return fmt.Errorf("--prompt-ids: %w", err)
			}
			if opt.MaxNewTokens < 0 {
				return fmt.Errorf("--max-new-tokens must be ≥ 0, got %d", opt.MaxNewTokens)
			}
			if opt.TopP < 0 || opt.TopP > 1 {
				return fmt.Errorf("--top-p must be in [0, 1], got %v", opt.TopP)
			}
			m, err := loadInference(modelDir, dtype)
			if err != nil {
				return err
			}
			defer m.Close()
			if stopAtEOS {
				opt.StopIDs = m.Config.EOSTokenIDs
			}
			out, err := m.Generate(prompt, opt)
			if err != nil {
				return err
			}
			if out == nil {
				out = []int{}
			}
			b, _ := json.Marshal(out)
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "Hugging Face model folder (required)")
	f.StringVar(&promptIDs, "prompt-ids", "", "prompt token ids, comma-separated (required)")
	f.IntVar(&opt.MaxNewTokens, "max-new-tokens", 32, "number of tokens to generate")
	f.Float64Var(&opt.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.IntVar(&opt.TopK, "top-k", 0, "keep only the k most likely tokens (0: all)")
	f.Float64Var(&opt.TopP, "top-p", 1, "nucleus sampling: keep the smallest set of tokens reaching this probability")
	f.Uint64Var(&opt.Seed, "seed", 0, "random seed for sampling")
	f.BoolVar(&stopAtEOS, "stop-at-eos", false, "stop after the model's eos_token_id (from config.json)")
	f.StringVar(&dtype, "dtype", "F32", dtypeUsage)
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("prompt-ids")
	return cmd
}

// parseIDs parses "5,17,42" (spaces and a JSON-style [..] allowed).
func parseIDs(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if s == "" {
		return nil, fmt.Errorf("no token ids")
	}
	var ids []int
	for i, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("item %d %q is not an integer", i+1, f)
		}
		ids = append(ids, v)
	}
	return ids, nil
}
