package eval

import (
	"context"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// Benchmarks of the leaderboard workloads on smaug bench's shapes. The
// vocabulary is the Llama-2 tokenizer's 32,000 for both (the shapes' own
// are 4,096 and 49,152), so real task text tokenizes into it; the context
// length is 4,096 so 25-shot ARC is not truncated. Run one iteration of
// each (the smol135m ones take minutes on two cores):
//
//	go test ./eval/ -run '^$' -bench . -benchtime 1x
var benchShapes = map[string]hf.Config{
	"small":    {HiddenSize: 256, NumHiddenLayers: 4, NumAttentionHeads: 4, NumKeyValueHeads: 4, HeadDim: 64, IntermediateSize: 688},
	"smol135m": {HiddenSize: 576, NumHiddenLayers: 30, NumAttentionHeads: 9, NumKeyValueHeads: 3, HeadDim: 64, IntermediateSize: 1536},
}

func benchModel(b *testing.B, shape string) (*model.Model, *tokenizer.Tokenizer) {
	tok, err := tokenizer.Load(sharedtest.Path(b, "fixtures/tokenizers/llama2_hf"))
	if err != nil {
		b.Fatal(err)
	}
	c := benchShapes[shape]
	c.Architectures, c.ModelType = []string{"LlamaForCausalLM"}, "llama"
	c.VocabSize, c.MaxPositionEmbeddings, c.RMSNormEps, c.RopeTheta, c.HiddenAct = tok.VocabSize(), 4096, 1e-5, 10000, "silu"
	c.BOSTokenID, c.EOSTokenIDs = 1, []int{2}
	m, err := model.NewRandom(&c, 0, 0.02)
	if err != nil {
		b.Fatal(err)
	}
	return m, tok
}

func benchTasks(b *testing.B, name, path string, keep int) []*Task {
	ts, err := Load(name, sharedtest.Path(b, path), LeaderboardV1, -1)
	if err != nil {
		b.Fatal(err)
	}
	if keep > 0 && keep < len(ts) {
		ts = ts[:keep]
	}
	return ts
}

// benchLL runs the log-likelihood tasks and reports requests/s and the
// tokens scored per second (context and continuation tokens of every
// request, counted as one forward per request would process them).
func benchLL(b *testing.B, shape string, tasks []*Task, limit int) {
	m, tok := benchModel(b, shape)
	var reqs, toks int
	for _, t := range tasks {
		for _, in := range t.Instances(limit) {
			for _, r := range in.Requests {
				c, k := EncodePair(tok, r.Context, r.Continuation, false)
				reqs, toks = reqs+1, toks+len(c)+len(k)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Run(context.Background(), Config{Model: m, Tokenizer: tok, Tasks: tasks, Limit: limit}); err != nil {
			b.Fatal(err)
		}
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(reqs)/s, "requests/s")
	b.ReportMetric(float64(toks)/s, "request-tokens/s")
}

// benchAlone scores every request alone, one full forward each
// (model.LogProbs on context+continuation): what prefix reuse saves.
func benchAlone(b *testing.B, shape string, tasks []*Task, limit int) {
	m, tok := benchModel(b, shape)
	var items []model.Completion
	toks := 0
	for _, t := range tasks {
		for _, in := range t.Instances(limit) {
			for _, r := range in.Requests {
				c, k := EncodePair(tok, r.Context, r.Continuation, false)
				items = append(items, model.Completion{Prompt: c, Completion: k})
				toks += len(c) + len(k)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		for _, it := range items {
			if _, err := m.LogProbs(nil, []model.Completion{it}); err != nil {
				b.Fatal(err)
			}
		}
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(items))/s, "requests/s")
	b.ReportMetric(float64(toks)/s, "tokens/s")
}

func BenchmarkARC25ShotSmall(b *testing.B) {
	benchLL(b, "small", benchTasks(b, "arc_challenge", "data/arc_challenge_partial", 0), 20)
}
func BenchmarkARC25ShotSmol135m(b *testing.B) {
	benchLL(b, "smol135m", benchTasks(b, "arc_challenge", "data/arc_challenge_partial", 0), 4)
}
func BenchmarkMMLU5ShotSmall(b *testing.B) {
	benchLL(b, "small", benchTasks(b, "mmlu", "data/mmlu_derived", 2), 16)
}
func BenchmarkMMLU5ShotAloneSmall(b *testing.B) {
	benchAlone(b, "small", benchTasks(b, "mmlu", "data/mmlu_derived", 2), 16)
}
func BenchmarkMMLU5ShotSmol135m(b *testing.B) {
	benchLL(b, "smol135m", benchTasks(b, "mmlu", "data/mmlu_derived", 1), 8)
}
func BenchmarkMMLU5ShotAloneSmol135m(b *testing.B) {
	benchAlone(b, "smol135m", benchTasks(b, "mmlu", "data/mmlu_derived", 1), 8)
}

// benchGSM8K generates exactly 64 tokens per document (no stop strings)
// and reports generated tokens/s.
func benchGSM8K(b *testing.B, shape string, docs int) {
	m, tok := benchModel(b, shape)
	ts := benchTasks(b, "gsm8k", "data/gsm8k", 0)
	ts[0].Until, ts[0].MaxGenTokens = nil, 64
	m.Config.EOSTokenIDs = nil
	r := &runner{Config: Config{Model: m, Tokenizer: tok, BatchSize: 1}, maxLen: 4096}
	var ctxs [][]int
	for _, in := range ts[0].Instances(docs) {
		ctxs = append(ctxs, tok.Encode(in.Context, false))
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		for _, ids := range ctxs {
			if _, err := r.greedyUntil(context.Background(), ids, nil, 64); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(64*docs*b.N)/time.Since(start).Seconds(), "gen-tokens/s")
}

func BenchmarkGSM8KGenerateSmall(b *testing.B)    { benchGSM8K(b, "small", 4) }
func BenchmarkGSM8KGenerateSmol135m(b *testing.B) { benchGSM8K(b, "smol135m", 2) }
