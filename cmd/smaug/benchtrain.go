package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/abbench"
	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"github.com/smaug-dev/smaug/kernels"
	"github.com/smaug-dev/smaug/memplan"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/optim"
	"github.com/smaug-dev/smaug/pref"
	"github.com/smaug-dev/smaug/tensor"
	"github.com/smaug-dev/smaug/train"
	"github.com/spf13/cobra"
)

// benchLoRATargets are the projections the LoRA benchmark adapts: smaug
// train's default --lora-targets.
var benchLoRATargets = []string{"q_proj", "k_proj", "v_proj", "o_proj"}

// trainBenchResult is one measured DPOP step, printed as a JSON line by the
// child process that made it.
type trainBenchResult struct {
	Shape      string  `json:"shape"`
	Mode       string  `json:"mode"`
	Kernels    string  `json:"kernels"`
	Params     int64   `json:"params"`
	Trainable  int64   `json:"trainable_params"`
	Features   string  `json:"features"`
	Tokens     int     `json:"tokens_per_step"`
	Positions  int     `json:"positions_per_step"`
	StepS      float64 `json:"step_s"`
	TokensPerS float64 `json:"tokens_per_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// EstimateMiB is memplan's estimate of the peak for the same step.
	EstimateMiB float64 `json:"estimate_mib"`
}

// benchTrainBatch is what a training benchmark step scores: the random
// batch of its shape, or pairs read from a JSONL file, with the per-pair
// features on or off.
type benchTrainBatch struct {
	Data           string // pairs: token ids (prompt_ids, chosen_ids, rejected_ids), or text with Tokenizer; "" for random
	Tokenizer      string // tokenizer of text pairs
	PromptTemplate string // promptfmt format of text prompts
	IDsModVocab    bool   // take token ids modulo the shape's vocabulary
	Pairs          int    // pairs of Data per step (0: the shape's batch / 2)
	// BaseDType holds the frozen weights (the LoRA base, the full mode's
	// reference) in BF16 or F32; ComputeDType is model.Model.ComputeDType.
	BaseDType, ComputeDType dtype.DType
	benchFeatures
}

// benchFeatures are the per-pair features a measured step uses.
type benchFeatures struct {
	NoShare     bool // model.Model.NoSharePrefix
	Padded      bool // model.Model.Padded (no packing)
	Unfused     bool // model.Model.UnfusedOutput
	OutputChunk int  // model.Model.OutputChunk
}

// name lists the features that are on: "share+fused+packing", or "none".
func (f benchFeatures) name() string {
	var on []string
	if !f.NoShare {
		on = append(on, "share")
	}
	if !f.Unfused {
		on = append(on, "fused")
	}
	if !f.Padded {
		on = append(on, "packing")
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, "+")
}

// parseFeatureRows reads --features: comma-separated rows, each "none",
// "all" or features joined by "+" (share, fused, packing); the features a
// row does not name are off.
func parseFeatureRows(s string, chunk int) ([]benchFeatures, error) {
	var rows []benchFeatures
	for _, row := range splitComma(s) {
		f := benchFeatures{NoShare: true, Padded: true, Unfused: true, OutputChunk: chunk}
		switch row {
		case "none":
		case "all":
			f.NoShare, f.Padded, f.Unfused = false, false, false
		default:
			for _, name := range strings.Split(row, "+") {
				switch name {
				case "share":
					f.NoShare = false
				case "fused":
					f.Unfused = false
				case "packing":
					f.Padded = false
				default:
					return nil, fmt.Errorf("--features: unknown feature %q in %q (have share, fused, packing; none, all)", name, row)
				}
			}
		}
		rows = append(rows, f)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("--features: no rows in %q", s)
	}
	return rows, nil
}

// args are the flags that give b to a child process.
func (b benchTrainBatch) args() []string {
	return []string{"--data", b.Data, "--tokenizer", b.Tokenizer, "--prompt-template", b.PromptTemplate,
		"--ids-modulo-vocab=" + strconv.FormatBool(b.IDsModVocab), "--pairs", strconv.Itoa(b.Pairs),
		"--no-share-prefix=" + strconv.FormatBool(b.NoShare), "--padding-free=" + strconv.FormatBool(!b.Padded),
		"--unfused-output=" + strconv.FormatBool(b.Unfused), "--output-chunk", strconv.Itoa(b.OutputChunk),
		"--base-dtype", b.BaseDType.String(), "--compute-dtype", b.ComputeDType.String()}
}

func newBenchTrainCmd() *cobra.Command {
	var shapes, modes, torchScript, python, features string
	var iters, loraR, rounds, warmup int
	var child, ckpt, torchPairs, paddingFree bool
	var batch benchTrainBatch
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Measure tokens/s and peak memory of one DPOP training step",
		Long: `Measure one DPOP training step as smaug train runs it: the reference
forward (log-probs, no tape), the policy forward and backward, the DPOP loss
(β 0.3, λ 50) and an AdamW update, on randomly initialised Llama-shaped
models (the shapes of smaug bench):

  small     hidden 256, 4 layers, 4 heads, intermediate 688, vocab 4096, 8 × 256 tokens
  smol135m  hidden 576, 30 layers, 9 heads (3 KV), intermediate 1536, vocab 49152, 4 × 512

in two modes:

  full  every parameter trained; the reference is a second, frozen model
  lora  a LoRA adapter of rank --lora-r (α = 2r) on q_proj, k_proj, v_proj
        and o_proj trained; the reference is the base with the adapter off

The batch holds B sequences of T tokens (B/2 pairs, as the PyTorch script
pairs them); tokens/s is B·T divided by the step time, averaged over --iters
steps after one warm-up.

Real pairs: --data replaces the random batch with the first --pairs pairs of
a JSONL file: token ids (prompt_ids, chosen_ids, rejected_ids, as smaug
logprobs reads) or text (prompt, chosen, rejected, as smaug pairs writes)
with --tokenizer (and --prompt-template), tokenised as smaug train does (the
tokenizer's special tokens around the prompt, EOS after each completion). Ids must fit the shape's
vocabulary; --ids-modulo-vocab folds larger ones into it (Llama-3's 128,256
ids on smol135m's 49,152). Tokens then counts every token of both sequences
of each pair (what TRL processes, padding excluded) and positions the
positions the model ran.

The three ways smaug saves work on pairs can be turned off, to measure each:

  share    a prefix common to several sequences runs once (--no-share-prefix: off)
  fused    the output layer only for completion tokens, chunked, fused with the
           log-softmax (--unfused-output: the logits of every position at once)
  packing  sequences packed without padding (--padding-free=false: each padded
           to the batch's longest). Shared prefixes are laid out packed, so
           share implies packing.

--base-dtype BF16 holds the frozen weights (the LoRA base, the full mode's
reference) in bfloat16, and --compute-dtype BF16 runs the matrix products as
smaug train --compute-dtype BF16 does; the kernels column names the bfloat16
path (native VDPBF16PS, or widened to float32 on CPUs without AVX512-BF16).

--features measures several settings side by side: comma-separated rows,
each "none" (all off: what TRL does), "all", or features joined by "+".

Each (shape, mode, features) runs in its own process, so the peak resident
memory (VmHWM) is its own; the estimate column is what smaug train's memory
estimate (package memplan) predicts for the same step. --torch-pairs runs the
PyTorch reference built into smaug (needs python3-torch; --python names the
interpreter) on exactly the same pairs, laid out as TRL's DPOTrainer does:
every sequence padded to the batch's longest, the logits of every position,
the same shape, DPOP, AdamW, the same thread count, full or LoRA as the
mode; each row shows smaug's rate as a multiple of torch's in that mode.
--torch runs an outside script instead (../shared/bench/torch_cpu_dpop.py: a
full fine-tuning step on its own random batch).

The protocol is smaug bench's: the settings and torch run in alternation
(A B A B …), --rounds recorded rounds after --warmup unrecorded ones; rates
and ratios are medians over the rounds with their min–max, ratios taken
round by round. The report names the CPU model and flags and the kernels.`,
		Example: `  smaug bench train --shapes small
  smaug bench train --shapes small,smol135m --modes full,lora --torch ../shared/bench/torch_cpu_dpop.py
  smaug bench train --shapes small --torch ../shared/bench/torch_cpu_dpop.py --python /usr/bin/python3

  # real pairs: every feature off, each alone, all on, and torch on the same batch
  smaug pairs metamath --input gsm8k/train.jsonl --prompt-template gsm8k --output gsm8k_dpo.jsonl
  smaug bench train --shapes smol135m --modes full --data gsm8k_dpo.jsonl --pairs 4 \
      --tokenizer llama3/tokenizer.json --ids-modulo-vocab \
      --features none,share,fused,packing,all --torch-pairs --python /usr/bin/python3

  # LoRA on a bfloat16 base with bfloat16 matrix products
  smaug bench train --shapes smol135m --modes lora --base-dtype BF16 --compute-dtype BF16 --torch ../shared/bench/torch_cpu_dpop.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iters < 1 {
				return fmt.Errorf("--iters must be ≥ 1, got %d", iters)
			}
			if loraR < 1 {
				return fmt.Errorf("--lora-r must be ≥ 1, got %d", loraR)
			}
			batch.Padded = !paddingFree
			if child {
				return benchTrainChild(cmd.OutOrStdout(), shapes, modes, loraR, iters, ckpt, batch)
			}
			switch {
			case batch.Pairs < 0 || batch.OutputChunk < 0:
				return fmt.Errorf("--pairs and --output-chunk must be ≥ 0, got %d and %d", batch.Pairs, batch.OutputChunk)
			case batch.Pairs > 0 && batch.Data == "":
				return fmt.Errorf("--pairs counts pairs of --data: give --data too")
			case (batch.Tokenizer != "" || batch.PromptTemplate != "") && batch.Data == "":
				return fmt.Errorf("--tokenizer and --prompt-template are for the text pairs of --data: give --data too")
			case torchPairs && torchScript != "":
				return fmt.Errorf("--torch-pairs runs the built-in reference, --torch an outside script: give one")
			case batch.BaseDType == dtype.F16:
				return fmt.Errorf("--base-dtype %v: want F32 or BF16", batch.BaseDType)
			}
			if err := model.CheckCompute(batch.ComputeDType); err != nil {
				return fmt.Errorf("--compute-dtype: %w", err)
			}
			rows := []benchFeatures{batch.benchFeatures}
			if features != "" {
				f := cmd.Flags()
				if f.Changed("no-share-prefix") || f.Changed("padding-free") || f.Changed("unfused-output") {
					return fmt.Errorf("--features sets the features of each row: leave out --no-share-prefix, --padding-free and --unfused-output")
				}
				var err error
				if rows, err = parseFeatureRows(features, batch.OutputChunk); err != nil {
					return err
				}
			}
			return benchTrainParent(cmd.Context(), cmd.OutOrStdout(), splitComma(shapes), splitComma(modes), rows, loraR, iters, rounds, warmup, python, torchScript, torchPairs, ckpt, batch)
		},
	}
	f := cmd.Flags()
	f.StringVar(&shapes, "shapes", "small,smol135m", "comma-separated shapes: small, smol135m")
	f.StringVar(&modes, "modes", "full,lora", "comma-separated modes: full, lora")
	f.IntVar(&loraR, "lora-r", 16, "LoRA rank of the lora mode")
	f.IntVar(&iters, "iters", 3, "timed steps per measurement (after one warm-up step)")
	f.IntVar(&rounds, "rounds", 3, "recorded rounds of the alternation (at least 3)")
	f.IntVar(&warmup, "warmup", 1, "unrecorded rounds before them")
	f.StringVar(&torchScript, "torch", "", "path of torch_cpu_dpop.py to run as the reference (needs python3-torch)")
	f.BoolVar(&torchPairs, "torch-pairs", false, "run the built-in PyTorch reference on the same pairs, padded as TRL pads them (needs python3-torch)")
	f.StringVar(&python, "python", "python3", "python interpreter that has torch, for --torch and --torch-pairs")
	f.BoolVar(&ckpt, "gradient-checkpointing", false, "recompute each layer's activations in the backward, as smaug train --gradient-checkpointing")
	f.StringVar(&batch.Data, "data", "", "JSONL of pairs (token ids, or text with --tokenizer) to train on instead of random tokens")
	f.StringVar(&batch.Tokenizer, "tokenizer", "", "tokenizer (tokenizer.json, .model or GGUF) of text pairs in --data")
	f.StringVar(&batch.PromptTemplate, "prompt-template", "", promptTemplateUsage)
	f.BoolVar(&batch.IDsModVocab, "ids-modulo-vocab", false, "take token ids modulo the shape's vocabulary (data tokenised for a larger one)")
	f.IntVar(&batch.Pairs, "pairs", 0, "pairs of --data per step (0: the shape's batch / 2)")
	f.BoolVar(&batch.NoShare, "no-share-prefix", false, "run every sequence whole instead of shared prefixes once")
	f.BoolVar(&paddingFree, "padding-free", true, "pack sequences without padding (false: pad each to the batch's longest, as TRL does)")
	f.BoolVar(&batch.Unfused, "unfused-output", false, "compute the logits of every position at once, then log-softmax and gather (TRL's output layer)")
	f.StringVar(&features, "features", "", `rows to measure side by side: comma-separated, each "none", "all" or features joined by "+" (share, fused, packing)`)
	f.IntVar(&batch.OutputChunk, "output-chunk", 0, "rows of logits the fused output layer computes at a time (0: 16 MiB worth)")
	f.Var(&batch.BaseDType, "base-dtype", "how the frozen weights (the LoRA base, the full mode's reference) are held: F32 or BF16")
	f.Var(&batch.ComputeDType, "compute-dtype", "precision of the matrix products, as smaug train --compute-dtype: F32, or BF16 (bfloat16 operands, float32 sums)")
	f.BoolVar(&child, "child", false, "internal: run one measurement in this process")
	f.MarkHidden("child")
	return cmd
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// benchTrainParent runs the alternation of every (shape, mode, feature
// row) child, and of the torch reference, and prints the table.
func benchTrainParent(ctx context.Context, out io.Writer, shapes, modes []string, rows []benchFeatures, loraR, iters, rounds, warmup int, python, torchScript string, torchPairs, ckpt bool, batch benchTrainBatch) error {
	for _, sh := range shapes {
		if _, ok := benchShapes[sh]; !ok {
			return fmt.Errorf("unknown shape %q (have small, smol135m)", sh)
		}
	}
	for _, m := range modes {
		if m != "full" && m != "lora" {
			return fmt.Errorf("unknown mode %q (have full, lora)", m)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "smaug-bench-train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	script := torchScript
	if torchPairs {
		script = filepath.Join(tmp, "torch_pairs_dpop.py")
		if err := os.WriteFile(script, []byte(torchPairsScript), 0o644); err != nil {
			return err
		}
	}
	var sides []*processSide
	cfg, err := protocolConfig(rounds, warmup, func(i int) string { return sides[i].name })
	if err != nil {
		return err
	}
	printMachine(out, cfg, script != "")
	const row = "%-9s %-6s %-20s %12s %7s %9s %20s %8s %14s  %-18s %s\n"
	fmt.Fprintf(out, row, "shape", "mode", "features", "trainable", "tokens", "positions", "tok/s", "RSS MiB", "estimate MiB", "vs torch", "kernels")
	for _, sh := range shapes {
		// The step's batch, written once as token ids: every child and the
		// torch reference train on exactly these pairs.
		exs, err := benchTrainExamples(benchShapes[sh], batch)
		if err != nil {
			return err
		}
		b := batch
		b.Data, b.Tokenizer, b.PromptTemplate, b.IDsModVocab, b.Pairs = filepath.Join(tmp, sh+"_pairs.jsonl"), "", "", false, len(exs)
		if err := writeBatchFile(b.Data, exs); err != nil {
			return err
		}
		sides = sides[:0]
		type smaugSide struct {
			mode string
			f    benchFeatures
		}
		var meta []smaugSide
		for _, mode := range modes {
			for _, f := range rows {
				b.benchFeatures = f
				args := append([]string{"bench", "train", "--child", "--shapes", sh, "--modes", mode, "--lora-r", strconv.Itoa(loraR),
					"--iters", strconv.Itoa(iters), "--gradient-checkpointing=" + strconv.FormatBool(ckpt)}, b.args()...)
				sides = append(sides, &processSide{name: fmt.Sprintf("smaug %s %s %s", sh, mode, f.name()), cmd: func(ctx context.Context) *exec.Cmd {
					return exec.CommandContext(ctx, self, args...)
				}})
				meta = append(meta, smaugSide{mode, f})
			}
		}
		// torchOf[mode] is the index of the torch side each mode is compared with.
		torchOf := map[string]int{}
		switch {
		case torchPairs:
			for _, mode := range modes {
				torchOf[mode] = len(sides)
				sides = append(sides, torchPairsSide(python, script, sh, mode, loraR, iters, b.Data))
			}
		case script != "":
			for _, mode := range modes {
				torchOf[mode] = len(sides)
			}
			sides = append(sides, torchSide(python, script, sh))
		}
		ab := make([]abbench.Side, len(sides))
		for i, sd := range sides {
			ab[i] = sd.side()
		}
		res, err := abbench.Run(ctx, cfg, ab)
		if err != nil {
			return fmt.Errorf("bench train %s: %w", sh, err)
		}
		for i, m := range meta {
			last := res.Rates[i][len(res.Rates[i])-1]
			r, ok := res.Rate(i, "tokens_per_s")
			ratio := "-"
			if ti, ok := torchOf[m.mode]; ok {
				ratio = fmtRatio(res.Ratio(i, "tokens_per_s", ti, "train_tokens_per_s"))
			}
			sd, est := sides[i], last["estimate_mib"]
			fmt.Fprintf(out, row, sh, m.mode, m.f.name(), fmt.Sprint(int64(last["trainable_params"])), fmt.Sprint(int64(last["tokens_per_step"])), fmt.Sprint(int64(last["positions_per_step"])), fmtRate(r, ok),
				fmt.Sprintf("%.0f", sd.rss), fmt.Sprintf("%.0f (%+.0f%%)", est, 100*(est/sd.rss-1)), ratio, sd.label)
		}
		for i := len(meta); i < len(sides); i++ {
			sd, last := sides[i], res.Rates[i][len(res.Rates[i])-1]
			r, ok := res.Rate(i, "train_tokens_per_s")
			mode, what, tokens, positions := "full", "torch", fmt.Sprint(benchShapes[sh].Batch*benchShapes[sh].Seq), "-"
			if torchPairs {
				mode, what, tokens, positions = modes[i-len(meta)], "torch (TRL layout)", fmt.Sprint(int64(last["tokens_per_step"])), fmt.Sprint(int64(last["positions_per_step"]))
			}
			fmt.Fprintf(out, row, sh, mode, what, fmt.Sprint(int64(last["trainable_params"])), tokens, positions, fmtRate(r, ok),
				fmt.Sprintf("%.0f", sd.rss), "-", "-", fmt.Sprintf("%s, %.0f threads", sd.label, last["threads"]))
		}
	}
	switch {
	case torchPairs:
		fmt.Fprintln(out, "torch: the same pairs, each sequence padded to the batch's longest, logits of every position (TRL's layout); each mode is compared with torch in that mode.")
	case script != "":
		fmt.Fprintln(out, "torch: a full fine-tuning DPOP step on its own random batch; lora rows are compared with it too.")
	}
	return nil
}

// torchPairsScript is the PyTorch reference of --torch-pairs, written to a
// temporary file when run.
//
//go:embed torch_pairs_dpop.py
var torchPairsScript string

// torchPairsSide runs the embedded reference on the batch file pairs with
// shape's dimensions in mode, with Threads() threads.
func torchPairsSide(python, script, shape, mode string, loraR, iters int, pairs string) *processSide {
	s := benchShapes[shape]
	c, _ := json.Marshal(map[string]any{"hidden": s.Hidden, "layers": s.Layers, "heads": s.Heads, "kv_heads": s.KVHeads,
		"intermediate": s.Inter, "vocab": s.Vocab, "rope_theta": 10000.0, "rms_eps": 1e-5})
	return &processSide{name: fmt.Sprintf("torch %s %s", shape, mode), hint: " (the reference needs torch: apt-get install -y python3-torch, and --python naming that interpreter)",
		cmd: func(ctx context.Context) *exec.Cmd {
			return exec.CommandContext(ctx, python, script, "--batch", pairs, "--config", string(c), "--threads", strconv.Itoa(kernels.Threads()),
				"--iters", strconv.Itoa(iters), "--mode", mode, "--lora-r", strconv.Itoa(loraR))
		}}
}

// writeBatchFile writes pairs as token-id JSONL (prompt_ids, chosen_ids,
// rejected_ids), the layout smaug train and the torch reference read.
func writeBatchFile(path string, exs []train.Example) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, e := range exs {
			if err := enc.Encode(map[string][]int{"prompt_ids": e.Prompt, "chosen_ids": e.Chosen, "rejected_ids": e.Rejected}); err != nil {
				return err
			}
		}
		return nil
	})
}

// benchTrainChild measures one shape in one mode and prints the result as
// a JSON line.
func benchTrainChild(out io.Writer, shape, mode string, loraR, iters int, ckpt bool, batch benchTrainBatch) error {
	s, ok := benchShapes[shape]
	if !ok {
		return fmt.Errorf("unknown shape %q", shape)
	}
	exs, err := benchTrainExamples(s, batch)
	if err != nil {
		return err
	}
	cfg := s.config()
	for _, e := range exs {
		cfg.MaxPositionEmbeddings = max(cfg.MaxPositionEmbeddings, len(e.Prompt)+max(len(e.Chosen), len(e.Rejected)))
	}
	policy, err := model.NewRandom(cfg, 0, 0.02)
	if err != nil {
		return err
	}
	policy.GradientCheckpointing = ckpt
	var ref *model.Model // nil with LoRA: the base with the adapter off
	var trainable []model.Param
	switch mode {
	case "full":
		if ref, err = model.NewRandom(cfg, 1, 0.02); err != nil {
			return err
		}
		ref.Freeze()
		trainable = policy.Params()
	case "lora":
		lc := model.LoRAConfig{R: loraR, Alpha: float64(2 * loraR), Targets: benchLoRATargets}
		if err := policy.AttachLoRA(lc, 0); err != nil {
			return err
		}
		trainable = policy.LoRAParams()
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	params := make([]*optim.Param, len(trainable))
	var nTrainable int64
	for i, p := range trainable {
		params[i] = &optim.Param{Name: p.Name, Data: p.Tensor.Data, Grad: p.Tensor.Grad, Decay: !optim.NoDecay(p.Name)}
		nTrainable += int64(len(p.Tensor.Data))
	}
	opt, err := optim.NewAdamW(optim.DefaultBeta1, optim.DefaultBeta2, optim.DefaultEps, 0.01)
	if err != nil {
		return err
	}
	spec, err := pref.ParseSpec("dpop", "") // the paper's β 0.3 and λ 50
	if err != nil {
		return err
	}

	for _, m := range []*model.Model{policy, ref} {
		if m != nil {
			m.NoSharePrefix, m.Padded, m.UnfusedOutput, m.OutputChunk = batch.NoShare, batch.Padded, batch.Unfused, batch.OutputChunk
			m.ComputeDType = batch.ComputeDType
			if batch.BaseDType == dtype.BF16 {
				m.HoldFrozenBF16()
			}
		}
	}
	label := kernels.Backend()
	if batch.ComputeDType == dtype.BF16 {
		label += ", bf16 compute: " + kernels.BF16Backend()
	}
	n := len(exs)
	items, _ := train.PairItems(exs)
	tok, positions := 0, 0
	for _, it := range items {
		tok += len(it.Prompt) + len(it.Completion)
	}
	tp := tensor.NewTape()
	seed := make([]float32, 2*n)
	step := func() error {
		var rs *model.Scores
		var err error
		if ref != nil {
			rs, err = ref.LogProbs(nil, items)
		} else {
			policy.SetAdapterEnabled(false)
			rs, err = policy.LogProbs(nil, items)
			policy.SetAdapterEnabled(true)
		}
		if err != nil {
			return err
		}
		ps, err := policy.LogProbs(tp, items)
		if err != nil {
			return err
		}
		positions = ps.Positions
		pairs := make([]pref.Pair, n)
		for i := range pairs {
			pairs[i] = pref.Pair{
				PolicyChosen: float64(ps.Seq.Data[i]), PolicyRejected: float64(ps.Seq.Data[n+i]),
				RefChosen: float64(rs.Seq.Data[i]), RefRejected: float64(rs.Seq.Data[n+i]),
				ChosenLen: len(exs[i].Chosen), RejectedLen: len(exs[i].Rejected),
			}
		}
		res, err := spec.Batch(pairs, nil)
		if err != nil {
			return err
		}
		for i, g := range res.Grads {
			seed[i], seed[n+i] = float32(g.Chosen), float32(g.Rejected)
		}
		tp.Backward(ps.Seq, seed)
		tp.Reset()
		if err := opt.Update(params, 1e-5); err != nil {
			return err
		}
		for _, p := range params {
			clear(p.Grad)
		}
		return nil
	}
	if err := step(); err != nil {
		return err
	}
	t0 := time.Now()
	for range iters {
		if err := step(); err != nil {
			return err
		}
	}
	dt := time.Since(t0).Seconds() / float64(iters)
	b, err := json.Marshal(trainBenchResult{Shape: shape, Mode: mode, Features: batch.name(), Kernels: label, Params: policy.NumParams(),
		Trainable: nTrainable, Tokens: tok, Positions: positions, StepS: dt, TokensPerS: float64(tok) / dt, PeakRSSMiB: peakRSSMiB(),
		EstimateMiB: float64(benchEstimate(s, mode, loraR, ckpt, batch.BaseDType == dtype.BF16, exs).Total()) / (1 << 20)})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(b))
	return nil
}

// benchEstimate is memplan's estimate of a bench train step on exs: a
// frozen F32 copy as the reference in full mode, the base with the adapter
// off with LoRA.
func benchEstimate(s benchShape, mode string, loraR int, ckpt, baseBF16 bool, exs []train.Example) memplan.Estimate {
	seqLen, completion := 0, 0
	for _, e := range exs {
		seqLen = max(seqLen, len(e.Prompt)+len(e.Chosen), len(e.Prompt)+len(e.Rejected))
		completion += len(e.Chosen) + len(e.Rejected)
	}
	p := memplan.Plan{Model: s.config(), Reference: memplan.RefFrozenCopy, GradientCheckpointing: ckpt, BaseBF16: baseBF16,
		Sequences: 2 * len(exs), SeqLen: seqLen, CompletionTokens: completion}
	if mode == "lora" {
		p.LoRARank, p.LoRATargets, p.Reference = loraR, benchLoRATargets, memplan.RefAdapterOff
	}
	return p.Estimate()
}

// benchTrainExamples is the batch of pairs a step trains on: B/2 pairs of
// random tokens (a one-token prompt with chosen and rejected completions of
// T−1 tokens, as the PyTorch script pairs them), or the first pairs of
// batch.Data.
func benchTrainExamples(s benchShape, batch benchTrainBatch) ([]train.Example, error) {
	n := batch.Pairs
	if n == 0 {
		n = s.Batch / 2
	}
	if batch.Data == "" {
		seqs := s.randomBatch(rand.New(rand.NewPCG(1, 1)))
		n = s.Batch / 2
		exs := make([]train.Example, n)
		for i := range exs {
			exs[i] = train.Example{Prompt: seqs[i].Prompt, Chosen: seqs[i].Completion, Rejected: seqs[n+i].Completion}
		}
		return exs, nil
	}
	lo := train.LoadOptions{Mode: train.Preference, MaxLength: math.MaxInt, MaxPromptLength: math.MaxInt - 1}
	if err := textSupport(&lo, batch.Tokenizer, "", batch.PromptTemplate, false); err != nil {
		return nil, err
	}
	all, _, err := train.LoadExamples(batch.Data, lo)
	if err != nil {
		return nil, &flagError{dataTerms.Replace(err.Error()), err}
	}
	exs := all[:min(n, len(all))]
	for _, e := range exs {
		for _, ids := range [][]int{e.Prompt, e.Chosen, e.Rejected} {
			for j, id := range ids {
				switch {
				case batch.IDsModVocab && id >= 0:
					ids[j] = id % s.Vocab
				case id < 0 || id >= s.Vocab:
					return nil, fmt.Errorf("%s:%d: token id %d is outside the shape's vocabulary (0..%d); --ids-modulo-vocab folds ids into it", e.Source, e.Line, id, s.Vocab-1)
				}
			}
		}
	}
	if len(exs) < n {
		return nil, fmt.Errorf("%s: %d pairs, want %d", batch.Data, len(exs), n)
	}
	return exs, nil
}
