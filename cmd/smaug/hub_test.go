package main

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// runEnv runs the smaug binary with extra environment variables and
// returns its stdout and stderr.
func runEnv(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(smaugBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// miniHub serves local folders as hub repositories, one commit each, with
// the routes the hub client uses: revision and recursive tree listings
// (/api/models/ORG/NAME/..., /api/datasets/ORG/NAME/...) and files at any
// depth (/ORG/NAME/resolve/COMMIT/PATH, /datasets/ORG/NAME/resolve/...,
// ETag = git blob id). A key is ORG/NAME for a model and
// datasets/ORG/NAME for a dataset, with "@REVISION" appended for a revision
// other than main (datasets/ORG/NAME@refs/convert/parquet).
func miniHub(t *testing.T, repos map[string]string) *httptest.Server {
	commitOf := func(key string) string {
		h := sha1.Sum([]byte(key))
		return hex.EncodeToString(h[:])
	}
	// dirOf finds the folder of a repository at a commit.
	dirOf := func(id, commit string) (string, bool) {
		for key, dir := range repos {
			if (key == id || strings.HasPrefix(key, id+"@")) && commitOf(key) == commit {
				return dir, true
			}
		}
		return "", false
	}
	blobID := func(b []byte) string {
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", len(b))
		h.Write(b)
		return hex.EncodeToString(h.Sum(nil))
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
		if p[0] == "api" {
			if len(p) != 6 || (p[1] != "models" && p[1] != "datasets") {
				http.NotFound(w, r)
				return
			}
			id := p[2] + "/" + p[3]
			if p[1] == "datasets" {
				id = "datasets/" + id
			}
			switch p[4] {
			case "revision":
				rev, _ := url.PathUnescape(p[5])
				key := id
				if rev != "main" {
					key += "@" + rev
				}
				if _, ok := repos[key]; !ok {
					w.Header().Set("X-Error-Code", "RepoNotFound")
					for k := range repos {
						if k == id || strings.HasPrefix(k, id+"@") {
							w.Header().Set("X-Error-Code", "RevisionNotFound")
						}
					}
					http.NotFound(w, r)
					return
				}
				json.NewEncoder(w).Encode(map[string]string{"sha": commitOf(key)})
			case "tree":
				dir, ok := dirOf(id, p[5])
				if !ok {
					http.NotFound(w, r)
					return
				}
				out := []map[string]any{}
				filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
					if err != nil || path == dir {
						return err
					}
					rel, _ := filepath.Rel(dir, path)
					if d.IsDir() {
						out = append(out, map[string]any{"type": "directory", "path": filepath.ToSlash(rel), "size": 0, "oid": "0"})
						return nil
					}
					b, _ := os.ReadFile(path)
					out = append(out, map[string]any{"type": "file", "path": filepath.ToSlash(rel), "size": len(b), "oid": blobID(b)})
					return nil
				})
				json.NewEncoder(w).Encode(out)
			default:
				http.NotFound(w, r)
			}
			return
		}
		id := ""
		if p[0] == "datasets" {
			id, p = "datasets/", p[1:]
		}
		if len(p) < 5 || p[2] != "resolve" {
			http.NotFound(w, r)
			return
		}
		dir, ok := dirOf(id+p[0]+"/"+p[1], p[3])
		name, err := url.PathUnescape(strings.Join(p[4:], "/"))
		if !ok || err != nil || strings.Contains(name, "..") {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"`+blobID(b)+`"`)
		w.Header().Set("X-Repo-Commit", p[3])
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if r.Method == "GET" {
			w.Write(b)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// TestPullAndRepoIDs: smaug pull prints the snapshot folder; generate
// --model ORG/NAME and tokenize --tokenizer ORG/NAME resolve through the
// cache to the same output as the local folders; offline, with the hub
// gone, pull and generate still work from the cache.
func TestPullAndRepoIDs(t *testing.T) {
	policy := sharedtest.Path(t, "fixtures/hf/llama/policy")
	tok := sharedtest.Path(t, "fixtures/tokenizers/llama2_hf")
	hub := miniHub(t, map[string]string{"fixtures/llama-policy": policy, "fixtures/llama2-tok": tok})
	env := []string{"HF_ENDPOINT=" + hub.URL, "HF_HOME=" + t.TempDir(), "HF_TOKEN=", "HF_HUB_CACHE=", "HF_HUB_OFFLINE="}
	out, stderr, err := runEnv(t, env, "pull", "fixtures/llama-policy")
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, stderr)
	}
	snap := strings.TrimSpace(out)
	if !strings.Contains(snap, filepath.Join("hub", "models--fixtures--llama-policy", "snapshots")) {
		t.Fatalf("pull printed %q", snap)
	}
	want, stderr, err := runEnv(t, env, "generate", "--model", policy, "--prompt-ids", "5,17,42", "--max-new-tokens", "6")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	got, stderr, err := runEnv(t, env, "generate", "--model", "fixtures/llama-policy", "--prompt-ids", "5,17,42", "--max-new-tokens", "6")
	if err != nil || got != want {
		t.Fatalf("generate from the repo id: %q (%v, %s), from the folder %q", got, err, stderr, want)
	}
	wantTok, _, err := runEnv(t, env, "tokenize", "--tokenizer", tok, "--text", "Hello world", "--add-special-tokens")
	if err != nil {
		t.Fatal(err)
	}
	if got, stderr, err := runEnv(t, env, "tokenize", "--tokenizer", "fixtures/llama2-tok", "--text", "Hello world", "--add-special-tokens"); err != nil || got != wantTok {
		t.Fatalf("tokenize from the repo id: %q (%v, %s), from the folder %q", got, err, stderr, wantTok)
	}
	hub.Close()
	offline := append(env, "HF_HUB_OFFLINE=1")
	if out, stderr, err := runEnv(t, offline, "pull", "fixtures/llama-policy"); err != nil || strings.TrimSpace(out) != snap {
		t.Fatalf("offline pull: %q, %v, %s", out, err, stderr)
	}
	if got, stderr, err := runEnv(t, offline, "generate", "--model", "fixtures/llama-policy", "--prompt-ids", "5,17,42", "--max-new-tokens", "6"); err != nil || got != want {
		t.Fatalf("offline generate: %q, %v, %s", got, err, stderr)
	}
	if _, stderr, err := runEnv(t, offline, "pull", "fixtures/other"); err == nil || !strings.Contains(stderr, "HF_HUB_OFFLINE") {
		t.Fatalf("offline pull of an uncached repository: %v, %s", err, stderr)
	}
}

// TestConvertCLI: stories260K through smaug convert llama2c, then to GGUF
// (f32) and back with convert hf, and used directly as --model x.gguf:
// greedy generation gives the same tokens from all three; the GGUF model is
// scored (logprobs) and fine-tuned with LoRA (train).
func TestConvertCLI(t *testing.T) {
	src := sharedtest.Path(t, "models/stories260K")
	dir := t.TempDir()
	env := []string{"HF_HOME=" + filepath.Join(dir, "hf")}
	steps := [][]string{
		{"convert", "llama2c", "--model", filepath.Join(src, "stories260K.bin"), "--tokenizer", filepath.Join(src, "tok512.bin"), "--out", filepath.Join(dir, "hf1")},
		{"convert", "gguf", "--model", filepath.Join(dir, "hf1"), "--out", filepath.Join(dir, "s.gguf"), "--type", "f32"},
		{"convert", "hf", "--model", filepath.Join(dir, "s.gguf"), "--out", filepath.Join(dir, "hf2")},
	}
	for _, s := range steps {
		if _, stderr, err := runEnv(t, env, s...); err != nil {
			t.Fatalf("%v: %v\n%s", s, err, stderr)
		}
	}
	var first string
	for _, m := range []string{"hf1", "s.gguf", "hf2"} {
		out, stderr, err := runEnv(t, env, "generate", "--model", filepath.Join(dir, m), "--prompt-ids", "1", "--max-new-tokens", "40")
		if err != nil {
			t.Fatalf("generate %s: %v\n%s", m, err, stderr)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("generate %s: %s, want %s", m, out, first)
		}
	}
	if _, stderr, err := runEnv(t, env, "convert", "gguf", "--model", filepath.Join(dir, "hf1"), "--out", filepath.Join(dir, "x.gguf"), "--type", "q4_k"); err == nil || !strings.Contains(stderr, "Q4_K") {
		t.Errorf("writing q4_k: %v, %s", err, stderr)
	}
	// The GGUF model scored and fine-tuned with LoRA on its dequantised base.
	pairs := filepath.Join(dir, "pairs.jsonl")
	os.WriteFile(pairs, []byte(`{"prompt_ids": [1, 403, 407], "chosen_ids": [261, 378, 432], "rejected_ids": [286, 261, 376]}`+"\n"), 0o644)
	if _, stderr, err := runEnv(t, env, "logprobs", "--model", filepath.Join(dir, "s.gguf"), "--data", pairs, "--out", filepath.Join(dir, "lp.jsonl")); err != nil {
		t.Fatalf("logprobs on the GGUF model: %v\n%s", err, stderr)
	}
	run := filepath.Join(dir, "run")
	if _, stderr, err := runEnv(t, env, "train", "--model", filepath.Join(dir, "s.gguf"), "--data", pairs, "--output", run, "--lora-r", "4", "--max-steps", "2"); err != nil {
		t.Fatalf("LoRA training on the GGUF model: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(run, "adapter_model.safetensors")); err != nil {
		t.Errorf("no adapter written: %v", err)
	}
}
