package train

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/smaug-dev/smaug/data"
)

// Example is one training example as token ids. Preference examples have
// a Rejected completion; SFT examples have only Chosen (the completion).
type Example struct {
	Prompt, Chosen, Rejected []int
	// Source and Line say where the example came from, for errors.
	Source string
	Line   int
}

// Tokens is the number of tokens the example puts through the model.
func (e *Example) Tokens() int {
	n := len(e.Prompt) + len(e.Chosen)
	if e.Rejected != nil {
		n += len(e.Prompt) + len(e.Rejected)
	}
	return n
}

// TextEncoder turns text into token ids (package tokenizer's Tokenizer).
type TextEncoder interface {
	Encode(text string, addSpecial bool) []int
	BOS() int
	EOS() int
}

// ChatRenderer renders a message list with the model's chat template
// (package chat), optionally ending with the generation prompt.
type ChatRenderer func(messages []map[string]any, addGenerationPrompt bool) (string, error)

// LoadOptions says how rows become examples.
type LoadOptions struct {
	Mode            Mode // Preference or SFT
	Encoder         TextEncoder
	Chat            ChatRenderer
	BOSText         string // the BOS token's text, to tell whether a rendered template already has it
	MaxLength       int
	MaxPromptLength int
	SkipBadRows     bool
}

// LoadStats counts what loading did.
type LoadStats struct {
	Rows                int      `json:"rows"`
	Examples            int      `json:"examples"`
	Skipped             int      `json:"skipped_bad_rows"`
	SkipReasons         []string `json:"skip_reasons,omitempty"` // the first few
	TruncatedPrompt     int      `json:"truncated_prompts"`
	TruncatedCompletion int      `json:"truncated_completions"`
}

// LoadExamples reads a JSONL or parquet file of preference or SFT rows:
//
//	pref: prompt_ids/chosen_ids/rejected_ids (token ids), or prompt/chosen/rejected
//	      as strings (standard) or message lists (conversational; prompt may be
//	      omitted when chosen and rejected share their leading messages)
//	sft:  prompt_ids/completion_ids, prompt/completion (strings or messages),
//	      text, or messages (a whole conversation)
//
// Text prompts are encoded with special tokens (BOS) unless the rendered
// chat template already starts with the BOS text; completions are encoded
// without and end with EOS, as TRL does. Prompts longer than MaxPromptLength
// keep their last tokens; completions are then cut to fit MaxLength. A bad
// row is an error naming file, line and field, or with SkipBadRows is
// counted and skipped.
func LoadExamples(path string, o LoadOptions) ([]Example, LoadStats, error) {
	var st LoadStats
	rr, err := data.OpenRows(path, data.ReadOptions{})
	if err != nil {
		return nil, st, err
	}
	defer rr.Close()
	var out []Example
	for {
		row, err := rr.Next()
		if err == io.EOF {
			break
		}
		var ex Example
		if err == nil {
			st.Rows++
			ex, err = o.example(row)
		}
		if err != nil {
			var re *data.RowError
			if !errors.As(err, &re) {
				return nil, st, err
			}
			if !o.SkipBadRows {
				return nil, st, fmt.Errorf("%w (set SkipBadRows to skip such rows)", err)
			}
			st.Skipped++
			if len(st.SkipReasons) < 5 {
				st.SkipReasons = append(st.SkipReasons, err.Error())
			}
			continue
		}
		tp, tc := o.truncate(&ex)
		if tp {
			st.TruncatedPrompt++
		}
		if tc {
			st.TruncatedCompletion++
		}
		out = append(out, ex)
	}
	st.Examples = len(out)
	if len(out) == 0 {
		return nil, st, fmt.Errorf("%s: no usable rows (%d read, %d skipped)", path, st.Rows, st.Skipped)
	}
	return out, st, nil
}

func rowErr(row data.Row, field, format string, args ...any) error {
	return &data.RowError{Source: row.Source, Line: row.Line, Field: field, Err: fmt.Errorf(format, args...)}
}

