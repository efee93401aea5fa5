package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TokenizerConfig is what chat rendering needs from a Hugging Face
// tokenizer_config.json and the template files saved beside it.
type TokenizerConfig struct {
	// Path is the tokenizer_config.json that was read.
	Path string
	// ChatTemplate is the default template: chat_template.jinja beside the
	// config when present (transformers ≥ 4.43 saves it there), else the
	// config's chat_template string, else the entry named "default" of its
	// list form. Empty when the tokenizer has none.
	ChatTemplate string
	// Templates holds the named templates: the list form of chat_template
	// ([{"name", "template"}]) and the files additional_chat_templates/NAME.jinja.
	Templates map[string]string
	// BOSToken, EOSToken, PadToken and UnkToken are the special tokens'
	// text, given in the file as strings or AddedToken objects ({"content": ...}).
	BOSToken, EOSToken, PadToken, UnkToken string
	// AddBOSToken and AddEOSToken are add_bos_token and add_eos_token; nil
	// when absent.
	AddBOSToken, AddEOSToken *bool
	// TokenizerClass is tokenizer_class, such as "LlamaTokenizerFast".
	TokenizerClass string
}

// LoadTokenizerConfig reads tokenizer_config.json from path, which is the
// file itself or a model folder holding it. Errors name the file and, for
// malformed content, the line and field.
func LoadTokenizerConfig(path string) (*TokenizerConfig, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer config: %w", err)
	}
	if st.IsDir() {
		path = filepath.Join(path, "tokenizer_config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer config: %w", err)
	}
	cfg, err := parseTokenizerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Path = path
	dir := filepath.Dir(path)
	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	if b, err := os.ReadFile(jinjaPath); err == nil {
		cfg.ChatTemplate = string(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load chat template: %w", err)
	}
	extra, err := filepath.Glob(filepath.Join(dir, "additional_chat_templates", "*.jinja"))
	if err != nil {
		return nil, fmt.Errorf("load chat templates: %w", err)
	}
	for _, p := range extra {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load chat template: %w", err)
		}
		cfg.Templates[strings.TrimSuffix(filepath.Base(p), ".jinja")] = string(b)
	}
	return cfg, nil
}

// fieldError names a field and the line it starts on.
func fieldError(line int, field, format string, args ...any) error {
	return fmt.Errorf("line %d: field %s: %s", line, field, fmt.Sprintf(format, args...))
}

func parseTokenizerConfig(data []byte) (*TokenizerConfig, error) {
	cfg := &TokenizerConfig{Templates: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(err error) error {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err, off = errors.New("unexpected end of JSON input"), int64(len(data))
		}
		line, col := lineCol(data, off)
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("line 1: want a JSON object, got %v", tok)
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key := kt.(string)
		line, _ := lineCol(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err)
		}
		if err := cfg.setField(key, raw, line); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(err)
	}
	return cfg, nil
}

func (cfg *TokenizerConfig) setField(key string, raw json.RawMessage, line int) error {
	switch key {
	case "chat_template":
		return cfg.setChatTemplate(raw, line)
	case "bos_token":
		return specialToken(raw, &cfg.BOSToken, line, key)
	case "eos_token":
		return specialToken(raw, &cfg.EOSToken, line, key)
	case "pad_token":
		return specialToken(raw, &cfg.PadToken, line, key)
	case "unk_token":
		return specialToken(raw, &cfg.UnkToken, line, key)
	case "add_bos_token", "add_eos_token":
		var b *bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return fieldError(line, key, "want true, false or null, got %s", raw)
		}
		if key == "add_bos_token" {
			cfg.AddBOSToken = b
		} else {
			cfg.AddEOSToken = b
		}
	case "tokenizer_class":
		var s *string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fieldError(line, key, "want a string, got %s", raw)
		}
		if s != nil {
			cfg.TokenizerClass = *s
		}
	}
	return nil
}

func (cfg *TokenizerConfig) setChatTemplate(raw json.RawMessage, line int) error {
	var s *string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s != nil {
			cfg.ChatTemplate = *s
		}
		return nil
	}
	var list []struct {
		Name     *string `json:"name"`
		Template *string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fieldError(line, "chat_template", "want a string or a list of {\"name\", \"template\"} objects")
	}
	for i, e := range list {
		if e.Name == nil || e.Template == nil {
			return fieldError(line, fmt.Sprintf("chat_template[%d]", i), "want both \"name\" and \"template\" strings")
		}
		cfg.Templates[*e.Name] = *e.Template
	}
	cfg.ChatTemplate = cfg.Templates["default"]
	return nil
}

// specialToken reads a special token given as a string, an AddedToken
// object ({"content": ...}) or null.
func specialToken(raw json.RawMessage, dst *string, line int, field string) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fieldError(line, field, "%v", err)
	}
	switch x := v.(type) {
	case nil:
	case string:
		*dst = x
	case map[string]any:
		c, ok := x["content"].(string)
		if !ok {
			return fieldError(line, field, "AddedToken object without a \"content\" string")
		}
		*dst = c
	default:
		return fieldError(line, field, "want a string or an object with \"content\", got %s", raw)
	}
	return nil
}

// Template returns the template to render: the default one when name is
// empty, else the one registered under name, as transformers picks
// tokenizer.chat_template.
func (cfg *TokenizerConfig) Template(name string) (string, error) {
	if name == "" {
		if cfg.ChatTemplate != "" {
			return cfg.ChatTemplate, nil
		}
		if len(cfg.Templates) > 0 {
			return "", fmt.Errorf("%s: several chat templates (%s) and none named \"default\"; choose one by name", cfg.Path, cfg.templateNames())
		}
		return "", fmt.Errorf("%s: the tokenizer has no chat template", cfg.Path)
	}
	if t, ok := cfg.Templates[name]; ok {
		return t, nil
	}
	if name == "default" && cfg.ChatTemplate != "" {
		return cfg.ChatTemplate, nil
	}
	names := cfg.templateNames()
	if names == "" {
		names = "none"
	}
	return "", fmt.Errorf("%s: no chat template named %q (named templates: %s)", cfg.Path, name, names)
}

func (cfg *TokenizerConfig) templateNames() string {
	names := make([]string, 0, len(cfg.Templates))
	for n := range cfg.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// RenderOptions returns Options carrying the tokenizer's special tokens, as
// transformers passes them to the template: bos_token and eos_token, and
// pad_token and unk_token among the extra variables when set.
func (cfg *TokenizerConfig) RenderOptions(addGenerationPrompt bool) Options {
	o := Options{AddGenerationPrompt: addGenerationPrompt, BOSToken: cfg.BOSToken, EOSToken: cfg.EOSToken}
	for name, v := range map[string]string{"pad_token": cfg.PadToken, "unk_token": cfg.UnkToken} {
		if v != "" {
			if o.Extra == nil {
				o.Extra = map[string]any{}
			}
			o.Extra[name] = v
		}
	}
	return o
}
