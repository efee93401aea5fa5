package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
)

// benchShapes are smaug bench's model shapes.
// Prompts of prompt tokens, gen new tokens each.
var benchShapes = []struct {
	name        string
	prompt, gen int
	cfg         hf.Config
}{
	{"small", 64, 64, hf.Config{VocabSize: 4096, HiddenSize: 256, IntermediateSize: 688, NumHiddenLayers: 4,
		NumAttentionHeads: 4, NumKeyValueHeads: 4, HeadDim: 64}},
	{"smol135m", 32, 32, hf.Config{VocabSize: 49152, HiddenSize: 576, IntermediateSize: 1536, NumHiddenLayers: 30,
		NumAttentionHeads: 9, NumKeyValueHeads: 3, HeadDim: 64, TieWordEmbeddings: true}},
}

// BenchmarkStreams measures generated tokens/s and the mean time to first
// token with 1, 4 and 16 concurrent streams (greedy; small: prompts of 64
// tokens, 64 new tokens each; smol135m: 32 and 32) on smaug bench's shapes:
//
//	go test ./engine -run '^$' -bench Streams -benchtime 1x
func BenchmarkStreams(b *testing.B) {
	for _, sh := range benchShapes {
		c := sh.cfg
		c.Architectures, c.ModelType = []string{"LlamaForCausalLM"}, "llama"
		c.MaxPositionEmbeddings, c.RMSNormEps, c.RopeTheta, c.HiddenAct, c.BOSTokenID = 2048, 1e-5, 10000, "silu", -1
		var m *model.Model
		for _, n := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/streams=%d", sh.name, n), func(b *testing.B) {
				if m == nil {
					var err error
					if m, err = model.NewRandom(&c, 1, 0.02); err != nil {
						b.Fatal(err)
					}
				}
				e, err := New(Config{Model: m, MaxConcurrency: 16})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				go e.Run(ctx)
				defer cancel()
				promptLen, newTokens := sh.prompt, sh.gen
				var tokens int
				var ttft time.Duration
				b.ResetTimer()
				for b.Loop() {
					var wg sync.WaitGroup
					var mu sync.Mutex
					t0 := time.Now()
					for i := 0; i < n; i++ {
						p := make([]int, promptLen)
						for j := range p {
							p[j] = (i*131 + j*17) % c.VocabSize
						}
						s, err := e.Submit(ctx, Request{Prompt: p, MaxNewTokens: newTokens})
						if err != nil {
							b.Fatal(err)
						}
						wg.Add(1)
						go func() {
							defer wg.Done()
							first := true
							for range s.Tokens {
								mu.Lock()
								if first {
									ttft += time.Since(t0)
									first = false
								}
								tokens++
								mu.Unlock()
							}
						}()
					}
					wg.Wait()
				}
				b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
				b.ReportMetric(ttft.Seconds()*1000/float64(b.N*n), "ttft-ms")
			})
		}
	}
}
