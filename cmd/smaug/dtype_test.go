package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// TestInferenceDType: smaug logprobs and smaug generate on the BF16
// fixture checkpoint give byte-identical output with the weights held in
// float32 and in bfloat16 (the same values either way); an unknown --dtype
// is refused with the flag named.
func TestInferenceDType(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	m := filepath.Join(root, "policy_bf16")
	dir := t.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	writeFixturePairs(t, root, data)
	outputs := map[string][]byte{}
	for _, dt := range []string{"F32", "bf16"} {
		out := filepath.Join(dir, dt+".jsonl")
		if msg, err := runCLI(t, "logprobs", "--model", m, "--ref-model", m, "--data", data, "--out", out, "--dtype", dt); err != nil {
			t.Fatalf("logprobs --dtype %s: %v\n%s", dt, err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := runCLI(t, "generate", "--model", m, "--prompt-ids", "5,17,42", "--max-new-tokens", "12", "--dtype", dt)
		if err != nil {
			t.Fatalf("generate --dtype %s: %v\n%s", dt, err, gen)
		}
		outputs[dt], outputs[dt+" generate"] = b, []byte(gen)
	}
	if len(outputs["F32"]) == 0 || !bytes.Equal(outputs["F32"], outputs["bf16"]) {
		t.Errorf("logprobs differ between --dtype F32 and BF16 on a BF16 checkpoint")
	}
	if !bytes.Equal(outputs["F32 generate"], outputs["bf16 generate"]) {
		t.Errorf("generate: F32 %s, BF16 %s", outputs["F32 generate"], outputs["bf16 generate"])
	}
	msg, err := runCLI(t, "generate", "--model", m, "--prompt-ids", "5", "--dtype", "f8")
	if err == nil || !strings.Contains(msg, `--dtype "f8"`) {
		t.Errorf("--dtype f8: err %v, output %q; want a refusal naming the flag", err, msg)
	}
}
