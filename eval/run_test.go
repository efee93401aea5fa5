package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// tinyLlama2 is a random model over the Llama-2 vocabulary with a short
// context (256), so long few-shot contexts exercise truncation.
func tinyLlama2(t testing.TB) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	tok, err := tokenizer.Load(sharedtest.Path(t, "fixtures/tokenizers/llama2_hf"))
	if err != nil {
		t.Fatal(err)
	}
	c := hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: tok.VocabSize(), HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 2,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 8, MaxPositionEmbeddings: 256,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2}}
	m, err := model.NewRandom(&c, 11, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

func sharedLeaderboard(t testing.TB) []*Task {
	t.Helper()
	paths := map[string]string{
		"arc_challenge": "data/arc_challenge_partial", "hellaswag": "data/hellaswag_llamacpp_txt",
		"mmlu": "data/mmlu_derived", "truthfulqa_mc2": "data/truthfulqa/data",
		"winogrande": "data/llmfoundry_icl/winogrande.jsonl", "gsm8k": "data/gsm8k",
	}
	var tasks []*Task
	for _, s := range Leaderboard {
		ts, err := Load(s.Name, sharedtest.Path(t, paths[s.Name]), LeaderboardV1, -1)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, ts...)
	}
	return tasks
}

// The leaderboard at --limit 20 gives identical results JSON and samples
// with batch size 1 and 16, and every log-likelihood matches scoring the
// request alone in one batched forward without a cache (model.LogProbs)
// within 1e-4 absolute.
func TestRunBatchSizeInvariantAndMatchesAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the six tasks twice")
	}
	m, tok := tinyLlama2(t)
	tasks := sharedLeaderboard(t)
	for _, tk := range tasks {
		if tk.Kind == Generate {
			tk.MaxGenTokens = 24 // a random model never stops; keep the test fast
		}
	}
	var jsons [][]byte
	var samples [][]TaskResult
	for _, bs := range []int{1, 16} {
		trs, err := Run(context.Background(), Config{Model: m, Tokenizer: tok, Tasks: tasks, Limit: 20, BatchSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(Aggregate(trs, map[string]any{"limit": 20}))
		if err != nil {
			t.Fatal(err)
		}
		jsons, samples = append(jsons, b), append(samples, trs)
	}
	if !bytes.Equal(jsons[0], jsons[1]) {
		t.Fatal("results JSON differs between --batch-size 1 and 16")
	}
	if !reflect.DeepEqual(samples[0], samples[1]) {
		t.Fatal("samples differ between --batch-size 1 and 16")
	}
	var worst float64
	checked := 0
	for _, tr := range samples[0] {
		if tr.Task.Kind == Generate {
			if len(tr.Samples) != 20 || tr.Samples[0].Requests[0].Generation == nil {
				t.Fatalf("gsm8k: %d samples", len(tr.Samples))
			}
			continue
		}
		for si, s := range tr.Samples {
			if tr.Task.Group == "mmlu" && si%5 != 0 {
				continue // a fifth of MMLU keeps the test fast
			}
			for _, rq := range s.Requests {
				c := s.Context
				if rq.Context != "" {
					c = rq.Context
				}
				ci, ki := EncodePair(tok, c, rq.Continuation, false)
				seq := append(ci, ki...)
				if len(seq) > 257 {
					seq = seq[len(seq)-257:]
				}
				n := min(len(ki), len(seq)-1)
				sc, err := m.LogProbs(nil, []model.Completion{{Prompt: seq[:len(seq)-n], Completion: seq[len(seq)-n:]}})
				if err != nil {
					t.Fatal(err)
				}
				d := math.Abs(float64(sc.Seq.Data[0]) - *rq.LogLikelihood)
				worst = max(worst, d)
				checked++
			}
		}
	}
	t.Logf("%d requests checked against LogProbs alone: max |Δ log-likelihood| = %.2e", checked, worst)
	if worst > 1e-4 || checked < 500 {
		t.Errorf("max |Δ| = %.2e over %d requests (tolerance 1e-4)", worst, checked)
	}
	res := Aggregate(samples[0], nil)
	for _, s := range Leaderboard {
		if _, _, ok := res.Score(s.Name); !ok {
			t.Errorf("no %s score", s.Name)
		}
	}
	if len(res.GroupSubtasks["mmlu"]) != 57 || res.NSamples["arc_challenge"].Effective != 20 {
		t.Errorf("mmlu subtasks %d, arc samples %+v", len(res.GroupSubtasks["mmlu"]), res.NSamples["arc_challenge"])
	}
}
