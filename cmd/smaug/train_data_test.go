package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// tinyConfig is a one-layer Llama shape with the given vocabulary (tied
// embeddings), small enough for a 32000-token vocabulary to train fast.
func tinyConfig(vocab int) *hf.Config {
	return &hf.Config{
		Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		VocabSize: vocab, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 16, MaxPositionEmbeddings: 128,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", TieWordEmbeddings: true,
		BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
}

// saveTinyModel writes a random tinyConfig(vocab) model into dir.
func saveTinyModel(t *testing.T, dir string, vocab int) {
	t.Helper()
	m, err := model.NewRandom(tinyConfig(vocab), 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
}

// writeJSONL writes one JSON object per row.
func writeJSONL(t *testing.T, path string, rows []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range rows {
		if err := json.NewEncoder(&buf).Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameMetrics fails the test unless two runs logged the same values of
// every metric but the timings.
func sameMetrics(t *testing.T, runA, runB string) {
	t.Helper()
	ma, mb := readMetricRows(t, runA), readMetricRows(t, runB)
	if len(ma) == 0 || len(ma) != len(mb) {
		t.Fatalf("%s has %d metric rows, %s %d", runA, len(ma), runB, len(mb))
	}
	for i := range ma {
		for k, v := range ma[i] {
			if !timingMetrics[k] && !reflect.DeepEqual(v, mb[i][k]) {
				t.Errorf("row %d: %s = %v in %s, %v in %s", i+1, k, v, filepath.Base(runA), mb[i][k], filepath.Base(runB))
			}
		}
	}
}

var textPairs = []struct{ Prompt, Chosen, Rejected string }{
	{"What is the capital of France?", "Paris is the capital of France.", "London."},
	{"Add 2 and 3.", "2 + 3 = 5", "2 + 3 = 6"},
	{"Name a primary colour.", "Red.", "Green, which is a secondary colour of light."},
	{"Translate 'chat' from French.", "cat", "chat"},
}

// TestTrainTextAndConversationalRows trains on the same pairs written as
// text JSONL, text parquet and conversational JSONL (rendered with a chat
// template from the model folder's tokenizer_config.json), and on token-id
// JSONL that the test encodes itself with the llama2 tokenizer following
// TRL's rules (prompt with BOS; text completions without special tokens,
// then EOS; conversational completions are the rendered prompt+completion
// minus the rendered prompt, rendered here by hand). Each text run must log
// exactly the metrics of its token-id twin.
func TestTrainTextAndConversationalRows(t *testing.T) {
	tokDir := sharedtest.Path(t, "fixtures/tokenizers/llama2_hf")
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A model folder with the tokenizer and a chat template of our own.
	mdir := filepath.Join(dir, "model")
	saveTinyModel(t, mdir, tok.VocabSize())
	tj, err := os.ReadFile(filepath.Join(tokDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	const tmpl = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
	tc, _ := json.Marshal(map[string]any{"bos_token": "<s>", "eos_token": "</s>", "chat_template": tmpl})
	for name, b := range map[string][]byte{"tokenizer.json": tj, "tokenizer_config.json": tc} {
		if err := os.WriteFile(filepath.Join(mdir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	render := func(role, content string) string { return "<|" + role + "|>\n" + content + "\n" }

	var text, conv, textIDs, convIDs []map[string]any
	type parquetRow struct {
		Prompt   string `parquet:"prompt"`
		Chosen   string `parquet:"chosen"`
		Rejected string `parquet:"rejected"`
	}
	var pq []parquetRow
	for _, p := range textPairs {
		text = append(text, map[string]any{"prompt": p.Prompt, "chosen": p.Chosen, "rejected": p.Rejected})
		pq = append(pq, parquetRow{p.Prompt, p.Chosen, p.Rejected})
		completion := func(s string) []int { return append(tok.Encode(s, false), tok.EOS()) }
		textIDs = append(textIDs, map[string]any{"prompt_ids": tok.Encode(p.Prompt, true),
			"chosen_ids": completion(p.Chosen), "rejected_ids": completion(p.Rejected)})
		msg := func(role, content string) []map[string]any {
			return []map[string]any{{"role": role, "content": content}}
		}
		conv = append(conv, map[string]any{"prompt": msg("user", p.Prompt),
			"chosen": msg("assistant", p.Chosen), "rejected": msg("assistant", p.Rejected)})
		convIDs = append(convIDs, map[string]any{"prompt_ids": tok.Encode(render("user", p.Prompt)+"<|assistant|>\n", true),
			"chosen_ids": tok.Encode(render("assistant", p.Chosen)[len("<|assistant|>\n"):], false), "rejected_ids": tok.Encode(render("assistant", p.Rejected)[len("<|assistant|>\n"):], false)})
	}
	files := map[string]string{}
	for name, rows := range map[string][]map[string]any{"text": text, "conv": conv, "text-ids": textIDs, "conv-ids": convIDs} {
		files[name] = filepath.Join(dir, name+".jsonl")
		writeJSONL(t, files[name], rows)
	}
	var pqBuf bytes.Buffer
	w := parquet.NewGenericWriter[parquetRow](&pqBuf)
	if _, err := w.Write(pq); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files["text-parquet"] = filepath.Join(dir, "text.parquet")
	if err := os.WriteFile(files["text-parquet"], pqBuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(name string, extra ...string) string {
		out := filepath.Join(dir, "run-"+name+strings.Join(extra, ""))
		// The test's chat template has no end-of-turn marker, so conversational
		// completions end without EOS: allowed here (smaug train refuses it).
		args := append([]string{"train", "--model", mdir, "--data", files[name], "--output", out, "--lr", "1e-2",
			"--batch-size", "2", "--max-steps", "3", "--no-progress", "--allow-data-issue", "no-eos"}, extra...)
		if msg, err := runCLI(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, msg)
		}
		return out
	}
	textRun, convRun := run("text-ids"), run("conv-ids")
	for name, twin := range map[string]string{"text": textRun, "text-parquet": textRun, "conv": convRun} {
		t.Run(name, func(t *testing.T) { sameMetrics(t, twin, run(name)) })
	}
	// Text rows with --chat-template: the chat template as for the same
	// rows written as messages.
	t.Run("text --chat-template", func(t *testing.T) { sameMetrics(t, convRun, run("text", "--chat-template")) })
	// Without the override, the conversational text rows are refused
	// before any work: their completions (rendered by a template without
	// an end-of-turn marker) do not end with EOS. Nothing is left behind.
	refused := filepath.Join(dir, "run-refused")
	msg, err := runCLI(t, "train", "--model", mdir, "--data", files["conv"], "--output", refused, "--max-steps", "1", "--no-progress")
	if err == nil || !strings.Contains(msg, "--allow-data-issue no-eos") || !strings.Contains(msg, "end-of-sequence") {
		t.Errorf("conversational rows without EOS: err %v, want a refusal naming --allow-data-issue no-eos:\n%s", err, msg)
	}
	if _, err := os.Stat(filepath.Join(refused, "model.safetensors")); err == nil {
		t.Error("a refused run wrote a model")
	}
	// The trained model folder carries the tokenizer files.
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "model.safetensors", "config.json"} {
		if _, err := os.Stat(filepath.Join(textRun, f)); err != nil {
			t.Errorf("trained model folder: %v", err)
		}
	}
}

// TestTrainTextOutsideVocabulary checks that text encoded to ids the model
// does not have (llama2's 32000-token tokenizer, the fixture model's 320)
// is an error naming the row, not a crash.
func TestTrainTextOutsideVocabulary(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	tokDir := sharedtest.Path(t, "fixtures/tokenizers/llama2_hf")
	dir := t.TempDir()
	data := filepath.Join(dir, "text.jsonl")
	writeJSONL(t, data, []map[string]any{{"prompt": "Hello", "chosen": "world", "rejected": "there"}})
	msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--tokenizer", tokDir, "--data", data,
		"--output", filepath.Join(dir, "run"), "--max-steps", "1", "--no-progress")
	if err == nil {
		t.Fatalf("no error:\n%s", msg)
	}
	if want := data + ":1: token id "; !strings.Contains(msg, want) || !strings.Contains(msg, "outside the model's vocabulary of 320") {
		t.Errorf("error output does not name the row and the vocabulary (want %q … of 320):\n%s", want, msg)
	}
}

// TestTrainSkipBadRowsAndTruncation runs on 6 token-id rows, 2 of them bad:
// without --skip-bad-rows the run stops naming file, line and field; with
// it, data_stats.json counts 2 skipped rows and the truncations that
// --max-length 10 --max-prompt-length 4 make (worked out by hand below).
func TestTrainSkipBadRowsAndTruncation(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, data, []map[string]any{
		{"prompt_ids": []int{5, 6}, "chosen_ids": []int{7, 8}, "rejected_ids": []int{9}},                         // fits
		{"prompt_ids": []int{5, 6, 7, 8, 9, 10}, "chosen_ids": []int{7, 8}, "rejected_ids": []int{9}},            // prompt cut to 4
		{"prompt_ids": []int{5, 6}, "chosen_ids": []int{7}},                                                      // bad: no rejected_ids
		{"prompt_ids": []int{5, 6, 7}, "chosen_ids": []int{1, 2, 3, 4, 5, 6, 7, 8}, "rejected_ids": []int{9}},    // chosen cut to 7
		{"prompt_ids": []int{5, 6}, "chosen_ids": "7 8", "rejected_ids": []int{9}},                               // bad: not a list
		{"prompt_ids": []int{5, 6, 7, 8, 9}, "chosen_ids": []int{1, 2, 3, 4, 5, 6, 7}, "rejected_ids": []int{9}}, // both cut
	})
	args := []string{"train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", filepath.Join(dir, "run"),
		"--max-length", "10", "--max-prompt-length", "4", "--max-steps", "1", "--batch-size", "4", "--no-progress"}
	msg, err := runCLI(t, args...)
	if err == nil || !strings.Contains(msg, data+`:3: field "rejected_ids": missing`) {
		t.Fatalf("without --skip-bad-rows: want an error naming %s:3 and rejected_ids, got %v:\n%s", data, err, msg)
	}
	if msg, err := runCLI(t, append(args, "--skip-bad-rows")...); err != nil {
		t.Fatalf("with --skip-bad-rows: %v\n%s", err, msg)
	} else if !strings.Contains(msg, data+`:5: field "chosen_ids": want a list of token ids`) {
		t.Errorf("the log does not list the skipped row 5:\n%s", msg)
	}
	b, err := os.ReadFile(filepath.Join(dir, "run", "data_stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Rows        int `json:"rows"`
		Examples    int `json:"examples"`
		Skipped     int `json:"skipped_bad_rows"`
		TruncPrompt int `json:"truncated_prompts"`
		TruncComp   int `json:"truncated_completions"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Rows != 6 || st.Examples != 4 || st.Skipped != 2 || st.TruncPrompt != 2 || st.TruncComp != 2 {
		t.Errorf("data_stats.json %+v; want 6 rows, 4 examples, 2 skipped, 2 prompts and 2 completions truncated", st)
	}
}

// TestTrainConfigFile runs the same training from flags, from a YAML
// --config file, and from the first run's saved config.yaml: the weights
// must be bitwise equal and the metrics the same. A key that is no flag is
// an error naming it, and a smaug train config is refused by smaug sft.
func TestTrainConfigFile(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeRandomPairs(t, data, 6, 4, 320, 6, 4, 8)
	flags := filepath.Join(dir, "flags")
	if msg, err := runCLI(t, "train", "--model", filepath.Join(root, "policy"), "--data", data, "--output", flags,
		"--loss", "dpo,sft", "--loss-weights", "1,0.2", "--beta", "0.2", "--lr", "1e-3", "--lr-schedule", "linear",
		"--warmup-steps", "1", "--weight-decay", "0.05", "--batch-size", "2", "--max-steps", "3", "--seed", "9", "--no-progress"); err != nil {
		t.Fatalf("flags: %v\n%s", err, msg)
	}
	yamlRun := filepath.Join(dir, "yaml")
	cfg := filepath.Join(dir, "run.yaml")
	yaml := "model: " + filepath.Join(root, "policy") + "\ndata: " + data + "\noutput: " + yamlRun + `
loss: [dpo, sft]
loss-weights: [1, 0.2]
beta: 0.2
lr: 1.0e-3
lr-schedule: linear
warmup-steps: 1
weight-decay: 0.05
batch-size: 2
max-steps: 3
seed: 9
no-progress: true
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := runCLI(t, "train", "--config", cfg); err != nil {
		t.Fatalf("--config: %v\n%s", err, msg)
	}
	sameMetrics(t, flags, yamlRun)
	wf, wy := readAll(t, flags), readAll(t, yamlRun)
	if len(wf) == 0 || !reflect.DeepEqual(wf, wy) {
		t.Errorf("weights trained from flags and from --config differ")
	}

	// The run's own config.yaml repeats it (the DPOP λ it saves is the one
	// in effect: 0 for dpo,sft).
	again := filepath.Join(dir, "again")
	if msg, err := runCLI(t, "train", "--config", filepath.Join(flags, "config.yaml"), "--output", again); err != nil {
		t.Fatalf("--config run/config.yaml: %v\n%s", err, msg)
	}
	sameMetrics(t, flags, again)
	if !reflect.DeepEqual(wf, readAll(t, again)) {
		t.Errorf("weights trained from flags and from the run's config.yaml differ")
	}
	if msg, err := runCLI(t, "sft", "--config", filepath.Join(flags, "config.yaml"), "--output", filepath.Join(dir, "sft")); err == nil || !strings.Contains(msg, "settings of a smaug train run") {
		t.Errorf("smaug sft with a smaug train config.yaml: want an error saying so, got %v:\n%s", err, msg)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(yaml+"learning-rat: 1e-4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := runCLI(t, "train", "--config", bad)
	if err == nil || !strings.Contains(msg, `unknown settings learning-rat (`) {
		t.Errorf("unknown key: want an error naming learning-rat, got %v:\n%s", err, msg)
	}
}

// TestSFTFromInitConfig runs smaug sft from random weights (--init-config)
// on text rows with --tokenizer. Its first loss (one batch holding every
// row) must equal the mean completion NLL that the test computes with the
// same random model (model.NewRandom with the run's seed and the config's
// initializer_range, 0.1, as its standard deviation) on rows it
// encodes itself (BOS + text + EOS, the first token as the prompt), within
// 1e-5 relative; the loss must then fall; the final eval_loss (the same
// rows as --eval-data) must equal the saved model's mean NLL within 1e-5
// relative, and the saved model carries the tokenizer files.
func TestSFTFromInitConfig(t *testing.T) {
	tokDir := sharedtest.Path(t, "fixtures/tokenizers/llama2_hf")
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	saveTinyModel(t, filepath.Join(dir, "shape"), tok.VocabSize())
	initCfg := filepath.Join(dir, "shape", "config.json")
	// transformers draws fresh weights with std initializer_range.
	var raw map[string]any
	if b, err := os.ReadFile(initCfg); err != nil || json.Unmarshal(b, &raw) != nil {
		t.Fatalf("read %s: %v", initCfg, err)
	}
	raw["initializer_range"] = 0.1
	if b, err := json.Marshal(raw); err != nil || os.WriteFile(initCfg, b, 0o644) != nil {
		t.Fatalf("write %s: %v", initCfg, err)
	}
	texts := []string{"The cat sat on the mat.", "One, two, three, four.", "Go is a programming language."}
	var rows []map[string]any
	var items []model.Completion
	ntok := 0
	for _, s := range texts {
		rows = append(rows, map[string]any{"text": s})
		ids := append(tok.Encode(s, true), tok.EOS())
		items = append(items, model.Completion{Prompt: ids[:1], Completion: ids[1:]})
		ntok += len(ids) - 1
	}
	data := filepath.Join(dir, "text.jsonl")
	writeJSONL(t, data, rows)
	out := filepath.Join(dir, "run")
	if msg, err := runCLI(t, "sft", "--init-config", initCfg, "--tokenizer", tokDir, "--data", data, "--output", out,
		"--eval-data", data, "--lr", "1e-2", "--lr-schedule", "constant", "--batch-size", "3", "--max-steps", "3", "--seed", "5", "--no-progress"); err != nil {
		t.Fatalf("smaug sft: %v\n%s", err, msg)
	}
	cfg, err := hf.LoadConfig(initCfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 5, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.LogProbs(nil, items)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range s.Seq.Data {
		want -= float64(v) / float64(ntok)
	}
	rows2 := readMetricRows(t, out)
	first, last := rows2[0]["loss"].(float64), rows2[len(rows2)-2]["loss"].(float64)
	if math.Abs(first-want) > 1e-5*want {
		t.Errorf("first SFT loss %.6f; the random model gives %.6f", first, want)
	}
	if !(last < first) {
		t.Errorf("SFT loss did not fall: %.4f → %.4f", first, last)
	}
	trained, err := model.Load(out)
	if err != nil {
		t.Fatalf("the trained model does not load: %v", err)
	}
	if s, err = trained.LogProbs(nil, items); err != nil {
		t.Fatal(err)
	}
	var evalWant float64
	for _, v := range s.Seq.Data {
		evalWant -= float64(v) / float64(ntok)
	}
	if got, ok := rows2[len(rows2)-1]["eval_loss"].(float64); !ok || math.Abs(got-evalWant) > 1e-5*evalWant {
		t.Errorf("final eval_loss %v; the saved model gives %.6f", rows2[len(rows2)-1]["eval_loss"], evalWant)
	}
	if _, err := tokenizer.Load(out); err != nil {
		t.Errorf("the run folder has no usable tokenizer: %v", err)
	}
}
