// Package chat renders chat templates exactly as Hugging Face transformers'
// apply_chat_template does, and loads them from tokenizer_config.json.
//
// It owns a small Jinja interpreter written for this purpose rather than a
// general Jinja library: what matters is byte-identical output, and that
// depends on details a general engine gets subtly wrong — Python's str()
// of values (None, True, 1.0, lists and dicts), jinja2's Undefined (empty
// when printed, an error when its attributes are read), trim_blocks and
// lstrip_blocks whitespace rules, the removal of one trailing newline,
// transformers' tojson (ensure_ascii=False, insertion-ordered keys),
// markupsafe's Markup (a plain string added to "..."|safe is HTML-escaped),
// Python generators and dict views (map and select results have no
// length and are not JSON-serialisable), and the immutable sandbox
// (list.append is refused). The interpreter supports
// the statements chat templates use (if, for with loop controls, set and
// block set, macro, call, filter, with, and transformers' generation
// tag), Jinja's filters and tests, and the Python string, dict and list
// methods templates call. (github.com/ardanlabs/jinja, tried first,
// rendered 432 of the 472 fixture renders: it lost whitespace in one
// template and raised no error where Python raises, for example when
// iterating None or adding an undefined variable to a string. gonja v2.9.1
// rendered 439 with strftime_now supplied: l[-len(l)] gives nothing, and
// it too renders 32 rows where jinja2 raises — iterating tools=None,
// adding an undefined name; its strict mode breaks 59 others.)
//
// Render passes the variables transformers passes: messages, tools and
// documents (None when not given), add_generation_prompt, bos_token,
// eos_token and any extra keyword arguments; raise_exception and
// strftime_now are available as in transformers.
//
// Dict key order: JSON objects decoded with DecodeJSON keep their file
// order, as Python's do; Go maps passed in messages, tools or Extra are
// walked in sorted key order.
package chat

import (
	"fmt"
	"strings"
)

// Error is a template error: a syntax error from Parse, or an error raised
// while rendering (raise_exception gives Kind "TemplateError" and the
// template's message). Kind is the name of the Python exception that
// transformers would raise; Line is the template line, 0 when unknown.
type Error struct {
	Kind string
	Msg  string
	Line int
}

// Error formats the error as "line N: Kind: message".
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Kind, e.Msg)
	}
	return e.Kind + ": " + e.Msg
}

// Template is a parsed chat template. It is safe for concurrent use.
type Template struct {
	body []stmt
}

// Parse parses a Jinja chat template. Syntax errors are *Error values that
// carry the line number.
func Parse(src string) (*Template, error) {
	body, err := parse(src)
	if err != nil {
		return nil, err
	}
	return &Template{body: body}, nil
}

// Message is one chat message: "role", "content" (a string or a list of
// parts), and whatever else a template reads ("tool_calls", "name", ...).
type Message = map[string]any

// Options are the remaining arguments of apply_chat_template.
type Options struct {
	// AddGenerationPrompt appends the header of an assistant turn.
	AddGenerationPrompt bool
	// BOSToken and EOSToken are the tokenizer's special tokens as strings.
	BOSToken, EOSToken string
	// Tools and Documents are passed as the template variables tools and
	// documents; nil passes None, as transformers does when they are not
	// given.
	Tools, Documents []any
	// Extra holds further template variables (transformers' **kwargs),
	// such as pad_token or a template-specific switch. They override the
	// variables above.
	Extra map[string]any
}

// Render renders the conversation. Errors are *Error values (for example
// the template's own raise_exception), or an error naming a Go value that
// cannot be given to a template.
func (t *Template) Render(messages []Message, opt Options) (string, error) {
	msgs := make([]any, len(messages))
	for i, m := range messages {
		v, err := fromGo(m)
		if err != nil {
			return "", fmt.Errorf("message %d: %w", i, err)
		}
		msgs[i] = v
	}
	vars := map[string]any{
		"messages":              msgs,
		"add_generation_prompt": opt.AddGenerationPrompt,
		"bos_token":             opt.BOSToken,
		"eos_token":             opt.EOSToken,
	}
	for name, list := range map[string][]any{"tools": opt.Tools, "documents": opt.Documents} {
		if list == nil {
			vars[name] = nil
			continue
		}
		v, err := fromGo(list)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		vars[name] = v
	}
	for k, x := range opt.Extra {
		v, err := fromGo(x)
		if err != nil {
			return "", fmt.Errorf("extra variable %s: %w", k, err)
		}
		vars[k] = v
	}
	return t.render(vars)
}

// render runs the template with the given variables.
func (t *Template) render(vars map[string]any) (string, error) {
	r := &renderer{}
	s := newScope(nil)
	for k, v := range vars {
		s.vars[k] = v
	}
	var b strings.Builder
	if err := r.execBody(t.body, s, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}
