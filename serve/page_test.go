package serve

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/model"
)

// chromium returns the path of a Chromium or Chrome binary, or skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium in PATH (apt-get install -y chromium): skipping the chat page test")
	return ""
}

// TestChatPage loads the chat page in headless Chromium, sends a message
// by typing it and pressing Enter, and waits for the streamed reply, which
// must be the text model.Generate gives (greedy, 24 tokens). The page's
// screenshot is written to $SMAUG_SCREENSHOT when that is set.
func TestChatPage(t *testing.T) {
	bin := chromium(t)
	cfg := testConfig(t, testDir(t))
	url, _ := startServer(t, cfg)
	_, want, _ := reference(t, cfg, []chat.Message{{"role": "user", "content": "Hello from the browser"}}, "", model.GenerateOptions{MaxNewTokens: 24})

	tctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1000, 700), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(tctx, opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("chromium: %s: %v", step, err)
		}
	}
	fail("load", chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#model:not(:empty)")),
	))
	modelName, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("model")))
	fail("model name", err)
	fail("send", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("temperature"), "0"),
		chromedp.SetValue(chromedp.ID("max-tokens"), "24"),
		chromedp.SendKeys(chromedp.ID("input"), "Hello from the browser\r"),
		chromedp.WaitVisible(chromedp.CSS(".msg.assistant[data-finish]")),
	))
	reply, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.msg.assistant').firstChild ? document.querySelector('.msg.assistant').firstChild.textContent : ''`))
	fail("reply", err)
	finish, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(".msg.assistant"), "data-finish"))
	fail("finish", err)
	errText, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("error")))
	fail("error box", err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	fail("screenshot", err)
	if modelName != "tiny" {
		t.Errorf("model name on the page: %q", modelName)
	}
	if reply != want || finish.Value == "" || strings.TrimSpace(errText) != "" {
		t.Errorf("streamed reply %q (finish %q, error %q), want %q", reply, finish.Value, errText, want)
	}
	if p := os.Getenv("SMAUG_SCREENSHOT"); p != "" {
		if err := os.WriteFile(filepath.Clean(p), shot, 0o644); err != nil {
			t.Error(err)
		}
	}
}
