package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/abbench"
	"github.com/smaug-dev/smaug/dtype"
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
	Tokens     int     `json:"tokens_per_step"`
	Positions  int     `json:"positions_per_step"`
	StepS      float64 `json:"step_s"`
	TokensPerS float64 `json:"tokens_per_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// EstimateMiB is memplan's estimate of the peak for the same step.
	EstimateMiB float64 `json:"estimate_mib"`
}

// benchTrainBatch is what a training benchmark step scores: the random
// batch of its shape, or pairs read from a token-id JSONL file, with the
// per-pair features on or off.
type benchTrainBatch struct {
	Data        string // token-id JSONL (prompt_ids, chosen_ids, rejected_ids); "" for random
	Pairs       int    // pairs of Data per step (0: the shape's batch / 2)
	NoShare     bool   // model.Model.NoSharePrefix
	OutputChunk int    // model.Model.OutputChunk
	// BaseDType holds the frozen weights (the LoRA base, the full mode's
	// reference) in BF16 or F32; ComputeDType is model.Model.ComputeDType.
	BaseDType, ComputeDType dtype.DType
}

// args are the flags that give b to a child process.
func (b benchTrainBatch) args() []string {
	return []string{"--data", b.Data, "--pairs", strconv.Itoa(b.Pairs),
		"--no-share-prefix=" + strconv.FormatBool(b.NoShare), "--output-chunk", strconv.Itoa(b.OutputChunk),
		"--base-dtype", b.BaseDType.String(), "--compute-dtype", b.ComputeDType.String()}
}

func newBenchTrainCmd() *cobra.Command {
	var shapes, modes, torchScript, python string
	var iters, loraR, rounds, warmup int
	var child, ckpt bool
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
steps after one warm-up. --data replaces the random batch with the first
--pairs pairs of a token-id JSONL file (prompt_ids, chosen_ids,
rejected_ids, as smaug logprobs reads; ids must fit the shape's vocabulary),
so real prompts share their prefixes; tokens then counts their sequences'
tokens and positions the positions the model ran. --no-share-prefix runs
every sequence whole, and --output-chunk sets the fused output layer's rows
per chunk (0: 16 MiB of logits; a number above the batch's positions is the
unfused layer), to measure each feature on and off. --base-dtype BF16 holds
the frozen weights (the LoRA base, the full mode's reference) in bfloat16 and
--compute-dtype BF16 runs the matrix products as smaug train
--compute-dtype BF16 does (the kernels column names the bfloat16 path: native
VDPBF16PS, or widened to float32 on CPUs without AVX512-BF16). Each (shape, mode) runs in its own process, so the
peak resident memory (VmHWM) is its own; the estimate column is what smaug
train's memory estimate (package memplan) predicts for the same step. With
--torch, the PyTorch CPU
reference (../shared/bench/torch_cpu_dpop.py, a full fine-tuning DPOP step)
runs with the same thread count, and each row shows smaug's rate as a
multiple of it.

The protocol is smaug bench's: the modes and torch run in alternation
(A B A B …), --rounds recorded rounds after --warmup unrecorded ones; rates
and ratios are medians over the rounds with their min–max, ratios taken
round by round. The report names the CPU model and flags and the kernels.`,
		Example: `  smaug bench train --shapes small
  smaug bench train --shapes small,smol135m --modes full,lora --torch ../shared/bench/torch_cpu_dpop.py
  smaug bench train --shapes small --torch ../shared/bench/torch_cpu_dpop.py --python /usr/bin/python3
  smaug bench train --shapes smol135m --modes lora --data pairs_ids.jsonl --pairs 4 --no-share-prefix
  smaug bench train --shapes smol135m --modes lora --base-dtype BF16 --compute-dtype BF16 --torch ../shared/bench/torch_cpu_dpop.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iters < 1 {
				return fmt.Errorf("--iters must be ≥ 1, got %d", iters)
			}
			if loraR < 1 {
				return fmt.Errorf("--lora-r must be ≥ 1, got %d", loraR)
			}
			if child {
				return benchTrainChild(cmd.OutOrStdout(), shapes, modes, loraR, iters, ckpt, batch)
			}
			switch {
			case batch.Pairs < 0 || batch.OutputChunk < 0:
				return fmt.Errorf("--pairs and --output-chunk must be ≥ 0, got %d and %d", batch.Pairs, batch.OutputChunk)
			case batch.Pairs > 0 && batch.Data == "":
				return fmt.Errorf("--pairs counts pairs of --data: give --data too")
			case batch.BaseDType == dtype.F16:
				return fmt.Errorf("--base-dtype %v: want F32 or BF16", batch.BaseDType)
			}
			if err := model.CheckCompute(batch.ComputeDType); err != nil {
				return fmt.Errorf("--compute-dtype: %w", err)
			}
			return benchTrainParent(cmd.Context(), cmd.OutOrStdout(), splitComma(shapes), splitComma(modes), loraR, iters, rounds, warmup, python, torchScript, ckpt, batch)
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
	f.StringVar(&python, "python", "python3", "python interpreter that has torch, for --torch")
	f.BoolVar(&ckpt, "gradient-checkpointing", false, "recompute each layer's activations in the backward, as smaug train --gradient-checkpointing")
	f.StringVar(&batch.Data, "data", "", "token-id JSONL of pairs to train on instead of random tokens")
	f.IntVar(&batch.Pairs, "pairs", 0, "pairs of --data per step (0: the shape's batch / 2)")
	f.BoolVar(&batch.NoShare, "no-share-prefix", false, "run every sequence whole instead of shared prefixes once")
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

func benchTrainParent(ctx context.Context, out io.Writer, shapes, modes []string, loraR, iters, rounds, warmup int, python, torchScript string, ckpt bool, batch benchTrainBatch) error {
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
	var sides []*processSide
	cfg, err := protocolConfig(rounds, warmup, func(i int) string { return sides[i].name })
	if err != nil {
		return err
	}
	printMachine(out, cfg, torchScript != "")
	const row = "%-9s %-6s %12s %7s %9s %20s %8s %14s  %-18s %s\n"
	fmt.Fprintf(out, row, "shape", "mode", "trainable", "tokens", "positions", "tok/s", "RSS MiB", "estimate MiB", "vs torch (full)", "kernels")
	for _, sh := range shapes {
		sides = sides[:0]
		for _, mode := range modes {
			sides = append(sides, &processSide{name: fmt.Sprintf("smaug %s %s", sh, mode), cmd: func(ctx context.Context) *exec.Cmd {
				return exec.CommandContext(ctx, self, append([]string{"bench", "train", "--child", "--shapes", sh, "--modes", mode,
					"--lora-r", strconv.Itoa(loraR), "--iters", strconv.Itoa(iters), "--gradient-checkpointing=" + strconv.FormatBool(ckpt)}, batch.args()...)...)
			}})
		}
		if torchScript != "" {
			sides = append(sides, torchSide(python, torchScript, sh))
		}
		ab := make([]abbench.Side, len(sides))
		for i, sd := range sides {
			ab[i] = sd.side()
		}
		res, err := abbench.Run(ctx, cfg, ab)
		if err != nil {
			return fmt.Errorf("bench train %s: %w", sh, err)
		}
		ti := len(sides) - 1
		tokens := fmt.Sprint(benchShapes[sh].Batch * benchShapes[sh].Seq)
		for i, sd := range sides {
			last := res.Rates[i][len(res.Rates[i])-1]
			if torchScript != "" && i == ti {
				r, ok := res.Rate(i, "train_tokens_per_s")
				fmt.Fprintf(out, row, sh, "torch", fmt.Sprint(int64(last["params"])), tokens, "-", fmtRate(r, ok), "-", "-", "-",
					fmt.Sprintf("%s, %.0f threads", sd.label, last["threads"]))
				continue
			}
			r, ok := res.Rate(i, "tokens_per_s")
			ratio := "-"
			if torchScript != "" {
				ratio = fmtRatio(res.Ratio(i, "tokens_per_s", ti, "train_tokens_per_s"))
			}
			est := last["estimate_mib"]
			fmt.Fprintf(out, row, sh, modes[i], fmt.Sprint(int64(last["trainable_params"])), fmt.Sprint(int64(last["tokens_per_step"])), fmt.Sprint(int64(last["positions_per_step"])), fmtRate(r, ok),
				fmt.Sprintf("%.0f", sd.rss), fmt.Sprintf("%.0f (%+.0f%%)", est, 100*(est/sd.rss-1)), ratio, sd.label)
		}
	}
	if torchScript != "" {
		fmt.Fprintln(out, "torch: a full fine-tuning DPOP step; lora rows are compared with it too.")
	}
	return nil
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
			m.NoSharePrefix, m.OutputChunk, m.ComputeDType = batch.NoShare, batch.OutputChunk, batch.ComputeDType
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
	b, err := json.Marshal(trainBenchResult{Shape: shape, Mode: mode, Kernels: label, Params: policy.NumParams(),
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
	all, _, err := train.LoadExamples(batch.Data, train.LoadOptions{Mode: train.Preference, MaxLength: math.MaxInt, MaxPromptLength: math.MaxInt - 1})
	if err != nil {
		return nil, err
	}
	exs := all[:min(n, len(all))]
	for _, e := range exs {
		for _, ids := range [][]int{e.Prompt, e.Chosen, e.Rejected} {
			for _, id := range ids {
				if id < 0 || id >= s.Vocab {
					return nil, fmt.Errorf("%s:%d: token id %d is outside the shape's vocabulary (0..%d)", e.Source, e.Line, id, s.Vocab-1)
				}
			}
		}
	}
	if len(exs) < n {
		return nil, fmt.Errorf("%s: %d pairs, want %d", batch.Data, len(exs), n)
	}
	return exs, nil
}
