package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/internal/testmodel"
)

// TestServeCommand runs smaug serve on a tiny model folder: it answers a
// chat request with the key, refuses one without, and exits 0 on SIGTERM.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	if err := testmodel.Write(dir, 32, 1); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(smaugBin, "serve", "--model", dir, "--addr", "127.0.0.1:0", "--api-key", "k", "--model-id", "tiny")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	rd := bufio.NewReader(stderr)
	var url string
	for url == "" {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("serve exited before listening: %v", err)
		}
		if m := regexp.MustCompile(`at (http://\S+) `).FindStringSubmatch(line); m != nil {
			url = m[1]
		}
	}
	go io.Copy(io.Discard, rd)
	body := `{"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5}`
	for key, want := range map[string]int{"k": 200, "": 401} {
		req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && out.Usage.CompletionTokens == 0) {
			t.Errorf("key %q: status %d, %+v; want %d", key, resp.StatusCode, out, want)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// TestMTBenchCommands runs answer (a tiny model served in-process) on two
// real questions, judge against a fake judge, and show with a radar chart.
func TestMTBenchCommands(t *testing.T) {
	bench := sharedtest.Path(t, "data/mt_bench")
	work := t.TempDir()
	modelDir := filepath.Join(work, "tiny")
	os.Mkdir(modelDir, 0o755)
	if err := testmodel.Write(modelDir, 32, 1); err != nil {
		t.Fatal(err)
	}
	// Questions 81 (writing) and 111 (math, judged against its reference).
	var picked []string
	data, _ := os.ReadFile(filepath.Join(bench, "question.jsonl"))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, `{"question_id": 81,`) || strings.HasPrefix(line, `{"question_id": 111,`) {
			picked = append(picked, line)
		}
	}
	qfile := filepath.Join(work, "q.jsonl")
	os.WriteFile(qfile, []byte(strings.Join(picked, "\n")+"\n"), 0o644)
	answers := filepath.Join(work, "model_answer", "tiny.jsonl")
	out, err := runCLI(t, "mtbench", "answer", "--model", modelDir, "--model-id", "tiny", "--questions", qfile,
		"--output", answers, "--max-new-tokens", "8", "--bench-dir", bench)
	if err != nil || !strings.Contains(out, "answered 2 questions") {
		t.Fatalf("answer: %v\n%s", err, out)
	}

	judge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string }
		}
		json.NewDecoder(r.Body).Decode(&req)
		score := 3
		if strings.Contains(req.Messages[1].Content, "Reference") {
			score = 8
		}
		fmt.Fprintf(w, `{"choices": [{"message": {"role": "assistant", "content": "Rating: [[%d]]"}}]}`, score)
	}))
	defer judge.Close()
	judgments := filepath.Join(work, "model_judgment", "fake_single.jsonl")
	out, err = runCLI(t, "mtbench", "judge", "--answers", answers, "--judge-endpoint", judge.URL, "--judge-model", "fake",
		"--bench-dir", bench, "--output", judgments, "--judge-api-key", "x")
	// writing 3, 3; math 8, 8: first 5.5, second 5.5, average 5.5.
	if err != nil || !strings.Contains(out, "4 judgments") || !regexp.MustCompile(`tiny\s+5\.50\s+5\.50\s+5\.50\s+4`).MatchString(out) {
		t.Fatalf("judge: %v\n%s", err, out)
	}
	png := filepath.Join(work, "radar.png")
	out, err = runCLI(t, "mtbench", "show", "--judgments", filepath.Dir(judgments), "--bench-dir", bench, "--radar", png)
	t.Logf("show:\n%s", out)
	if err != nil || !regexp.MustCompile(`tiny\s+3\.00\s+-\s+-\s+8\.00`).MatchString(out) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Errorf("radar chart: %v", err)
	}
}
