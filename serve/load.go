package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/smaug-dev/smaug/chat"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/tokenizer"
)

// ForModel returns a Config for m whose tokenizer and chat template are
// read from the model folder dir (tokenizer.json or tokenizer.model, and
// tokenizer_config.json or chat_template.jinja when present; without a
// template only /v1/completions works). ModelID is dir's base name and
// StopIDs are the model's eos_token_id(s) and the tokenizer's eos token.
func ForModel(m *model.Model, dir string) (Config, error) {
	tk, err := tokenizer.Load(dir)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Model: m, Tokenizer: tk, ModelID: filepath.Base(filepath.Clean(dir)), StopIDs: append([]int(nil), m.Config.EOSTokenIDs...)}
	if eos := tk.EOS(); eos >= 0 && !contains(cfg.StopIDs, eos) {
		cfg.StopIDs = append(cfg.StopIDs, eos)
	}
	tc, err := chat.LoadTokenizerConfig(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return cfg, nil
	case err != nil:
		return Config{}, err
	}
	cfg.ChatOptions = tc.RenderOptions(true)
	if tc.ChatTemplate != "" {
		if cfg.ChatTemplate, err = chat.Parse(tc.ChatTemplate); err != nil {
			return Config{}, fmt.Errorf("%s (chat template): %w", tc.Path, err)
		}
	}
	return cfg, nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