// example converts one row.
func (o *LoadOptions) example(row data.Row) (Example, error) {
	ex := Example{Source: row.Source, Line: row.Line}
	f := row.Fields
	has := func(k string) bool { v, ok := f[k]; return ok && v != nil }
	var err error
	switch {
	case has("prompt_ids"):
		second := "rejected_ids"
		if o.Mode == SFT {
			second = ""
		}
		if ex.Prompt, err = idsField(row, "prompt_ids"); err != nil {
			return ex, err
		}
		first := "chosen_ids"
		if o.Mode == SFT {
			first = "completion_ids"
		}
		if ex.Chosen, err = idsField(row, first); err != nil {
			return ex, err
		}
		if second != "" {
			if ex.Rejected, err = idsField(row, second); err != nil {
				return ex, err
			}
		}
		return ex, nil
	case o.Encoder == nil:
		return ex, rowErr(row, "", "text rows need a tokenizer (LoadOptions.Encoder); or give prompt_ids/chosen_ids/rejected_ids")
	case o.Mode == SFT && has("text"):
		s, ok := f["text"].(string)
		if !ok || s == "" {
			return ex, rowErr(row, "text", "want a non-empty string")
		}
		ids := o.Encoder.Encode(s, true)
		if len(ids) < 2 {
			return ex, rowErr(row, "text", "encodes to %d tokens; need at least 2", len(ids))
		}
		if eos := o.Encoder.EOS(); eos >= 0 {
			ids = append(ids, eos)
		}
		ex.Prompt, ex.Chosen = ids[:1], ids[1:]
		return ex, nil
	case o.Mode == SFT && has("messages"):
		msgs, err := messagesField(row, "messages")
		if err != nil {
			return ex, err
		}
		text, err := o.render(row, "messages", msgs, false)
		if err != nil {
			return ex, err
		}
		ids := o.encodePrompt(text)
		if len(ids) < 2 {
			return ex, rowErr(row, "messages", "renders to %d tokens; need at least 2", len(ids))
		}
		ex.Prompt, ex.Chosen = ids[:1], ids[1:]
		return ex, nil
	}
	names := []string{"chosen", "rejected"}
	if o.Mode == SFT {
		names = []string{"completion"}
	}
	for _, n := range names {
		if !has(n) {
			return ex, rowErr(row, n, "missing (have %s)", fieldNames(f))
		}
	}
	if _, isText := f[names[0]].(string); isText {
		prompt, ok := f["prompt"].(string)
		if !ok {
			return ex, rowErr(row, "prompt", "want a string like %q (have %s)", names[0], fieldNames(f))
		}
		ex.Prompt = o.encodePrompt(prompt)
		comps := make([][]int, len(names))
		for i, n := range names {
			s, ok := f[n].(string)
			if !ok || strings.TrimSpace(s) == "" {
				return ex, rowErr(row, n, "want a non-empty string")
			}
			comps[i] = o.encodeCompletion(s)
		}
		ex.Chosen = comps[0]
		if len(comps) > 1 {
			ex.Rejected = comps[1]
		}
		return ex, o.checkNonEmpty(row, &ex)
	}
	// Conversational.
	convs := make([][]map[string]any, len(names))
	for i, n := range names {
		if convs[i], err = messagesField(row, n); err != nil {
			return ex, err
		}
	}
	var prompt []map[string]any
	if has("prompt") {
		if prompt, err = messagesField(row, "prompt"); err != nil {
			return ex, err
		}
	} else {
		// Implicit prompt: the leading messages every completion shares.
		k := 0
		for k < len(convs[0])-1 && (len(convs) == 1 || k < len(convs[1])-1) && (len(convs) == 1 || sameMessage(convs[0][k], convs[1][k])) {
			k++
		}
		prompt = convs[0][:k]
		for i := range convs {
			convs[i] = convs[i][k:]
		}
	}
	ptext, err := o.render(row, "prompt", prompt, true)
	if err != nil {
		return ex, err
	}
	ex.Prompt = o.encodePrompt(ptext)
	comps := make([][]int, len(names))
	for i, n := range names {
		full, err := o.render(row, n, append(append([]map[string]any{}, prompt...), convs[i]...), false)
		if err != nil {
			return ex, err
		}
		if !strings.HasPrefix(full, ptext) {
			return ex, rowErr(row, n, "the chat template renders prompt+%s so that it does not start with the rendered prompt", n)
		}
		comps[i] = o.Encoder.Encode(full[len(ptext):], false)
	}
	ex.Chosen = comps[0]
	if len(comps) > 1 {
		ex.Rejected = comps[1]
	}
	return ex, o.checkNonEmpty(row, &ex)
}

