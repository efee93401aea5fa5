package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/smaug-dev/smaug/hub"
)

func init() { rootCmd.AddCommand(newPullCmd()) }

func newPullCmd() *cobra.Command {
	var opts hub.PullOptions
	var repoType string
	cmd := &cobra.Command{
		Use:   "pull REPO_ID",
		Short: "Download a model or dataset from the Hugging Face hub into the shared cache",
		Long: `Download a revision of a hub repository into huggingface_hub's cache
($HF_HUB_CACHE, or $HF_HOME/hub, or ~/.cache/huggingface/hub), laid out as
huggingface_hub lays it (models--ORG--NAME/{blobs,snapshots/COMMIT,refs,
trees}), so transformers, vLLM and smaug share one copy. Only missing files
are fetched, several at once; a dropped connection resumes where it stopped
(also after an interrupted run); sizes, LFS sha256 and git blob ids are
checked. The snapshot folder is printed on stdout.

Every command that takes --model or --data also takes a repo id and resolves
it through the same cache, offline first: a cached revision is used without
asking the hub (run smaug pull again to update a branch).

Environment (as huggingface_hub): HF_ENDPOINT (the hub's address), HF_TOKEN
or the token file $HF_HOME/token (gated and private repositories),
HF_HUB_OFFLINE=1 (serve from the cache only), HF_HUB_CACHE, HF_HOME.`,
		Example: `  smaug pull Qwen/Qwen2.5-0.5B-Instruct
  smaug pull meta-llama/Llama-3.2-1B --include "*.json" --include "*.safetensors"
  smaug pull abacusai/MetaMath_DPO_FewShot --repo-type dataset
  smaug pull abacusai/MetaMath_DPO_FewShot --repo-type dataset --revision refs/convert/parquet
  HF_HUB_OFFLINE=1 smaug pull Qwen/Qwen2.5-0.5B-Instruct   # the cached snapshot, no network
  smaug train --model Qwen/Qwen2.5-0.5B-Instruct --data abacusai/MetaMath_DPO_FewShot --split train --output runs/q`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := hub.ParseRepoType(repoType)
			if err != nil {
				return fmt.Errorf("--repo-type: %w", err)
			}
			opts.Type = t
			opts.Progress = byteProgress("pull " + args[0])
			s, err := hub.FromEnv().Pull(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.Dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Revision, "revision", "", "branch, tag or commit hash (default main)")
	f.StringArrayVar(&opts.Include, "include", nil, `download only files matching this pattern ("*" crosses folders; repeatable)`)
	f.StringVar(&repoType, "repo-type", "model", "model or dataset")
	return cmd
}
