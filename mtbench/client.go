package mtbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxRetries is Client.MaxRetries' default.
const DefaultMaxRetries = 6

// Client calls an OpenAI-compatible /chat/completions endpoint, retrying
// with exponential back-off on 429, 5xx and network errors.
type Client struct {
	// BaseURL is the API root, such as https://api.openai.com/v1 or
	// http://127.0.0.1:8080/v1.
	BaseURL string
	APIKey  string
	// MaxRetries is the number of retries after the first try (default
	// DefaultMaxRetries); Backoff the first wait, doubled each retry (default 1 s). A
	// Retry-After header, when sent, sets the wait instead.
	MaxRetries int
	Backoff    time.Duration
	HTTP       *http.Client
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is the body sent.
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature float64   `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

func retryable(err error) bool {
	if se, ok := err.(*StatusError); ok {
		return se.Status == 429 || se.Status >= 500
	}
	return true // network errors
}

// Chat sends req and returns the first choice's content.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (string, error) {
	retries, wait := c.MaxRetries, c.Backoff
	if retries == 0 {
		retries = DefaultMaxRetries
	}
	if wait == 0 {
		wait = time.Second
	}
	for try := 0; ; try++ {
		content, after, err := c.once(ctx, req)
		if err == nil {
			return content, nil
		}
		if ctx.Err() != nil || !retryable(err) || try >= retries {
			return "", fmt.Errorf("%s/chat/completions: %w", c.BaseURL, err)
		}
		d := wait << try
		if after > 0 {
			d = after
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(d):
		}
	}
}

func (c *Client) once(ctx context.Context, req ChatRequest) (string, time.Duration, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", 0, err
	}
	hr, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(c.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode/100 != 2 {
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			after = min(time.Duration(s)*time.Second, time.Minute)
		}
		return "", after, &StatusError{resp.StatusCode, string(b)}
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return "", 0, fmt.Errorf("decode the answer: %w", err)
	}
	if len(out.Choices) == 0 {
		return "", 0, fmt.Errorf("the answer has no choices: %s", b)
	}
	return out.Choices[0].Message.Content, 0, nil
}
