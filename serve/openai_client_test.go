package serve

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/model"
)

// openaiNodeDir returns a folder whose node_modules holds the official
// openai npm package: $SMAUG_OPENAI_NODE_DIR, or a cache folder where it is
// installed from the npm registry on first use (.ci/run installs it there).
// It skips the test, saying why, when node or the package is unavailable.
func openaiNodeDir(t *testing.T) string {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: skipping the openai npm client conformance test")
	}
	dir := os.Getenv("SMAUG_OPENAI_NODE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache folder for the openai npm package: %v", err)
		}
		dir = filepath.Join(cache, "smaug", "openai-node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skipf("the openai npm package is not in %s and npm is not installed", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "install", "--silent", "--prefix", dir, "openai@6").CombinedOutput()
	if err != nil {
		t.Skipf("could not install the openai npm package into %s (%v): %s", dir, err, out)
	}
	return dir
}

// TestOpenAINodeClient drives the server with the official openai npm
// client: chat and completions, streamed and not, n with a seed, stop,
// logprobs, and errors surfacing as the client's typed errors. Texts are
// checked against model.Generate.
func TestOpenAINodeClient(t *testing.T) {
	nodeDir := openaiNodeDir(t)
	cfg := testConfig(t, testDir(t))
	cfg.APIKey = "test-key"
	url, _ := startServer(t, cfg)

	msgs := []chat.Message{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, dragon!"}}
	chatIDs, chatText, chatPrompt := reference(t, cfg, msgs, "", model.GenerateOptions{MaxNewTokens: 20})
	_, story, _ := reference(t, cfg, nil, "Once upon a time", model.GenerateOptions{MaxNewTokens: 40})
	r := []rune(story)
	if len(r) < 12 {
		t.Fatalf("greedy text too short to cut: %q", story)
	}
	stop := string(r[8:10])
	beforeStop := story[:strings.Index(story, stop)]

	cmd := exec.Command("node", filepath.Join("testdata", "openai_client.cjs"))
	cmd.Env = append(os.Environ(), "OPENAI_NODE_DIR="+nodeDir, "BASE_URL="+url+"/v1", "API_KEY=test-key", "MODEL=tiny", "STOP="+stop)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got struct {
		Version string   `json:"version"`
		Models  []string `json:"models"`
		Chat    struct {
			Content, Role, Finish, Object string
			Usage                         usage
		} `json:"chat"`
		ChatStream struct {
			Content, Finish string
			Usage           *usage
			Chunks          int
		} `json:"chatStream"`
		ChatLogprobs []struct {
			Token   string
			Logprob float64
			Top     []string
		} `json:"chatLogprobs"`
		CompletionsN []struct {
			Index        int
			Text, Finish string
		} `json:"completionsN"`
		CompletionsStop, CompletionsStream struct{ Text, Finish string }
		CompletionsLogprobs                struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []float64            `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
		} `json:"completionsLogprobs"`
		Errors map[string]struct {
			Class      string
			Status     int
			Type       string
			Param      *string
			IsAPIError bool
		} `json:"errors"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %s: %v", out, err)
	}
	t.Logf("openai npm client %s", got.Version)
	if len(got.Models) != 1 || got.Models[0] != "tiny" {
		t.Errorf("models.list: %v", got.Models)
	}
	wantUsage := usage{chatPrompt, len(chatIDs), chatPrompt + len(chatIDs)}
	if got.Chat.Content != chatText || got.Chat.Role != "assistant" || got.Chat.Object != "chat.completion" || got.Chat.Usage != wantUsage {
		t.Errorf("chat: %+v; want content %q, usage %+v", got.Chat, chatText, wantUsage)
	}
	if got.ChatStream.Content != chatText || got.ChatStream.Usage == nil || *got.ChatStream.Usage != wantUsage || got.ChatStream.Finish != got.Chat.Finish || got.ChatStream.Chunks < 3 {
		t.Errorf("chat stream: %+v; want content %q, usage %+v", got.ChatStream, chatText, wantUsage)
	}
	if len(got.ChatLogprobs) != 5 {
		t.Errorf("chat logprobs: %d entries, want 5", len(got.ChatLogprobs))
	}
	for i, e := range got.ChatLogprobs {
		if len(e.Top) != 2 || e.Top[0] != e.Token || e.Logprob > 0 {
			t.Errorf("chat logprobs entry %d: %+v", i, e)
		}
	}
	if len(got.CompletionsN) != 2 {
		t.Fatalf("n=2: %d choices", len(got.CompletionsN))
	}
	for i, c := range got.CompletionsN {
		_, want, _ := reference(t, cfg, nil, "Once upon a time", model.GenerateOptions{MaxNewTokens: 12, Sampling: model.Sampling{Temperature: 0.8, TopP: 1, Seed: uint64(7 + i)}})
		if c.Index != i || c.Text != want {
			t.Errorf("n=2 choice %d: %+v, want %q", i, c, want)
		}
	}
	for name, c := range map[string]struct{ Text, Finish string }{"stop": got.CompletionsStop, "stop streamed": got.CompletionsStream} {
		if c.Text != beforeStop || c.Finish != "stop" {
			t.Errorf("completions %s: %+v, want %q and finish stop", name, c, beforeStop)
		}
	}
	if l := got.CompletionsLogprobs; len(l.Tokens) != 3 || len(l.TokenLogprobs) != 3 || len(l.TopLogprobs) != 3 {
		t.Errorf("completions logprobs: %+v", l)
	}
	for name, want := range map[string]struct {
		class  string
		status int
	}{"notFound": {"NotFoundError", 404}, "badRequest": {"BadRequestError", 400}, "auth": {"AuthenticationError", 401}} {
		e := got.Errors[name]
		if e.Class != want.class || e.Status != want.status || !e.IsAPIError || e.Type == "" {
			t.Errorf("error %s: %+v, want %s (%d)", name, e, want.class, want.status)
		}
	}
	if p := got.Errors["badRequest"].Param; p == nil || *p != "n" {
		t.Errorf("bad request param: %v, want n", p)
	}
}
