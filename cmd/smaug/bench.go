package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/abbench"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/kernels"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tensor"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

// benchShape is a Llama-shaped model and batch for benchmarks; the same
// shapes as ../shared/bench/torch_cpu_dpop.py.
type benchShape struct {
	Hidden, Layers, Heads, KVHeads, Inter, Vocab, Seq, Batch int
}

var benchShapes = map[string]benchShape{
	"small":    {Hidden: 256, Layers: 4, Heads: 4, KVHeads: 4, Inter: 688, Vocab: 4096, Seq: 256, Batch: 8},
	"smol135m": {Hidden: 576, Layers: 30, Heads: 9, KVHeads: 3, Inter: 1536, Vocab: 49152, Seq: 512, Batch: 4},
}

// randomBatch is Batch sequences of Seq random tokens, each scored after a
// one-token prompt, as the PyTorch reference scores them.
func (s benchShape) randomBatch(r *rand.Rand) []model.Completion {
	items := make([]model.Completion, s.Batch)
	for i := range items {
		ids := make([]int, s.Seq)
		for j := range ids {
			ids[j] = r.IntN(s.Vocab)
		}
		items[i] = model.Completion{Prompt: ids[:1], Completion: ids[1:]}
	}
	return items
}

func (s benchShape) config() *hf.Config {
	return &hf.Config{
		Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: s.Vocab, HiddenSize: s.Hidden, IntermediateSize: s.Inter,
		NumHiddenLayers: s.Layers, NumAttentionHeads: s.Heads, NumKeyValueHeads: s.KVHeads,
		HeadDim: s.Hidden / s.Heads, MaxPositionEmbeddings: s.Seq, RMSNormEps: 1e-5, RopeTheta: 10000,
		HiddenAct: "silu", BOSTokenID: -1,
	}
}

// benchResult is one measurement, printed as a JSON line by the child
// process that made it.
type benchResult struct {
	Shape           string  `json:"shape"`
	Kernels         string  `json:"kernels"`
	Params          int64   `json:"params"`
	Tokens          int     `json:"tokens_per_step"`
	TrainTokensPerS float64 `json:"fwd_bwd_tokens_per_s"`
	ScoreTokensPerS float64 `json:"score_tokens_per_s"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
}

func newBenchCmd() *cobra.Command {
	var shapes, torchScript, python, blas string
	var iters, rounds, warmup int
	var child bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure forward+backward and scoring speed on Llama-shaped models",
		Long: `Measure tokens/s of forward+backward (the policy half of a preference
training step: batched log-probs, backward to every parameter) and of
forward-only scoring, and the peak resident memory, on randomly initialised
Llama-shaped models:

  small     hidden 256, 4 layers, 4 heads, intermediate 688, vocab 4096, 8 × 256 tokens
  smol135m  hidden 576, 30 layers, 9 heads (3 KV), intermediate 1536, vocab 49152, 4 × 512

Each measurement runs in its own process (so peak memory is its own), with
the kernels that SMAUG_BLAS selects for each --blas value (auto: the
calibrated default, on: the BLAS library, off: pure Go). With --torch, the
PyTorch CPU reference script (../shared/bench/torch_cpu_dpop.py) runs on the
same machine in the same invocation.

The protocol holds on a busy machine: every contender (each --blas value,
then torch) runs once per round, A B A B …, for --rounds rounds after
--warmup unrecorded rounds, and each figure is the median over the rounds
with its min–max; ratios to torch are taken round by round, between
measurements made next to each other. The first line names the CPU model
and flags; each row names the kernels in use.

smaug bench train measures a whole DPOP training step (reference forward,
policy forward+backward, AdamW), full and LoRA.`,
		Example: `  smaug bench
  smaug bench --shapes small --torch ../shared/bench/torch_cpu_dpop.py
  smaug bench --shapes small --blas on,off --rounds 5
  smaug bench peak
  smaug bench train --shapes small --torch ../shared/bench/torch_cpu_dpop.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if child {
				return benchChild(cmd.OutOrStdout(), shapes, iters)
			}
			return benchParent(cmd.Context(), cmd.OutOrStdout(), splitComma(shapes), splitComma(blas), iters, rounds, warmup, torchScript, python)
		},
	}
	cmd.AddCommand(newBenchTrainCmd(), newBenchPeakCmd())
	f := cmd.Flags()
	f.StringVar(&shapes, "shapes", "small,smol135m", "comma-separated shapes: small, smol135m")
	f.IntVar(&iters, "iters", 3, "timed iterations per measurement (after one warm-up)")
	f.IntVar(&rounds, "rounds", 3, "recorded rounds of the alternation (at least 3)")
	f.IntVar(&warmup, "warmup", 1, "unrecorded rounds before them")
	f.StringVar(&blas, "blas", "auto", "comma-separated SMAUG_BLAS values to measure: auto, on, off")
	f.StringVar(&torchScript, "torch", "", "path of torch_cpu_dpop.py to run as the reference (needs python3-torch)")
	f.StringVar(&python, "python", "python3", "python interpreter that has torch, for --torch")
	f.BoolVar(&child, "child", false, "internal: run one measurement in this process")
	f.MarkHidden("child")
	return cmd
}

