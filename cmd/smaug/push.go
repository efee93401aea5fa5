package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/smaug-dev/smaug/hub"
)

func init() { rootCmd.AddCommand(newPushCmd()) }

func newPushCmd() *cobra.Command {
	var opts hub.PushOptions
	var repoType string
	var noCard bool
	cmd := &cobra.Command{
		Use:   "push DIR REPO_ID",
		Short: "Upload a trained model or adapter folder to the Hugging Face hub",
		Long: `Upload every file of DIR (hidden files excepted) to the hub repository
REPO_ID (ORG/NAME) in one commit, through the hub's commit API: the
repository is created if needed (--private), large and binary files go
through LFS, the others in the commit itself.

When DIR has no README.md, a model card is generated from the run folder
smaug train wrote: base model, data and loss (config.yaml), every setting
(config.yaml), the last logged metrics (metrics.jsonl), and whether it is a
PEFT adapter (adapter_config.json). A token with write access is needed
(HF_TOKEN or $HF_HOME/token); HF_ENDPOINT selects the hub.`,
		Example: `  smaug push runs/dpop you/llama-dpop
  smaug push runs/lora you/llama-dpop-lora --private
  smaug push runs/dpop you/llama-dpop --revision experiments --message "DPOP, 200 steps"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := hub.ParseRepoType(repoType)
			if err != nil {
				return fmt.Errorf("--repo-type: %w", err)
			}
			opts.Type = t
			if !noCard {
				if opts.Card, err = hub.CardFromRun(args[0]); err != nil {
					return err
				}
			}
			opts.Progress = byteProgress("upload " + args[0])
			u, err := hub.FromEnv().Push(cmd.Context(), args[0], args[1], opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), u)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Private, "private", false, "create the repository private")
	f.StringVar(&opts.Revision, "revision", "", "branch to commit to (default main)")
	f.StringVar(&opts.Message, "message", "", `commit message (default "Upload with smaug")`)
	f.StringVar(&repoType, "repo-type", "model", "model or dataset")
	f.BoolVar(&noCard, "no-card", false, "do not generate a README.md model card")
	return cmd
}
