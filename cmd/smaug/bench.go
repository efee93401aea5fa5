package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

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
	var shapes, torchScript, python string
	var iters int
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

Each shape runs in its own process (so peak memory is its own), once with the
BLAS library and once with the pure-Go kernels. With --torch, the PyTorch CPU
reference script (../shared/bench/torch_cpu_dpop.py) runs on the same machine
in the same invocation and the ratio is printed.

smaug bench train measures a whole DPOP training step (reference forward,
policy forward+backward, AdamW), full and LoRA.`,
		Example: `  smaug bench
  smaug bench --shapes small --torch ../shared/bench/torch_cpu_dpop.py
  smaug bench train --shapes small --torch ../shared/bench/torch_cpu_dpop.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if child {
				return benchChild(cmd.OutOrStdout(), shapes, iters)
			}
			return benchParent(cmd.OutOrStdout(), splitComma(shapes), iters, torchScript, python)
		},
	}
	cmd.AddCommand(newBenchTrainCmd())
	f := cmd.Flags()
	f.StringVar(&shapes, "shapes", "small,smol135m", "comma-separated shapes: small, smol135m")
	f.IntVar(&iters, "iters", 3, "timed iterations per measurement (after one warm-up)")
	f.StringVar(&torchScript, "torch", "", "path of torch_cpu_dpop.py to run as the reference (needs python3-torch)")
	f.StringVar(&python, "python", "python3", "python interpreter that has torch, for --torch")
	f.BoolVar(&child, "child", false, "internal: run one measurement in this process")
	f.MarkHidden("child")
	return cmd
}

func benchParent(out io.Writer, shapes []string, iters int, torchScript, python string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	const row = "%-9s %-42s %13s %11s %12s  %s\n"
	fmt.Fprintf(out, row, "shape", "kernels", "fwd+bwd tok/s", "score tok/s", "peak RSS MiB", "vs torch (fwd+bwd / score)")
	for _, sh := range shapes {
		if _, ok := benchShapes[sh]; !ok {
			return fmt.Errorf("unknown shape %q (have small, smol135m)", sh)
		}
		var torch map[string]any
		if torchScript != "" {
			torch, err = runTorch(python, torchScript, sh)
			if err != nil {
				return err
			}
		}
		for _, blas := range []string{"on", "off"} {
			c := exec.Command(self, "bench", "--child", "--shapes", sh, "--iters", strconv.Itoa(iters))
			c.Env = append(os.Environ(), "SMAUG_BLAS="+blas)
			c.Stderr = os.Stderr
			b, err := c.Output()
			if err != nil {
				return fmt.Errorf("bench %s (SMAUG_BLAS=%s): %w", sh, blas, err)
			}
			var r benchResult
			if err := json.Unmarshal(lastLine(b), &r); err != nil {
				return fmt.Errorf("bench %s: %w", sh, err)
			}
			ratio := "-"
			if torch != nil {
				tt, _ := torch["train_tokens_per_s"].(float64)
				ts, _ := torch["score_tokens_per_s"].(float64)
				ratio = fmt.Sprintf("%.2f× / %.2f×  (torch %.0f / %.0f)", r.TrainTokensPerS/tt, r.ScoreTokensPerS/ts, tt, ts)
			}
			fmt.Fprintf(out, row, sh, r.Kernels, fmt.Sprintf("%.0f", r.TrainTokensPerS), fmt.Sprintf("%.0f", r.ScoreTokensPerS), fmt.Sprintf("%.0f", r.PeakRSSMiB), ratio)
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

// runTorch runs the PyTorch reference script with the python interpreter
// and returns the JSON object it prints last.
func runTorch(python, script, shape string) (map[string]any, error) {
	c := exec.Command(python, script, shape, strconv.Itoa(kernels.Threads()))
	c.Stderr = os.Stderr
	b, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("torch reference %s %s: %w (install torch for it: apt-get install -y python3-torch)", python, script, err)
	}
	var m map[string]any
	if err := json.Unmarshal(lastLine(b), &m); err != nil {
		return nil, fmt.Errorf("torch reference output: %w", err)
	}
	return m, nil
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