func benchParent(ctx context.Context, out io.Writer, shapes, blasModes []string, iters, rounds, warmup int, torchScript, python string) error {
	for _, sh := range shapes {
		if _, ok := benchShapes[sh]; !ok {
			return fmt.Errorf("unknown shape %q (have small, smol135m)", sh)
		}
	}
	for _, b := range blasModes {
		if b != "auto" && b != "on" && b != "off" {
			return fmt.Errorf("unknown --blas value %q (have auto, on, off)", b)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var sides []*processSide
	names := func(i int) string { return sides[i].name }
	cfg, err := protocolConfig(rounds, warmup, names)
	if err != nil {
		return err
	}
	printMachine(out, cfg, torchScript != "")
	const row = "%-9s %-10s %-52s %20s %20s %8s  %s\n"
	fmt.Fprintf(out, row, "shape", "SMAUG_BLAS", "kernels", "fwd+bwd tok/s", "score tok/s", "RSS MiB", "vs torch: fwd+bwd / score")
	for _, sh := range shapes {
		sides = sides[:0]
		for _, blas := range blasModes {
			sides = append(sides, &processSide{name: fmt.Sprintf("smaug %s SMAUG_BLAS=%s", sh, blas), cmd: func(ctx context.Context) *exec.Cmd {
				c := exec.CommandContext(ctx, self, "bench", "--child", "--shapes", sh, "--iters", strconv.Itoa(iters))
				c.Env = append(os.Environ(), "SMAUG_BLAS="+blas)
				return c
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
			return fmt.Errorf("bench %s: %w", sh, err)
		}
		ti := len(sides) - 1
		for i, sd := range sides {
			ratio := "-"
			if torchScript != "" && i < ti {
				rt, okT := res.Ratio(i, "fwd_bwd_tokens_per_s", ti, "train_tokens_per_s")
				rs, okS := res.Ratio(i, "score_tokens_per_s", ti, "score_tokens_per_s")
				ratio = fmtRatio(rt, okT) + " / " + fmtRatio(rs, okS)
			}
			train, score, rss := "fwd_bwd_tokens_per_s", "score_tokens_per_s", fmt.Sprintf("%.0f", sd.rss)
			if torchScript != "" && i == ti {
				train, rss = "train_tokens_per_s", "-"
			}
			t, okT := res.Rate(i, train)
			sc, okS := res.Rate(i, score)
			blas := "-"
			if i < len(blasModes) {
				blas = blasModes[i]
			}
			fmt.Fprintf(out, row, sh, blas, sd.label, fmtRate(t, okT), fmtRate(sc, okS), rss, ratio)
		}
	}
	if torchScript != "" {
		fmt.Fprintln(out, "torch fwd+bwd is a full DPOP step (policy forward+backward, reference forward, AdamW); smaug's is policy forward+backward only.")
	}
	return nil
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func benchChild(out io.Writer, shape string, iters int) error {
	s := benchShapes[shape]
	m, err := model.NewRandom(s.config(), 0, 0.02)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 1))
	items := s.randomBatch(r)
	tp := tensor.NewTape()
	seed := make([]float32, s.Batch)
	for i := range seed {
		seed[i] = float32(r.NormFloat64())
	}
	train := func() error {
		m.ZeroGrad()
		sc, err := m.LogProbs(tp, items)
		if err != nil {
			return err
		}
		tp.Backward(sc.Seq, seed)
		tp.Reset()
		return nil
	}
	score := func() error {
		_, err := m.LogProbs(nil, items)
		return err
	}
	timeIt := func(f func() error) (float64, error) {
		if err := f(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		for i := 0; i < iters; i++ {
			if err := f(); err != nil {
				return 0, err
			}
		}
		return time.Since(t0).Seconds() / float64(iters), nil
	}
	dt, err := timeIt(train)
	if err != nil {
		return err
	}
	ds, err := timeIt(score)
	if err != nil {
		return err
	}
	tok := s.Batch * s.Seq
	res := benchResult{Shape: shape, Kernels: kernels.Backend(), Params: m.NumParams(), Tokens: tok,
		TrainTokensPerS: float64(tok) / dt, ScoreTokensPerS: float64(tok) / ds, PeakRSSMiB: peakRSSMiB()}
	b, _ := json.Marshal(res)
	fmt.Fprintln(out, string(b))
	return nil
}

// peakRSSMiB reads the process's peak resident set size (VmHWM) on Linux;
// 0 elsewhere.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
