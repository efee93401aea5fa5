package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// tokenizerFiles are the files of a model folder, besides config.json and
// the weights, that make it usable as a whole: the tokenizer in its fast
// (tokenizer.json) and slow (tokenizer.model, vocab.json, merges.txt,
// added_tokens.json) forms, its settings and chat templates
// (tokenizer_config.json, special_tokens_map.json, chat_template.jinja,
// chat_template.json), and the generation defaults — what transformers'
// save_pretrained of a tokenizer, a processor and a generation config
// writes.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
	"tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json",
	GenerationConfigFile,
}

// AdditionalChatTemplatesDir is the subfolder where transformers saves a
// tokenizer's named chat templates, one <name>.jinja each.
const AdditionalChatTemplatesDir = "additional_chat_templates"

// TokenizerFiles returns the names of the files CopyTokenizerFiles copies
// (besides AdditionalChatTemplatesDir/*.jinja): the one list of the
// tokenizer, template and generation files that go with a checkpoint.
func TokenizerFiles() []string { return slices.Clone(tokenizerFiles) }

// CopyTokenizerFiles copies the TokenizerFiles present in src, and the
// named chat templates of src/additional_chat_templates, into the existing
// folder dst, each file written atomically. It returns the copied names
// (relative to dst). Copying a folder onto itself does nothing.
func CopyTokenizerFiles(src, dst string) ([]string, error) {
	if same, err := sameDir(src, dst); err != nil || same {
		return nil, err
	}
	var copied []string
	copyFile := func(name string) error {
		data, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("copy tokenizer files: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dst, name), data); err != nil {
			return fmt.Errorf("copy tokenizer files: %w", err)
		}
		copied = append(copied, name)
		return nil
	}
	for _, name := range tokenizerFiles {
		if err := copyFile(name); err != nil {
			return copied, err
		}
	}
	templates, err := filepath.Glob(filepath.Join(src, AdditionalChatTemplatesDir, "*.jinja"))
	if err != nil {
		return copied, fmt.Errorf("copy tokenizer files: %w", err)
	}
	if len(templates) > 0 {
		if err := os.MkdirAll(filepath.Join(dst, AdditionalChatTemplatesDir), 0o755); err != nil {
			return copied, fmt.Errorf("copy tokenizer files: %w", err)
		}
	}
	for _, p := range templates {
		if err := copyFile(filepath.Join(AdditionalChatTemplatesDir, filepath.Base(p))); err != nil {
			return copied, err
		}
	}
	return copied, nil
}

// sameDir reports whether a and b are the same folder (b may not exist).
func sameDir(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, fmt.Errorf("copy tokenizer files: %w", err)
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, fmt.Errorf("copy tokenizer files: %w", err)
	}
	return os.SameFile(sa, sb), nil
}
