package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/reproduce"
	"github.com/smaug-dev/smaug/tokenizer"
)

// textModel writes a tiny random Llama with a byte-level BPE tokenizer and
// a chat template into dir; maxPos is its max_position_embeddings and eos
// its eos_token_id.
func textModel(t *testing.T, dir string, maxPos, eos int) *tokenizer.Tokenizer {
	t.Helper()
	tj, err := reproduce.TrainBPE([]string{"Question: Tom has 3 apples. He buys 4 more.\nAnswer: 3 + 4 = 7\n#### 7"}, 300)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>",
  "chat_template": "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"}`), 0o644)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(tok.VocabSize())
	cfg.MaxPositionEmbeddings, cfg.EOSTokenIDs, cfg.BOSTokenID = maxPos, nil, tok.BOS()
	if eos >= 0 {
		cfg.EOSTokenIDs = []int{eos}
	}
	m, err := model.NewRandom(cfg, 3, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir, "F32", 0); err != nil {
		t.Fatal(err)
	}
	return tok
}

// idsArg writes ids as --prompt-ids takes them.
func idsArg(ids []int) string {
	s := make([]string, len(ids))
	for i, v := range ids {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// TestGenerateText: --prompt is tokenised with the model's tokenizer (BOS
// added) and the printed text is the decoding of the ids the same prompt
// gives through --prompt-ids; --chat renders the template with the
// generation prompt; EOS stops by default; a run past
// max_position_embeddings warns; bad sampling settings are refused.
func TestGenerateText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	tok := textModel(t, dir, 64, -1)
	const prompt = "Question: Tom has 3 apples."
	viaIDs := func(ids []int) []int { return viaIDs2(t, dir, ids) }
	ids := tok.Encode(prompt, true)
	if ids[0] != tok.BOS() {
		t.Fatalf("the tokenizer adds no BOS: %v", ids)
	}
	want := tok.Decode(viaIDs(ids), true) + "\n"
	out, err := runCLI(t, "generate", "--model", dir, "--prompt", prompt, "--max-new-tokens", "8")
	if err != nil || out != want {
		t.Errorf("--prompt: output %q (err %v), want %q", out, err, want)
	}

	chatIDs := tok.Encode("<s><|user|>"+prompt+"</s><|assistant|>", false)
	want = tok.Decode(viaIDs(chatIDs), true) + "\n"
	out, err = runCLI(t, "generate", "--model", dir, "--chat", "--prompt", prompt, "--max-new-tokens", "8")
	if err != nil || out != want {
		t.Errorf("--chat: output %q (err %v), want %q", out, err, want)
	}
	msgs := filepath.Join(t.TempDir(), "msgs.json")
	os.WriteFile(msgs, []byte(`[{"role": "user", "content": "`+prompt+`"}]`), 0o644)
	if out2, err := runCLI(t, "generate", "--model", dir, "--messages", msgs, "--max-new-tokens", "8"); err != nil || out2 != out {
		t.Errorf("--messages: output %q (err %v), want %q as with --chat", out2, err, out)
	}

	// EOS: make the first greedy token the model's EOS; generation stops there.
	first := viaIDs(ids)[0]
	dir2 := filepath.Join(t.TempDir(), "m2")
	textModel(t, dir2, 64, first)
	got := viaIDs2(t, dir2, ids)
	if len(got) != 1 || got[0] != first {
		t.Errorf("with eos_token_id %d: generated %v, want just the EOS", first, got)
	}
	if got := viaIDs2(t, dir2, ids, "--stop-at-eos=false"); len(got) != 8 {
		t.Errorf("--stop-at-eos=false: %d tokens, want 8", len(got))
	}

	out, _ = runCLI(t, "generate", "--model", dir, "--prompt", prompt, "--max-new-tokens", "60")
	if !strings.Contains(out, "warning:") || !strings.Contains(out, "max_position_embeddings (64)") {
		t.Errorf("no warning past max_position_embeddings: %q", out)
	}
	for _, tt := range []struct{ flag, val, msg string }{
		{"--temperature", "-1", "--temperature must be ≥ 0"},
		{"--temperature", "NaN", "--temperature must be ≥ 0"},
		{"--top-k", "-2", "--top-k must be ≥ 0"},
		{"--top-p", "0", "--top-p must be in (0, 1]"},
		{"--top-p", "1.5", "--top-p must be in (0, 1]"},
	} {
		out, err := runCLI(t, "generate", "--model", dir, "--prompt", prompt, tt.flag, tt.val)
		if err == nil || !strings.Contains(out, tt.msg) {
			t.Errorf("%s %s: err %v, output %q; want %q", tt.flag, tt.val, err, out, tt.msg)
		}
	}
	if out, err := runCLI(t, "generate", "--model", dir); err == nil || !strings.Contains(out, "exactly one of --prompt") {
		t.Errorf("no prompt: err %v, output %q", err, out)
	}
}

// viaIDs2 generates 8 tokens greedily from ids with the model in dir.
func viaIDs2(t *testing.T, dir string, ids []int, extra ...string) []int {
	t.Helper()
	out, err := runCLI(t, append([]string{"generate", "--model", dir, "--prompt-ids", idsArg(ids), "--max-new-tokens", "8"}, extra...)...)
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	var got []int
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	return got
}
