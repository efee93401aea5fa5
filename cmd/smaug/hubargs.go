package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/schollz/progressbar/v3"

	"github.com/smaug-dev/smaug/gguf"
	"github.com/smaug-dev/smaug/hub"
)

// byteProgress reports download or upload progress: a bar of bytes on a
// terminal, otherwise a log line at every tenth of the total.
func byteProgress(desc string) func(done, total int64) {
	var (
		mu   sync.Mutex
		bar  *progressbar.ProgressBar
		last int64 = -1
	)
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	return func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription(desc), progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
					progressbar.OptionThrottle(100_000_000))
			}
			bar.Set64(done)
			if done >= total {
				bar.Finish()
			}
			return
		}
		if total <= 0 {
			return
		}
		step := done * 10 / total
		if step != last {
			last = step
			fmt.Fprintf(os.Stderr, "%s: %d of %d bytes (%d%%)\n", desc, done, total, done*100/total)
		}
	}
}

// resolveModelArg turns a --model value into a local Hugging Face folder:
// a folder as it is; a hub repo id through the cache (downloaded when
// missing); a .gguf file converted once into an HF folder kept in
// $HF_HOME/smaug/gguf (dequantised to float32).
func resolveModelArg(ctx context.Context, arg *string) error {
	if *arg == "" {
		return nil
	}
	if strings.HasSuffix(strings.ToLower(*arg), ".gguf") {
		dir, err := ggufFolder(ctx, *arg)
		if err != nil {
			return err
		}
		*arg = dir
		return nil
	}
	dir, err := hub.Resolve(ctx, *arg, hub.PullOptions{Progress: byteProgress("download " + *arg)})
	if err != nil {
		return err
	}
	*arg = dir
	return nil
}

// resolveTokenizerArg turns a tokenizer argument that is a hub repo id into
// its snapshot folder, fetching only the tokenizer and config files.
func resolveTokenizerArg(ctx context.Context, arg *string) error {
	if *arg == "" || strings.HasSuffix(strings.ToLower(*arg), ".gguf") {
		return nil
	}
	dir, err := hub.Resolve(ctx, *arg, hub.PullOptions{Include: []string{"*.json", "*.model", "*.jinja", "*.txt"},
		Progress: byteProgress("download " + *arg)})
	if err != nil {
		return err
	}
	*arg = dir
	return nil
}

// resolveDataArg turns a --data value into a local path: a file as it is;
// a hub dataset id through the cache, the split's file or folder of shards.
func resolveDataArg(ctx context.Context, arg *string, split string) error {
	if *arg == "" || *arg == "-" {
		return nil
	}
	p, err := hub.ResolveData(ctx, *arg, split, hub.PullOptions{Progress: byteProgress("download " + *arg)})
	if err != nil {
		return err
	}
	*arg = p
	return nil
}

// ggufFolder converts a GGUF model into an HF folder once, keyed by the
// file's path, size and modification time.
func ggufFolder(ctx context.Context, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("--model: %w", err)
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano())))
	dir := filepath.Join(filepath.Dir(hub.FromEnv().Cache), "smaug", "gguf", hex.EncodeToString(key[:8]))
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "converting %s to a Hugging Face folder in %s\n", path, dir)
	if err := (&gguf.ToHF{Model: abs, Out: dir, Progress: tensorProgress("read " + path)}).Run(ctx); err != nil {
		return "", err
	}
	return dir, nil
}
