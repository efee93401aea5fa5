package model_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/model"
)

// tinyCheckpoint writes a small random Llama checkpoint (config.json and
// model.safetensors, as transformers' save_pretrained writes them) into a
// new temporary folder and returns it; a downloaded Hugging Face folder
// works the same.
func tinyCheckpoint() string {
	c := &hf.Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: 32, HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 4, MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2}}
	m, err := model.NewRandom(c, 42, 0.5)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "model-example")
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Save(filepath.Join(dir, "tiny"), "F32", 0); err != nil {
		log.Fatal(err)
	}
	return filepath.Join(dir, "tiny")
}

// Load a Hugging Face checkpoint folder, with a hook for the warnings
// transformers would log (tensors the model does not use, settings run
// differently).
func ExampleLoadOptions_Load() {
	dir := tinyCheckpoint()
	defer os.RemoveAll(filepath.Dir(dir))

	m, err := model.LoadOptions{Warn: func(msg string) { log.Print("warning: ", msg) }}.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Config.Architecture(), len(m.Layers), "layers,", m.NumParams(), "parameters")
	// Output: LlamaForCausalLM 2 layers, 5712 parameters
}

// Score completions given their prompts: log π(completion | prompt), summed
// over the completion's tokens, for a batch in one forward.
func ExampleModel_LogProbs() {
	dir := tinyCheckpoint()
	defer os.RemoveAll(filepath.Dir(dir))
	m, err := model.Load(dir)
	if err != nil {
		log.Fatal(err)
	}

	scores, err := m.LogProbs(nil, []model.Completion{
		{Prompt: []int{1, 5, 9}, Completion: []int{7, 2}},
		{Prompt: []int{1, 5, 9}, Completion: []int{30, 2}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, lp := range scores.Seq.Data {
		fmt.Printf("completion %d: log-prob %.2f over %d tokens\n", i, lp, len(scores.Tokens[i]))
	}
	// Output:
	// completion 0: log-prob -13.10 over 2 tokens
	// completion 1: log-prob -12.45 over 2 tokens
}

// Generate greedily from a prompt with the KV cache, stopping at EOS.
func ExampleModel_Generate() {
	dir := tinyCheckpoint()
	defer os.RemoveAll(filepath.Dir(dir))
	m, err := model.Load(dir)
	if err != nil {
		log.Fatal(err)
	}

	out, err := m.Generate([]int{1, 5, 9}, model.GenerateOptions{
		MaxNewTokens: 8,
		Sampling:     model.Sampling{Temperature: 0}, // greedy
		StopIDs:      m.Config.EOSTokenIDs,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new tokens:", out)
	// Output: new tokens: [17 17 17 22 12 27 11 25]
}