func (o *LoadOptions) checkNonEmpty(row data.Row, ex *Example) error {
	if len(ex.Prompt) == 0 {
		return rowErr(row, "prompt", "encodes to no tokens and the tokenizer has no BOS token")
	}
	if len(ex.Chosen) == 0 {
		return rowErr(row, "chosen", "encodes to no tokens")
	}
	if ex.Rejected != nil && len(ex.Rejected) == 0 {
		return rowErr(row, "rejected", "encodes to no tokens")
	}
	return nil
}

func (o *LoadOptions) render(row data.Row, field string, msgs []map[string]any, genPrompt bool) (string, error) {
	if o.Chat == nil {
		return "", rowErr(row, field, "conversational rows need a chat template (chat_template in tokenizer_config.json)")
	}
	s, err := o.Chat(msgs, genPrompt)
	if err != nil {
		return "", rowErr(row, field, "chat template: %v", err)
	}
	return s, nil
}

// encodePrompt encodes a prompt with the tokenizer's special tokens unless
// the text already starts with the BOS token's text.
func (o *LoadOptions) encodePrompt(s string) []int {
	if o.BOSText != "" && strings.HasPrefix(s, o.BOSText) {
		return o.Encoder.Encode(s, false)
	}
	return o.Encoder.Encode(s, true)
}

// encodeCompletion encodes a completion without special tokens, then EOS.
func (o *LoadOptions) encodeCompletion(s string) []int {
	ids := o.Encoder.Encode(s, false)
	if eos := o.Encoder.EOS(); eos >= 0 && len(ids) > 0 {
		ids = append(ids, eos)
	}
	return ids
}

// truncate applies the length limits: the prompt keeps its last
// MaxPromptLength tokens, then each completion its first
// MaxLength − len(prompt).
func (o *LoadOptions) truncate(ex *Example) (prompt, completion bool) {
	if len(ex.Prompt) > o.MaxPromptLength {
		ex.Prompt = ex.Prompt[len(ex.Prompt)-o.MaxPromptLength:]
		prompt = true
	}
	room := o.MaxLength - len(ex.Prompt)
	if len(ex.Chosen) > room {
		ex.Chosen = ex.Chosen[:room]
		completion = true
	}
	if len(ex.Rejected) > room {
		ex.Rejected = ex.Rejected[:room]
		completion = true
	}
	return prompt, completion
}

func idsField(row data.Row, name string) ([]int, error) {
	v, ok := row.Fields[name]
	if !ok || v == nil {
		return nil, rowErr(row, name, "missing (have %s)", fieldNames(row.Fields))
	}
	list, ok := v.([]any)
	if !ok {
		return nil, rowErr(row, name, "want a list of token ids, got %T", v)
	}
	if len(list) == 0 {
		return nil, rowErr(row, name, "is empty")
	}
	ids := make([]int, len(list))
	for i, x := range list {
		var f float64
		switch n := x.(type) {
		case float64:
			f = n
		case int64:
			f = float64(n)
		case int32:
			f = float64(n)
		default:
			return nil, rowErr(row, name, "item %d: want an integer token id, got %T", i, x)
		}
		if f != float64(int(f)) || f < 0 {
			return nil, rowErr(row, name, "item %d: %v is not a token id", i, f)
		}
		ids[i] = int(f)
	}
	return ids, nil
}

func messagesField(row data.Row, name string) ([]map[string]any, error) {
	list, ok := row.Fields[name].([]any)
	if !ok {
		return nil, rowErr(row, name, "want a string or a list of {role, content} messages, got %T", row.Fields[name])
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, rowErr(row, name, "message %d: want an object with role and content", i)
		}
		if _, ok := m["role"].(string); !ok {
			return nil, rowErr(row, name, "message %d: missing role", i)
		}
		out[i] = m
	}
	if len(out) == 0 {
		return nil, rowErr(row, name, "no messages")
	}
	return out, nil
}

func sameMessage(a, b map[string]any) bool {
	return fmt.Sprint(a["role"]) == fmt.Sprint(b["role"]) && fmt.Sprint(a["content"]) == fmt.Sprint(b["content"])
}

func fieldNames(f map[string]any) string {
	var names []string
	for k := range f {
		names = append(names, k)
	}
	if len(names) == 0 {
		return "no fields"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
