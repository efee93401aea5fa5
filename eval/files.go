package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/smaug-dev/smaug/chat"
)

// ChatTemplate returns a context rewriter that renders the context as one
// user message with the model's chat template (tokenizer_config.json in
// modelDir) and the assistant turn's header after it.
func ChatTemplate(modelDir string) (func(string) (string, error), error) {
	cfg, err := chat.LoadTokenizerConfig(filepath.Join(modelDir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	if cfg.ChatTemplate == "" {
		return nil, fmt.Errorf("%s: no chat template", cfg.Path)
	}
	tmpl, err := chat.Parse(cfg.ChatTemplate)
	if err != nil {
		return nil, fmt.Errorf("%s: chat template: %w", cfg.Path, err)
	}
	opt := cfg.RenderOptions(true)
	return func(ctx string) (string, error) {
		return tmpl.Render([]chat.Message{{"role": "user", "content": ctx}}, opt)
	}, nil
}

// FileCache is a Cache kept in a JSONL file: each finished request is
// appended as {"key", "result"} and flushed, so a killed evaluation loses at
// most the request in flight. Opening an existing file loads its rows (a
// torn last line is ignored).
type FileCache struct {
	mu   sync.Mutex
	f    *os.File
	rows map[string]Result
}

type cacheRow struct {
	Key    string `json:"key"`
	Result Result `json:"result"`
}

// OpenFileCache opens (creating when absent) the cache file at path.
func OpenFileCache(path string) (*FileCache, error) {
	c := &FileCache{rows: map[string]Result{}}
	if b, err := os.ReadFile(path); err == nil {
		for i, line := range strings.Split(string(b), "\n") {
			var r cacheRow
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				if i == strings.Count(string(b), "\n") { // a torn last line
					break
				}
				return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
			}
			c.rows[r.Key] = r.Result
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c.f = f
	return c, nil
}

// Len is the number of requests held.
func (c *FileCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rows)
}

// Get returns a finished request's result.
func (c *FileCache) Get(key string) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[key]
	return r, ok
}

// Put records a finished request.
func (c *FileCache) Put(key string, r Result) error {
	b, err := json.Marshal(cacheRow{key, r})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows[key] = r
	if _, err := c.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", c.f.Name(), err)
	}
	return nil
}

// Close closes the file.
func (c *FileCache) Close() error { return c.f.Close() }

// WriteSamples writes one JSON row per document of every task.
func WriteSamples(w io.Writer, trs []TaskResult) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, tr := range trs {
		for i := range tr.Samples {
			if err := enc.Encode(&tr.Samples[i]); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}
