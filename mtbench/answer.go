package mtbench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// Defaults of AnswerConfig and JudgeConfig.
const (
	DefaultAnswerTokens = 1024
	DefaultJudgeTokens  = 2048
	DefaultParallel     = 8
)

// AnswerConfig configures RunAnswers.
type AnswerConfig struct {
	// Client reaches the model's chat endpoint; Model is the name sent as
	// "model", ModelID the model_id written (default Model).
	Client  *Client
	Model   string
	ModelID string
	// Questions are answered into Output (FastChat's
	// model_answer/ID.jsonl); questions already answered there are skipped.
	Questions []Question
	Output    string
	// MaxTokens caps each turn's answer (default DefaultAnswerTokens);
	// Parallel is the number of questions answered at once (default
	// DefaultParallel).
	MaxTokens, Parallel int
	// Progress, when set, is called after each question.
	Progress func(done, total int)
}

// RunAnswers asks every question not yet answered in cfg.Output, both turns
// in one conversation (turn 2 follows the model's turn-1 answer) at the
// category's temperature, appending each answer as it completes, and
// finally rewrites the file sorted by question id. It returns the number of
// questions answered by this call.
func RunAnswers(ctx context.Context, cfg AnswerConfig) (int, error) {
	if cfg.Client == nil || cfg.Model == "" || cfg.Output == "" {
		return 0, fmt.Errorf("mtbench answer: a client, a model and an output file are required")
	}
	if cfg.ModelID == "" {
		cfg.ModelID = cfg.Model
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultAnswerTokens
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	done := map[int]bool{}
	if old, err := ReadAnswers(cfg.Output); err == nil {
		for id := range old {
			done[id] = true
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	var todo []Question
	for _, q := range cfg.Questions {
		if !done[q.QuestionID] {
			todo = append(todo, q)
		}
	}
	n, err := appendParallel(ctx, cfg.Output, todo, cfg.Parallel, cfg.Progress,
		func(ctx context.Context, q Question) (any, error) { return answerOne(ctx, cfg, q) },
		func(q Question) string { return fmt.Sprintf("question %d", q.QuestionID) })
	if err != nil {
		return n, err
	}
	return n, reorganize(cfg.Output)
}

func answerOne(ctx context.Context, cfg AnswerConfig, q Question) (Answer, error) {
	temp := Temperature(q.Category)
	var msgs []Message
	var turns []string
	for _, t := range q.Turns {
		msgs = append(msgs, Message{Role: "user", Content: t})
		out, err := cfg.Client.Chat(ctx, ChatRequest{Model: cfg.Model, Messages: msgs, Temperature: temp, MaxTokens: cfg.MaxTokens})
		if err != nil {
			return Answer{}, err
		}
		out = strings.TrimSpace(out)
		turns = append(turns, out)
		msgs = append(msgs, Message{Role: "assistant", Content: out})
	}
	return Answer{QuestionID: q.QuestionID, AnswerID: shortUUID(), ModelID: cfg.ModelID,
		Choices: []Choice{{Index: 0, Turns: turns}}, Tstamp: now()}, nil
}

func now() float64 { return float64(time.Now().UnixMicro()) / 1e6 }

func appendJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// appendParallel runs do for every item of todo on parallel workers and
// appends each row it returns to path as a JSON line (creating the file and
// its folder; rows in completion order), reporting progress(done, total)
// after each. The first failure, named by name(item), cancels the others
// and is returned with the number of rows appended.
func appendParallel[T any](ctx context.Context, path string, todo []T, parallel int, progress func(done, total int),
	do func(ctx context.Context, item T) (any, error), name func(T) string) (int, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	n := 0
	jobs := make(chan T)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range jobs {
				row, err := do(ctx, it)
				mu.Lock()
				if err == nil {
					err = appendJSON(f, row)
				}
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", name(it), err)
					}
					cancel()
				} else {
					n++
					if progress != nil {
						progress(n, len(todo))
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, it := range todo {
		select {
		case jobs <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if err := f.Close(); err != nil && firstErr == nil {
		firstErr = err
	}
	return n, firstErr
}

// reorganize rewrites an answer file sorted by question id, one row per
// question (the last), as FastChat's reorg_answer_file does.
func reorganize(path string) error {
	rows, err := ReadAnswers(path)
	if err != nil {
		return err
	}
	ids := make([]int, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return atomicfile.Write(path, func(w io.Writer) error {
		for _, id := range ids {
			if err := appendJSON(w, rows[id]); err != nil {
				return err
			}
		}
		return nil
	})
}

// shortUUID returns 22 random characters of shortuuid's alphabet, the
// shape of FastChat's answer ids.
func shortUUID() string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	b := make([]byte, 22)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}
