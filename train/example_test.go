package train_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/train"
)

// DPOP with a LoRA adapter, from Go: a model and examples in memory, the
// defaults of smaug train (DPOP, β 0.3, λ 50) with the fields a caller
// changes, and Run. The adapter and metrics land in the run folder.
func Example() {
	cfg := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama", VocabSize: 32,
		HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2,
		HeadDim: 8, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu"}
	base, err := model.NewRandom(cfg, 1, 0) // or model.LoadFrozen(folder, false)
	if err != nil {
		log.Fatal(err)
	}
	pairs := []train.Example{
		{Prompt: []int{1, 5, 6}, Chosen: []int{7, 8, 2}, Rejected: []int{7, 9, 2}},
		{Prompt: []int{1, 10, 11}, Chosen: []int{12, 13, 2}, Rejected: []int{14, 13, 2}},
	}
	out, _ := os.MkdirTemp("", "dpop-lora")
	defer os.RemoveAll(out)

	c := train.Defaults(train.Preference)
	c.Output, c.MaxSteps, c.BatchSize, c.Optim.LR = out, 4, 2, 1e-3
	c.LoRA.R, c.LoRA.Alpha = 8, 16
	t, err := train.New(c, train.Options{Train: pairs, Policy: base})
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	if err := t.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d steps of %s, β %g, λ %g\n", t.StepsDone(), c.Loss.Losses[0], c.Loss.Beta, c.Loss.DPOPLambda)
	_, err = os.Stat(out + "/adapter_model.safetensors")
	fmt.Println("adapter saved:", err == nil)
	// Output:
	// 4 steps of dpop, β 0.3, λ 50
	// adapter saved: true
}
