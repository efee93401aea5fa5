package mtbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The score patterns of FastChat's single-answer grading.
var (
	scorePattern       = regexp.MustCompile(`\[\[(\d+\.?\d*)\]\]`)
	scorePatternBackup = regexp.MustCompile(`\[(\d+\.?\d*)\]`)
)

// ParseScore returns the rating in a judgment: the first [[N]], else the
// first [N], else −1 (such judgments are dropped from the scores).
func ParseScore(judgment string) float64 {
	m := scorePattern.FindStringSubmatch(judgment)
	if m == nil {
		m = scorePatternBackup.FindStringSubmatch(judgment)
	}
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// ModelAnswers are one model's answers, keyed by question id.
type ModelAnswers struct {
	Model   string
	Answers map[int]Answer
}

// JudgeConfig configures RunJudge.
type JudgeConfig struct {
	// Client reaches the judge's chat endpoint; JudgeModel is the name
	// sent as "model" and written in each judgment's "judge".
	Client     *Client
	JudgeModel string
	Questions  []Question
	// References are the reference answers (reference_answer/gpt-4.jsonl)
	// for the categories that need them (NeedsReference).
	References map[int]Answer
	// Prompts are judge_prompts.jsonl's; the single-v1, single-math-v1
	// and their -multi-turn forms are used.
	Prompts map[string]JudgePrompt
	Answers []ModelAnswers
	// Output is the judgment file (FastChat's
	// model_judgment/JUDGE_single.jsonl); items already judged there are
	// skipped.
	Output string
	// Repeats judges each item this many times (default 1); MaxTokens caps
	// the judge's answer (default DefaultJudgeTokens); Parallel is the
	// number of requests at once (default DefaultParallel).
	Repeats, MaxTokens, Parallel int
	Progress                     func(done, total int)
}

// Item is one judgment to make.
type item struct {
	q      Question
	model  string
	ans    Answer
	turn   int
	repeat int
	prompt JudgePrompt
}

type itemKey struct {
	qid               int
	model             string
	turn, repeat      int
	judge, promptName string
}

// UserPrompt fills a judge prompt's template as FastChat does with Python's
// str.format: question and answer for turn 1, question_1/2 and answer_1/2
// for turn 2, and ref_answer_1 (and ref_answer_2) for reference-based
// prompts.
func UserPrompt(p JudgePrompt, q Question, a Answer, ref *Answer, turn int) string {
	turns := a.Choices[0].Turns
	get := func(s []string, i int) string {
		if i < len(s) {
			return s[i]
		}
		return ""
	}
	pairs := []string{"{{", "{", "}}", "}"}
	if turn == 1 {
		pairs = append(pairs, "{question}", get(q.Turns, 0), "{answer}", get(turns, 0))
	} else {
		pairs = append(pairs, "{question_1}", get(q.Turns, 0), "{question_2}", get(q.Turns, 1),
			"{answer_1}", get(turns, 0), "{answer_2}", get(turns, 1))
	}
	if ref != nil {
		rt := ref.Choices[0].Turns
		pairs = append(pairs, "{ref_answer_1}", get(rt, 0))
		if turn == 2 {
			pairs = append(pairs, "{ref_answer_2}", get(rt, 1))
		}
	}
	return strings.NewReplacer(pairs...).Replace(p.PromptTemplate)
}

// RunJudge grades every answer turn not yet judged in cfg.Output (each
// cfg.Repeats times) at temperature 0, appending each judgment as it
// comes. It returns the number of judgments made by this call.
func RunJudge(ctx context.Context, cfg JudgeConfig) (int, error) {
	if cfg.Client == nil || cfg.JudgeModel == "" || cfg.Output == "" {
		return 0, fmt.Errorf("mtbench judge: a client, a judge model and an output file are required")
	}
	if cfg.Repeats <= 0 {
		cfg.Repeats = 1
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultJudgeTokens
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	prompt := func(ref bool, turn int) (JudgePrompt, error) {
		name := "single-v1"
		if ref {
			name = "single-math-v1"
		}
		if turn == 2 {
			name += "-multi-turn"
		}
		p, ok := cfg.Prompts[name]
		if !ok {
			return p, fmt.Errorf("mtbench judge: the judge prompts have no %q", name)
		}
		return p, nil
	}
	done := map[itemKey]bool{}
	if old, err := ReadJudgments(cfg.Output); err == nil {
		for _, j := range old {
			done[itemKey{j.QuestionID, j.Model, j.Turn, j.Repeat, j.Judge[0], j.Judge[1]}] = true
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	var todo []item
	for _, ma := range cfg.Answers {
		for _, q := range cfg.Questions {
			a, ok := ma.Answers[q.QuestionID]
			if !ok {
				continue
			}
			ref := NeedsReference(q.Category)
			if _, ok := cfg.References[q.QuestionID]; ref && !ok {
				return 0, fmt.Errorf("mtbench judge: question %d (%s) needs a reference answer and has none", q.QuestionID, q.Category)
			}
			for turn := 1; turn <= 2; turn++ {
				p, err := prompt(ref, turn)
				if err != nil {
					return 0, err
				}
				for r := 0; r < cfg.Repeats; r++ {
					if !done[itemKey{q.QuestionID, ma.Model, turn, r, cfg.JudgeModel, p.Name}] {
						todo = append(todo, item{q, ma.Model, a, turn, r, p})
					}
				}
			}
		}
	}
	judge := func(ctx context.Context, it item) (any, error) {
		var ref *Answer
		if NeedsReference(it.q.Category) {
			r := cfg.References[it.q.QuestionID]
			ref = &r
		}
		user := UserPrompt(it.prompt, it.q, it.ans, ref, it.turn)
		text, err := cfg.Client.Chat(ctx, ChatRequest{Model: cfg.JudgeModel, Temperature: 0, MaxTokens: cfg.MaxTokens,
			Messages: []Message{{Role: "system", Content: it.prompt.SystemPrompt}, {Role: "user", Content: user}}})
		if err != nil {
			return nil, err
		}
		return Judgment{QuestionID: it.q.QuestionID, Model: it.model, Judge: [2]string{cfg.JudgeModel, it.prompt.Name},
			UserPrompt: user, Judgment: text, Score: ParseScore(text), Turn: it.turn, Tstamp: now(), Repeat: it.repeat}, nil
	}
	return appendParallel(ctx, cfg.Output, todo, cfg.Parallel, cfg.Progress, judge,
		func(it item) string {
			return fmt.Sprintf("question %d of %s, turn %d", it.q.QuestionID, it.model, it.turn)
		})
}
