// Package mtbench runs MT-Bench as FastChat's llm_judge does (SPEC §4):
// answering the 80 two-turn questions through any OpenAI-compatible chat
// endpoint (smaug serve included) into model_answer/ID.jsonl, single-answer
// grading by a judge endpoint with the four single-* prompts of
// judge_prompts.jsonl into model_judgment/JUDGE_single.jsonl, and the
// first-turn, second-turn and average scores per model and per category
// that FastChat's show_result.py prints. All files are FastChat's formats,
// so published answers and judgments can be read and compared directly.
package mtbench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Question is one row of question.jsonl.
type Question struct {
	QuestionID int      `json:"question_id"`
	Category   string   `json:"category"`
	Turns      []string `json:"turns"`
}

// Answer is one row of model_answer/ID.jsonl (and of reference_answer/).
type Answer struct {
	QuestionID int      `json:"question_id"`
	AnswerID   string   `json:"answer_id"`
	ModelID    string   `json:"model_id"`
	Choices    []Choice `json:"choices"`
	Tstamp     float64  `json:"tstamp"`
}

// Choice holds one answer's turns.
type Choice struct {
	Index int      `json:"index"`
	Turns []string `json:"turns"`
}

// JudgePrompt is one row of judge_prompts.jsonl.
type JudgePrompt struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	SystemPrompt   string `json:"system_prompt"`
	PromptTemplate string `json:"prompt_template"`
	Category       string `json:"category"`
	OutputFormat   string `json:"output_format"`
}

// Judgment is one row of model_judgment/JUDGE_single.jsonl. Judge is
// [judge model, prompt name]. Repeat numbers repeated judgments of the
// same item (smaug's addition; absent, hence 0, in FastChat's files).
type Judgment struct {
	QuestionID int       `json:"question_id"`
	Model      string    `json:"model"`
	Judge      [2]string `json:"judge"`
	UserPrompt string    `json:"user_prompt"`
	Judgment   string    `json:"judgment"`
	Score      float64   `json:"score"`
	Turn       int       `json:"turn"`
	Tstamp     float64   `json:"tstamp"`
	Repeat     int       `json:"repeat,omitempty"`
}

// Temperature is the sampling temperature FastChat uses for a category's
// answers (SPEC §4): 0.7 for writing and roleplay, 0.1 for stem and
// humanities, greedy (0) otherwise.
func Temperature(category string) float64 {
	switch category {
	case "writing", "roleplay":
		return 0.7
	case "stem", "humanities":
		return 0.1
	}
	return 0
}

// NeedsReference reports whether a category is judged against the
// reference answer (FastChat's NEED_REF_CATS).
func NeedsReference(category string) bool {
	switch category {
	case "math", "reasoning", "coding", "arena-hard-200":
		return true
	}
	return false
}

// readJSONL decodes every non-empty line of path with decode; errors name
// the file and line.
func readJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// ReadQuestions reads question.jsonl; every question must have two turns.
func ReadQuestions(path string) ([]Question, error) {
	qs, err := readJSONL[Question](path)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	for i, q := range qs {
		if len(q.Turns) != 2 {
			return nil, fmt.Errorf("%s: question %d (line %d): field turns: want 2 turns, got %d", path, q.QuestionID, i+1, len(q.Turns))
		}
		if seen[q.QuestionID] {
			return nil, fmt.Errorf("%s: question_id %d appears twice (line %d)", path, q.QuestionID, i+1)
		}
		seen[q.QuestionID] = true
	}
	return qs, nil
}

// ReadAnswers reads a model_answer or reference_answer file, keyed by
// question id (a later row for the same question replaces an earlier one,
// as FastChat's load_model_answers does).
func ReadAnswers(path string) (map[int]Answer, error) {
	rows, err := readJSONL[Answer](path)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Answer, len(rows))
	for i, a := range rows {
		if len(a.Choices) == 0 {
			return nil, fmt.Errorf("%s:%d: question %d: field choices is empty", path, i+1, a.QuestionID)
		}
		out[a.QuestionID] = a
	}
	return out, nil
}

// ReadJudgePrompts reads judge_prompts.jsonl, keyed by name.
func ReadJudgePrompts(path string) (map[string]JudgePrompt, error) {
	rows, err := readJSONL[JudgePrompt](path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]JudgePrompt, len(rows))
	for _, p := range rows {
		out[p.Name] = p
	}
	return out, nil
}

// ReadJudgments reads a model_judgment file.
func ReadJudgments(path string) ([]Judgment, error) { return readJSONL[Judgment](path) }
