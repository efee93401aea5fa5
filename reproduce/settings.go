package reproduce

import (
	"github.com/smaug-dev/smaug/hf"
)

// Settings are the knobs of the pipeline. Defaults returns the tuned
// embedded default; Quick a smaller run for tests and a first look.
type Settings struct {
	// Data: synth-math problems with MinSteps–MaxSteps calculations whose
	// numbers are all at most MaxValue.
	TrainProblems int `json:"train_problems"`
	TestProblems  int `json:"test_problems"`
	MinSteps      int `json:"min_steps"`
	MaxSteps      int `json:"max_steps"`
	MaxValue      int `json:"max_value"`

	// Base model: a Llama trained from scratch with SFT, with a byte-level
	// BPE vocabulary of at most Vocab tokens trained on the problems.
	Vocab    int     `json:"max_vocab"`
	Hidden   int     `json:"hidden_size"`
	Layers   int     `json:"num_hidden_layers"`
	Heads    int     `json:"num_attention_heads"`
	Inter    int     `json:"intermediate_size"`
	SFTSteps int     `json:"sft_steps"`
	SFTBatch int     `json:"sft_batch_size"`
	SFTLR    float64 `json:"sft_learning_rate"`

	// Preference training, the same for DPO and DPOP.
	PrefSteps int     `json:"pref_steps"`
	PrefBatch int     `json:"pref_batch_size"`
	PrefLR    float64 `json:"pref_learning_rate"`
	Beta      float64 `json:"beta"`
	Lambda    float64 `json:"dpop_lambda"`
	EvalEvery int     `json:"eval_steps"` // steps between held-out evaluations during training

	// Evaluation.
	EvalProblems int `json:"eval_problems"`
	EvalPairs    int `json:"eval_pairs"`
	MaxNewTokens int `json:"max_new_tokens"`
}

// Defaults are the settings of `smaug reproduce`.
func Defaults() Settings {
	return Settings{
		TrainProblems: 3000, TestProblems: 200, MinSteps: 2, MaxSteps: 2, MaxValue: 20,
		Vocab: 512, Hidden: 128, Layers: 4, Heads: 4, Inter: 352,
		SFTSteps: 600, SFTBatch: 16, SFTLR: 3e-3,
		PrefSteps: 100, PrefBatch: 16, PrefLR: 5e-4, Beta: 0.3, Lambda: 50, EvalEvery: 10,
		EvalProblems: 200, EvalPairs: 200, MaxNewTokens: 120,
	}
}

// Quick are the settings of `smaug reproduce --quick`: the same pipeline,
// small enough for a test (the effect is not expected to show).
func Quick() Settings {
	s := Defaults()
	s.TrainProblems, s.TestProblems = 200, 40
	s.Hidden, s.Layers, s.Heads, s.Inter = 32, 2, 2, 64
	s.SFTSteps, s.SFTBatch = 20, 8
	s.PrefSteps, s.PrefBatch, s.EvalEvery = 6, 4, 3
	s.EvalProblems, s.EvalPairs, s.MaxNewTokens = 20, 20, 60
	return s
}

// baseConfig is the Hugging Face config of the base model.
func (s Settings) baseConfig(vocab int) *hf.Config {
	return &hf.Config{
		Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: vocab, HiddenSize: s.Hidden, IntermediateSize: s.Inter,
		NumHiddenLayers: s.Layers, NumAttentionHeads: s.Heads, NumKeyValueHeads: s.Heads,
		HeadDim: s.Hidden / s.Heads, MaxPositionEmbeddings: 512, RMSNormEps: 1e-5, RopeTheta: 10000,
		HiddenAct: "silu", BOSTokenID: byteBOS, EOSTokenIDs: []int{byteEOS}, TorchDtype: "float32",
	}
}
