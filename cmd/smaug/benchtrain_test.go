package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/pref"
	"github.com/smaug-dev/smaug/train"
)

// TestParseFeatureRows checks --features: "none", "all", features joined
// by "+", unknown names refused.
func TestParseFeatureRows(t *testing.T) {
	off := benchFeatures{NoShare: true, Padded: true, Unfused: true, OutputChunk: 7}
	tests := []struct {
		in      string
		want    []benchFeatures
		names   string
		wantErr string
	}{
		{"none,all", []benchFeatures{off, {OutputChunk: 7}}, "none,share+fused+packing", ""},
		{"share, fused ,packing", []benchFeatures{{Padded: true, Unfused: true, OutputChunk: 7},
			{NoShare: true, Padded: true, OutputChunk: 7}, {NoShare: true, Unfused: true, OutputChunk: 7}}, "share,fused,packing", ""},
		{"packing+fused", []benchFeatures{{NoShare: true, OutputChunk: 7}}, "fused+packing", ""},
		{"share+pad", nil, "", `unknown feature "pad"`},
		{" , ", nil, "", "no rows"},
	}
	for _, tt := range tests {
		got, err := parseFeatureRows(tt.in, 7)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseFeatureRows(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseFeatureRows(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		var names []string
		for _, f := range got {
			names = append(names, f.name())
		}
		if s := strings.Join(names, ","); s != tt.names {
			t.Errorf("parseFeatureRows(%q) names %q, want %q", tt.in, s, tt.names)
		}
	}
}

// TestBenchTrainBatchFile tokenises text pairs with the Llama-3 tokenizer
// as bench train does (--tokenizer, --ids-modulo-vocab on the small shape)
// and checks that the batch file written for the children and the torch
// reference holds exactly the ids smaug train would train on (its
// LoadExamples of the same file and tokenizer), folded into the vocabulary,
// and that reading the file back gives them unchanged.
func TestBenchTrainBatchFile(t *testing.T) {
	tok := sharedtest.Path(t, "fixtures/tokenizers/llama3/tokenizer.json")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	rows := []map[string]string{
		{"prompt": "Question: 2 apples and 3 pears?\nAnswer:", "chosen": " 2+3 = <<2+3=5>>5\n#### 5", "rejected": " 2+3 = <<2+3=5>>6\n#### 5"},
		{"prompt": "Question: Half of 48?\nAnswer:", "chosen": " 48/2 = 24\n#### 24", "rejected": " 48/2 = 25\n#### 24"},
		{"prompt": "Question: unused third pair\nAnswer:", "chosen": " x", "rejected": " y"},
	}
	var b strings.Builder
	for _, r := range rows {
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := benchShapes["small"]
	exs, err := benchTrainExamples(s, benchTrainBatch{Data: data, Tokenizer: tok, IDsModVocab: true, Pairs: 2})
	if err != nil {
		t.Fatal(err)
	}
	lo := train.LoadOptions{Mode: train.Preference, MaxLength: math.MaxInt, MaxPromptLength: math.MaxInt - 1}
	if err := textSupport(&lo, tok, "", "", false); err != nil {
		t.Fatal(err)
	}
	want, _, err := train.LoadExamples(data, lo)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 2 {
		t.Fatalf("%d pairs, want the first 2", len(exs))
	}
	folded := 0
	for i, e := range exs {
		w := want[i]
		for _, f := range []struct{ got, raw []int }{{e.Prompt, w.Prompt}, {e.Chosen, w.Chosen}, {e.Rejected, w.Rejected}} {
			if len(f.got) != len(f.raw) {
				t.Fatalf("pair %d: %d ids, smaug train has %d", i, len(f.got), len(f.raw))
			}
			for j, id := range f.raw {
				if f.got[j] != id%s.Vocab {
					t.Errorf("pair %d: id %d at %d, want %d mod %d", i, f.got[j], j, id, s.Vocab)
				}
				if id >= s.Vocab {
					folded++
				}
			}
		}
	}
	if folded == 0 {
		t.Errorf("expected Llama-3 ids above the small vocabulary, got %v", want[0].Prompt)
	}
	path := filepath.Join(dir, "batch.jsonl")
	if err := writeBatchFile(path, exs); err != nil {
		t.Fatal(err)
	}
	back, err := benchTrainExamples(s, benchTrainBatch{Data: path, Pairs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range exs {
		if !reflect.DeepEqual([][]int{back[i].Prompt, back[i].Chosen, back[i].Rejected}, [][]int{exs[i].Prompt, exs[i].Chosen, exs[i].Rejected}) {
			t.Errorf("pair %d read back differs", i)
		}
	}
	if _, err := benchTrainExamples(s, benchTrainBatch{Data: data, Tokenizer: tok, Pairs: 2}); err == nil || !strings.Contains(err.Error(), "--ids-modulo-vocab") {
		t.Errorf("ids above the vocabulary without --ids-modulo-vocab: err = %v", err)
	}
}

// TestTorchPairsMatchesSmaug runs the built-in PyTorch reference (--check:
// the first step's log-probs and loss, no timing) on a tiny random Llama
// saved by smaug and a batch of pairs of very different lengths, and
// compares with smaug on the same weights and tokens: every sequence's
// policy and reference log-prob within 2e-5 relative, the DPOP loss within
// 1e-5 relative, and the same token count (every token of both sequences). Skipped
// when /usr/bin/python3 has no torch.
func TestTorchPairsMatchesSmaug(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		t.Skipf("%s has no torch (apt-get install -y python3-torch): %v", python, err)
	}
	cfg := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama", VocabSize: 97, HiddenSize: 32,
		IntermediateSize: 48, NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 8,
		MaxPositionEmbeddings: 64, RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: -1}
	dir := t.TempDir()
	var models [2]*model.Model
	for i := range models {
		m, err := model.NewRandom(cfg, uint64(i), 0.2)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Save(filepath.Join(dir, []string{"policy", "ref"}[i]), "F32", 0); err != nil {
			t.Fatal(err)
		}
		models[i] = m
	}
	r := rand.New(rand.NewPCG(5, 6))
	ids := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = r.IntN(cfg.VocabSize)
		}
		return out
	}
	c1 := ids(9)
	exs := []train.Example{
		{Prompt: ids(3), Chosen: c1, Rejected: append(append([]int(nil), c1[:5]...), ids(2)...)}, // shared start
		{Prompt: ids(17), Chosen: ids(1), Rejected: ids(20)},                                     // very different lengths
		{Prompt: ids(1), Chosen: ids(4), Rejected: ids(4)},
	}
	batch := filepath.Join(dir, "batch.jsonl")
	if err := writeBatchFile(batch, exs); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "torch_pairs_dpop.py")
	if err := os.WriteFile(script, []byte(torchPairsScript), 0o644); err != nil {
		t.Fatal(err)
	}
	shape, _ := json.Marshal(map[string]any{"hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 48,
		"vocab": 97, "rope_theta": 10000.0, "rms_eps": 1e-5})
	out, err := exec.Command(python, script, "--batch", batch, "--config", string(shape), "--threads", "1", "--check",
		"--weights", filepath.Join(dir, "policy")+","+filepath.Join(dir, "ref")).Output()
	if err != nil {
		t.Fatalf("torch reference: %v\n%s", err, out)
	}
	var got struct {
		Policy    []float64 `json:"policy_logps"`
		Ref       []float64 `json:"ref_logps"`
		Loss      float64   `json:"loss"`
		Tokens    int       `json:"tokens_per_step"`
		Positions int       `json:"positions_per_step"`
	}
	if err := json.Unmarshal(lastLine(out), &got); err != nil {
		t.Fatalf("torch output %q: %v", out, err)
	}
	items, _ := train.PairItems(exs)
	n, tokens, longest := len(exs), 0, 0
	for _, it := range items {
		tokens += len(it.Prompt) + len(it.Completion)
		longest = max(longest, len(it.Prompt)+len(it.Completion))
	}
	if got.Tokens != tokens || got.Positions != 2*n*longest {
		t.Errorf("torch counted %d tokens, %d positions; want %d, %d", got.Tokens, got.Positions, tokens, 2*n*longest)
	}
	var want [2]*model.Scores
	for i, m := range models {
		// TRL's layout on smaug's side too: padded, unshared, unfused.
		m.NoSharePrefix, m.Padded, m.UnfusedOutput = true, true, true
		if want[i], err = m.LogProbs(nil, items); err != nil {
			t.Fatal(err)
		}
	}
	worst := 0.0
	for i := range items {
		for j, g := range [][]float64{got.Policy, got.Ref} {
			w := float64(want[j].Seq.Data[i])
			e := math.Abs(g[i]-w) / math.Abs(w)
			worst = max(worst, e)
			if e > 2e-5 {
				t.Errorf("sequence %d model %d: torch log-prob %v, smaug %v (relative %.1e > 2e-5)", i, j, g[i], w, e)
			}
		}
	}
	spec, err := pref.ParseSpec("dpop", "")
	if err != nil {
		t.Fatal(err)
	}
	pairs := make([]pref.Pair, n)
	for i := range pairs {
		pairs[i] = pref.Pair{PolicyChosen: float64(want[0].Seq.Data[i]), PolicyRejected: float64(want[0].Seq.Data[n+i]),
			RefChosen: float64(want[1].Seq.Data[i]), RefRejected: float64(want[1].Seq.Data[n+i]),
			ChosenLen: len(exs[i].Chosen), RejectedLen: len(exs[i].Rejected)}
	}
	res, err := spec.Batch(pairs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Loss-got.Loss) > 1e-5*res.Loss || res.Loss < 0.05 {
		t.Errorf("torch DPOP loss %v, smaug %v (want within 1e-5 relative, and a loss away from 0)", got.Loss, res.Loss)
	}
	t.Logf("worst log-prob relative difference %.1e; loss torch %.6f smaug %.6f", worst, got.Loss, res.Loss)
}
