// Command smaug is a one-binary toolkit for preference fine-tuning of
// Llama-family language models with DPO-Positive (DPOP) and the other
// DPO-style losses, the pairwise datasets that feed it, and the evaluations
// that judge the result.
//
// Each subcommand lives in its own file and registers itself with rootCmd in
// an init function.
package main

import (
	"fmt"
	"os"

	"github.com/smaug-dev/smaug/tensor"
	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "smaug",
	Short: "Preference fine-tuning (DPOP and the DPO family) for Llama-family models",
	Long: `smaug fine-tunes Llama-family language models (Llama, Mistral, Qwen2, Yi) on
prompt/chosen/rejected pairs with DPO-Positive (DPOP) and the other DPO-style
losses, builds the pairwise datasets that feed it, and evaluates the result.

It reads and writes the ecosystem's formats: Hugging Face config.json +
safetensors checkpoints, tokenizer.json, PEFT adapters, JSONL and parquet.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := execute(); err != nil {
		fmt.Fprintln(os.Stderr, "smaug:", err)
		os.Exit(1)
	}
}

// execute runs the command line; an allocation refused for lack of memory
// (a batch, sequence or model too large) becomes an error, not a crash.
func execute() (err error) {
	defer tensor.RecoverMemory(&err)
	return rootCmd.Execute()
}
