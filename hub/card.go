package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ModelCard is the README.md Push generates for a trained model or
// adapter: the hub's YAML metadata (base_model, datasets, tags,
// library_name) and sections on the training.
type ModelCard struct {
	// BaseModel is the model that was fine-tuned (a repo id or path).
	BaseModel string
	// Datasets are the training data (repo ids or paths).
	Datasets []string
	// Loss is the preference loss ("dpop", "dpo", ...).
	Loss string
	// Hyperparameters are the run's settings, by name.
	Hyperparameters map[string]string
	// Metrics are the last logged metrics, by name.
	Metrics map[string]float64
	// Adapter says the folder is a PEFT adapter (library_name peft).
	Adapter bool
}

// Markdown renders the card.
func (m *ModelCard) Markdown() []byte {
	var b bytes.Buffer
	q := func(s string) string { return strconv.Quote(s) }
	b.WriteString("---\n")
	if m.BaseModel != "" {
		fmt.Fprintf(&b, "base_model: %s\n", q(m.BaseModel))
	}
	if len(m.Datasets) > 0 {
		b.WriteString("datasets:\n")
		for _, d := range m.Datasets {
			fmt.Fprintf(&b, "- %s\n", q(d))
		}
	}
	if m.Adapter {
		b.WriteString("library_name: peft\n")
	} else {
		b.WriteString("library_name: transformers\n")
	}
	b.WriteString("pipeline_tag: text-generation\ntags:\n- smaug\n")
	if m.Adapter {
		b.WriteString("- lora\n")
		if m.BaseModel != "" {
			fmt.Fprintf(&b, "- %s\n", q("base_model:adapter:"+m.BaseModel))
		}
	}
	if m.Loss != "" {
		fmt.Fprintf(&b, "- %s\n", q(m.Loss))
	}
	b.WriteString("---\n\n")
	kind := "model"
	if m.Adapter {
		kind = "LoRA adapter"
	}
	fmt.Fprintf(&b, "# Fine-tuned %s\n\nThis %s was trained with [smaug](https://github.com/smaug-dev/smaug)", kind, kind)
	if m.Loss != "" {
		fmt.Fprintf(&b, " using the %s loss", m.Loss)
	}
	if m.BaseModel != "" {
		fmt.Fprintf(&b, ", starting from `%s`", m.BaseModel)
	}
	if len(m.Datasets) > 0 {
		fmt.Fprintf(&b, ", on `%s`", strings.Join(m.Datasets, "`, `"))
	}
	b.WriteString(".\n")
	table := func(title string, rows map[string]string) {
		if len(rows) == 0 {
			return
		}
		keys := make([]string, 0, len(rows))
		for k := range rows {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "\n## %s\n\n| name | value |\n| --- | --- |\n", title)
		for _, k := range keys {
			fmt.Fprintf(&b, "| %s | %s |\n", k, strings.ReplaceAll(rows[k], "|", `\|`))
		}
	}
	table("Training hyper-parameters", m.Hyperparameters)
	metrics := map[string]string{}
	for k, v := range m.Metrics {
		metrics[k] = strconv.FormatFloat(v, 'g', 6, 64)
	}
	table("Metrics (last logged step)", metrics)
	return b.Bytes()
}

// CardFromRun builds a card from what smaug writes into a run's output
// folder: config.yaml (the run's settings; model, data and loss name the
// base model, the data and the loss), adapter_config.json (a PEFT adapter
// and its base_model_name_or_path) and the last line of metrics.jsonl.
// Missing files leave their parts empty.
func CardFromRun(dir string) (*ModelCard, error) {
	m := &ModelCard{Hyperparameters: map[string]string{}, Metrics: map[string]float64{}}
	if b, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err == nil {
		var cfg map[string]any
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("model card: %s: %w", filepath.Join(dir, "config.yaml"), err)
		}
		for k, v := range cfg {
			s := fmt.Sprint(v)
			switch v.(type) {
			case map[string]any, []any:
				bb, _ := json.Marshal(v)
				s = string(bb)
			}
			switch k {
			case "model", "base_model":
				m.BaseModel = RepoIDOf(s)
			case "data", "dataset", "train_data":
				if s != "" {
					m.Datasets = append(m.Datasets, RepoIDOf(s))
				}
			case "loss":
				m.Loss = s
			}
			m.Hyperparameters[k] = s
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "adapter_config.json")); err == nil {
		m.Adapter = true
		var ac struct {
			Base string `json:"base_model_name_or_path"`
		}
		if json.Unmarshal(b, &ac) == nil && ac.Base != "" && m.BaseModel == "" {
			m.BaseModel = RepoIDOf(ac.Base)
		}
	}
	if f, err := os.Open(filepath.Join(dir, "metrics.jsonl")); err == nil {
		defer f.Close()
		var last string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				last = t
			}
		}
		var row map[string]any
		if last != "" && json.Unmarshal([]byte(last), &row) == nil {
			for k, v := range row {
				if x, ok := v.(float64); ok {
					m.Metrics[k] = x
				}
			}
		}
	}
	return m, nil
}

// RepoIDOf returns the repo id of a path inside a huggingface_hub cache
// (…/models--ORG--NAME/snapshots/COMMIT[/…] gives ORG/NAME; a split
// folder of ResolveData gives the dataset's id), else the path unchanged.
func RepoIDOf(p string) string {
	parts := strings.Split(filepath.ToSlash(p), "/")
	for i, part := range parts {
		for _, prefix := range []string{"models--", "datasets--"} {
			if strings.HasPrefix(part, prefix) && i+1 < len(parts) && (parts[i+1] == "snapshots" || commitPattern.MatchString(parts[i+1])) {
				return strings.ReplaceAll(strings.TrimPrefix(part, prefix), "--", "/")
			}
		}
	}
	return p
}

// generatedCard reports whether a README.md was written by smaug itself
// (an adapter's card), which Push may replace with a fuller one.
func generatedCard(b []byte) bool { return bytes.Contains(b, []byte("written by smaug")) }
