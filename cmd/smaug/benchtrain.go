package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/kernels"
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
	StepS      float64 `json:"step_s"`
	TokensPerS float64 `json:"tokens_per_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

func newBenchTrainCmd() *cobra.Command {
	var shapes, modes, torchScript, python string
	var iters, loraR int
	var child bool
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
steps after one warm-up. Each (shape, mode) runs in its own process, so the
peak resident memory (VmHWM) is its own. With --torch, the PyTorch CPU
reference (../shared/bench/torch_cpu_dpop.py, a full fine-tuning DPOP step)
runs once per shape with the same thread count, and each row shows smaug's
rate as a multiple of it.`,
		Example: `  smaug bench train --shapes small
  smaug bench train --shapes small,smol135m --modes full,lora --torch ../shared/bench/torch_cpu_dpop.py
  smaug bench train --shapes small --torch ../shared/bench/torch_cpu_dpop.py --python /usr/bin/python3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iters < 1 {
				return fmt.Errorf("--iters must be ≥ 1, got %d", iters)
			}
			if loraR < 1 {
				return fmt.Errorf("--lora-r must be ≥ 1, got %d", loraR)
			}
			if child {
				return benchTrainChild(cmd.OutOrStdout(), shapes, modes, loraR, iters)
			}
			return benchTrainParent(cmd.OutOrStdout(), splitComma(shapes), splitComma(modes), loraR, iters, python, torchScript)
		},
	}
	f := cmd.Flags()
	f.StringVar(&shapes, "shapes", "small,smol135m", "comma-separated shapes: small, smol135m")
	f.StringVar(&modes, "modes", "full,lora", "comma-separated modes: full, lora")
	f.IntVar(&loraR, "lora-r", 16, "LoRA rank of the lora mode")
	f.IntVar(&iters, "iters", 3, "timed steps per measurement (after one warm-up step)")
	f.StringVar(&torchScript, "torch", "", "path of torch_cpu_dpop.py to run as the reference (needs python3-torch)")
	f.StringVar(&python, "python", "python3", "python interpreter that has torch, for --torch")
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

func benchTrainParent(out io.Writer, shapes, modes []string, loraR, iters int, python, torchScript string) error {
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
	const row = "%-9s %-8s %12s %10s %9s %8s %12s  %s\n"
	fmt.Fprintf(out, row, "shape", "mode", "trainable", "tokens", "tok/s", "step s", "peak RSS MiB", "vs torch")
	var backend string
	for _, sh := range shapes {
		var torchRate float64
		if torchScript != "" {
			tr, err := runTorch(python, torchScript, sh)
			if err != nil {
				return err
			}
			torchRate, _ = tr["train_tokens_per_s"].(float64)
			fmt.Fprintf(out, row, sh, "torch", fmt.Sprint(int64(toFloat(tr["params"]))), fmt.Sprint(benchShapes[sh].Batch*benchShapes[sh].Seq),
				fmt.Sprintf("%.0f", torchRate), fmt.Sprintf("%.3f", float64(benchShapes[sh].Batch*benchShapes[sh].Seq)/torchRate), "-",
				fmt.Sprintf("torch %v, %v threads", tr["torch"], tr["threads"]))
		}
		for _, mode := range modes {
			c := exec.Command(self, "bench", "train", "--child", "--shapes", sh, "--modes", mode,
				"--lora-r", strconv.Itoa(loraR), "--iters", strconv.Itoa(iters))
			c.Stderr = os.Stderr
			b, err := c.Output()
			if err != nil {
				return fmt.Errorf("bench train %s %s: %w", sh, mode, err)
			}
			var r trainBenchResult
			if err := json.Unmarshal(lastLine(b), &r); err != nil {
				return fmt.Errorf("bench train %s %s: %w", sh, mode, err)
			}
			backend = r.Kernels
			ratio := "-"
			if torchRate > 0 {
				ratio = fmt.Sprintf("%.2f×", r.TokensPerS/torchRate)
			}
			fmt.Fprintf(out, row, sh, mode, fmt.Sprint(r.Trainable), fmt.Sprint(r.Tokens), fmt.Sprintf("%.0f", r.TokensPerS),
				fmt.Sprintf("%.3f", r.StepS), fmt.Sprintf("%.0f", r.PeakRSSMiB), ratio)
		}
	}
	fmt.Fprintf(out, "kernels: %s\n", backend)
	if torchScript != "" {
		fmt.Fprintln(out, "torch: a full fine-tuning DPOP step; lora rows are compared with it too.")
	}
	return nil
}

func toFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

// benchTrainChild measures one shape in one mode and prints the result as
// a JSON line.
func benchTrainChild(out io.Writer, shape, mode string, loraR, iters int) error {
	s, ok := benchShapes[shape]
	if !ok {
		return fmt.Errorf("unknown shape %q", shape)
	}
	cfg := s.config()
	policy, err := model.NewRandom(cfg, 0, 0.02)
	if err != nil {
		return err
	}
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

	// B sequences of T random tokens: B/2 pairs, each a one-token prompt
	// with chosen and rejected completions of T−1 tokens, laid out as
	// training lays them out (train.PairItems: the chosen first).
	r := rand.New(rand.NewPCG(1, 1))
	seqs := s.randomBatch(r)
	n := s.Batch / 2
	exs := make([]train.Example, n)
	for i := range exs {
		exs[i] = train.Example{Prompt: seqs[i].Prompt, Chosen: seqs[i].Completion, Rejected: seqs[n+i].Completion}
	}
	items, _ := train.PairItems(exs)
	tp := tensor.NewTape()
	seed := make([]float32, s.Batch)
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
		pairs := make([]pref.Pair, n)
		for i := range pairs {
			pairs[i] = pref.Pair{
				PolicyChosen: float64(ps.Seq.Data[i]), PolicyRejected: float64(ps.Seq.Data[n+i]),
				RefChosen: float64(rs.Seq.Data[i]), RefRejected: float64(rs.Seq.Data[n+i]),
				ChosenLen: s.Seq - 1, RejectedLen: s.Seq - 1,
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
	tok := s.Batch * s.Seq
	b, err := json.Marshal(trainBenchResult{Shape: shape, Mode: mode, Kernels: kernels.Backend(), Params: policy.NumParams(),
		Trainable: nTrainable, Tokens: tok, StepS: dt, TokensPerS: float64(tok) / dt, PeakRSSMiB: peakRSSMiB()})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(b))
	return nil
}
