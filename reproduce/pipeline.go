package reproduce

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/pref"
	"github.com/smaug-dev/smaug/tokenizer"
	"github.com/smaug-dev/smaug/train"
)

// Options configure a run.
type Options struct {
	// Out is the output folder; stages already there with the same inputs
	// are reused.
	Out string
	// Quick selects the Quick settings.
	Quick bool
	// Model is a user's model folder (with tokenizer files); the SFT stage
	// is then skipped and this model is the base.
	Model string
	// Data is a user's GSM8K-style data (question, answer with <<a*b=c>>
	// annotations and "#### N"): a folder with train.jsonl and test.jsonl,
	// or one file that is split.
	Data string
	// Seed drives data generation, initialisation, data order and pairs.
	Seed uint64
	// Settings, when non-nil, replace Defaults/Quick.
	Settings *Settings
	// Log receives progress lines (nil: discard).
	Log io.Writer
	// Bar makes a progress bar for n units (nil: none).
	Bar func(n int, desc string) func(done int)
	// CommandLine is recorded in the report.
	CommandLine string
}

// Run runs the whole pipeline and writes the report into o.Out. Cancelling
// ctx stops the training stage in progress; a later Run redoes that stage
// and reuses the finished ones.
func Run(ctx context.Context, o Options) (*Results, error) {
	s := Defaults()
	if o.Quick {
		s = Quick()
	}
	if o.Settings != nil {
		s = *o.Settings
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	p := &pipeline{ctx: ctx, o: o, s: s, start: time.Now()}
	return p.run()
}

type pipeline struct {
	ctx   context.Context
	o     Options
	s     Settings
	start time.Time
	tok   *tokenizer.Tokenizer
	base  string // base model folder
	times map[string]float64
}

func (p *pipeline) logf(format string, args ...any) {
	fmt.Fprintf(p.o.Log, "[%5.0fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// stage runs fn into a fresh temporary folder renamed to out/name, unless
// out/name holds a finished stage with the same key. It returns the key,
// which later stages fold into theirs.
func (p *pipeline) stage(name string, key []string, fn func(dir string) error) (string, error) {
	h := sha256.New()
	for _, k := range key {
		fmt.Fprintf(h, "%s\n", k)
	}
	sum := fmt.Sprintf("%x", h.Sum(nil))[:16]
	dir := filepath.Join(p.o.Out, name)
	stamp := filepath.Join(dir, ".stage")
	if p.times == nil {
		p.times = map[string]float64{}
	}
	if b, err := os.ReadFile(stamp); err == nil && strings.Fields(string(b)) != nil && strings.Fields(string(b))[0] == sum {
		// The stamp's second field is the time the stage took when it ran,
		// so a report from reused stages keeps the recorded times.
		if f := strings.Fields(string(b)); len(f) > 1 {
			if sec, err := strconv.ParseFloat(f[1], 64); err == nil {
				p.times[name] = sec
			}
		}
		p.logf("%s: reused (inputs unchanged)", name)
		return sum, nil
	}
	tmp := filepath.Join(p.o.Out, "."+name+".tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	t0 := time.Now()
	if err := fn(tmp); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	p.times[name] = math.Round(time.Since(t0).Seconds()*1000) / 1000 // as recorded in the stamp
	if err := os.WriteFile(filepath.Join(tmp, ".stage"), fmt.Appendf(nil, "%s %.3f\n", sum, p.times[name]), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	p.logf("%s: done in %.0fs", name, p.times[name])
	return sum, nil
}

func (p *pipeline) run() (*Results, error) {
	s, o := p.s, p.o
	// 1. Data.
	dataKey, err := p.stage("data", []string{"data v1", fmt.Sprint(s.TrainProblems, s.TestProblems, s.MinSteps, s.MaxSteps, s.MaxValue, o.Seed), fileKey(o.Data)}, p.makeData)
	if err != nil {
		return nil, err
	}
	// 2. Base model.
	baseKey := fileKey(o.Model)
	p.base = o.Model
	if o.Model == "" {
		p.base = filepath.Join(o.Out, "base")
		baseKey, err = p.stage("base", []string{"base v2", dataKey, fmt.Sprint(s.Vocab, s.Hidden, s.Layers, s.Heads, s.Inter, s.SFTSteps, s.SFTBatch, s.SFTLR, o.Seed)}, p.trainBase)
		if err != nil {
			return nil, err
		}
	}
	if p.tok, err = tokenizer.Load(p.base); err != nil {
		return nil, fmt.Errorf("tokenizer of the base model: %w", err)
	}
	// 3. Pairs.
	pairsKey, err := p.stage("pairs", []string{"pairs v1", dataKey, fmt.Sprint(o.Seed)}, p.makePairs)
	if err != nil {
		return nil, err
	}
	// 4. DPO and DPOP from the same base, seed and steps.
	runKeys := map[string]string{}
	for _, loss := range []string{"dpo", "dpop"} {
		k, err := p.stage(loss, []string{"pref v2", baseKey, pairsKey, loss, fmt.Sprint(s.PrefSteps, s.PrefBatch, s.PrefLR, s.Beta, s.Lambda, s.EvalEvery, s.EvalPairs, o.Seed)},
			func(dir string) error { return p.trainPref(dir, loss) })
		if err != nil {
			return nil, err
		}
		runKeys[loss] = k
	}
	// 5. Evaluation.
	var res *Results
	if _, err := p.stage("eval", []string{"eval v1", baseKey, runKeys["dpo"], runKeys["dpop"], pairsKey, fmt.Sprint(s.EvalProblems, s.EvalPairs, s.MaxNewTokens)},
		func(dir string) error {
			r, err := p.evaluate()
			if err != nil {
				return err
			}
			p.describe(r)
			b, _ := json.MarshalIndent(r, "", "  ")
			return os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644)
		}); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(o.Out, "eval", "results.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	p.describe(res)
	res.CommandLine = o.CommandLine
	res.StageSeconds = p.times
	res.TotalSeconds = time.Since(p.start).Seconds()
	// 6. Report.
	if err := p.writeReport(res); err != nil {
		return nil, err
	}
	return res, nil
}

// describe records the run's settings in r: the seed, the settings, the
// quick flag and the base model's true vocabulary size.
func (p *pipeline) describe(r *Results) {
	r.Seed, r.Settings, r.Quick = p.o.Seed, p.s, p.o.Quick
	r.VocabSize = p.tok.VocabSize()
}

// fileKey identifies a user file or folder by path, size and time.
func fileKey(path string) string {
	if path == "" {
		return "-"
	}
	h := sha256.New()
	filepath.Walk(path, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			fmt.Fprintf(h, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return fmt.Sprintf("%s:%x", path, h.Sum(nil))
}

// problem is one GSM8K-style row.
type problem struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// makeData writes data/train.jsonl and data/test.jsonl: filtered synth-math
// problems by default, or the user's data.
func (p *pipeline) makeData(dir string) error {
	s, o := p.s, p.o
	var train, test []problem
	if o.Data == "" {
		all := synthProblems(s.TrainProblems+s.TestProblems, s, int64(o.Seed))
		train, test = all[:s.TrainProblems], all[s.TrainProblems:]
	} else {
		var err error
		if train, test, err = userProblems(o.Data, s, o.Seed); err != nil {
			return err
		}
	}
	p.logf("data: %d training and %d held-out problems", len(train), len(test))
	if err := writeJSONL(filepath.Join(dir, "train.jsonl"), train); err != nil {
		return err
	}
	return writeJSONL(filepath.Join(dir, "test.jsonl"), test)
}

// synthProblems draws synth-math problems until n of them have
// MinSteps–MaxSteps calculations with every number at most MaxValue.
func synthProblems(n int, s Settings, seed int64) []problem {
	var out []problem
	for round := int64(0); len(out) < n; round++ {
		for _, q := range data.SynthMath(4*n, seed*1000003+round) {
			if q.Steps < s.MinSteps || q.Steps > s.MaxSteps || maxNumber(q.Question+" "+q.Answer) > s.MaxValue {
				continue
			}
			out = append(out, problem{q.Question, q.Answer})
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// maxNumber is the largest whole number written in s.
func maxNumber(s string) int {
	best, cur, in := 0, 0, false
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			cur, in = cur*10+int(s[i]-'0'), true
			continue
		}
		if in {
			best = max(best, cur)
		}
		cur, in = 0, false
	}
	return best
}

// userProblems reads GSM8K-style rows: train.jsonl and test.jsonl of a
// folder, or one file split with TestProblems held out.
func userProblems(path string, s Settings, seed uint64) (train, test []problem, err error) {
	read := func(f string, limit int) ([]problem, error) {
		rr, err := data.OpenRows(f, data.ReadOptions{})
		if err != nil {
			return nil, err
		}
		defer rr.Close()
		var out []problem
		for len(out) < limit {
			row, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			q, ok1 := row.Fields["question"].(string)
			a, ok2 := row.Fields["answer"].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%s:%d: want string fields question and answer (GSM8K layout)", row.Source, row.Line)
			}
			out = append(out, problem{q, a})
		}
		return out, nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if train, err = read(filepath.Join(path, "train.jsonl"), s.TrainProblems); err != nil {
			return nil, nil, err
		}
		test, err = read(filepath.Join(path, "test.jsonl"), s.TestProblems)
		return train, test, err
	}
	all, err := read(path, s.TrainProblems+s.TestProblems)
	if err != nil {
		return nil, nil, err
	}
	if len(all) < 2 {
		return nil, nil, fmt.Errorf("%s: need at least 2 problems", path)
	}
	nTest := min(s.TestProblems, len(all)/5+1)
	return all[:len(all)-nTest], all[len(all)-nTest:], nil
}

func writeJSONL[T any](path string, rows []T) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		var r T
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// promptText and completionText are the harness's GSM8K format: the model
// sees "Question: …\nAnswer:" and continues with " " + the solution.
func promptText(q string) string     { return data.GSM8KQuery(q) }
func completionText(a string) string { return " " + a }

func (p *pipeline) encodePrompt(q string) []int { return p.tok.Encode(promptText(q), true) }

func (p *pipeline) encodeCompletion(a string) []int {
	ids := p.tok.Encode(completionText(a), false)
	if eos := p.tok.EOS(); eos >= 0 {
		ids = append(ids, eos)
	}
	return ids
}

// trainBase trains the base model, and its tokenizer, from scratch.
func (p *pipeline) trainBase(dir string) error {
	s, o := p.s, p.o
	probs, err := readJSONL[problem](filepath.Join(o.Out, "data", "train.jsonl"))
	if err != nil {
		return err
	}
	texts := make([]string, len(probs))
	for i, q := range probs {
		texts[i] = promptText(q.Question) + completionText(q.Answer)
	}
	tj, err := TrainBPE(texts, s.Vocab)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), byteTokenizerConfig(), 0o644); err != nil {
		return err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	p.tok = tok
	var exs []train.Example
	for i, q := range probs {
		exs = append(exs, train.Example{Prompt: p.encodePrompt(q.Question), Chosen: p.encodeCompletion(q.Answer), Source: "data/train.jsonl", Line: i + 1})
	}
	// The base starts from random weights in memory, drawn as smaug sft
	// --init-config draws them (the seed, and the default initializer range).
	start, err := model.NewRandom(s.baseConfig(tok.VocabSize()), o.Seed, 0)
	if err != nil {
		return err
	}
	run := filepath.Join(dir, "sft-run")
	cfg := train.Defaults(train.SFT)
	cfg.Data, cfg.Output = filepath.Join(o.Out, "data", "train.jsonl"), run
	cfg.Optim.LR, cfg.Optim.Schedule, cfg.Optim.WarmupSteps = s.SFTLR, "cosine", s.SFTSteps/20
	cfg.BatchSize, cfg.MaxSteps, cfg.Seed = s.SFTBatch, s.SFTSteps, o.Seed
	cfg.Optim.WeightDecay, cfg.MaxLength, cfg.MaxPromptLength = 0.01, 512, 256
	p.logf("base: training a %d-layer, %d-wide Llama (vocabulary %d) from scratch (%d SFT steps of %d problems)", s.Layers, s.Hidden, tok.VocabSize(), s.SFTSteps, s.SFTBatch)
	bar := p.bar(s.SFTSteps, "base (sft)")
	t, err := train.New(cfg, train.Options{Train: exs, Policy: start, Log: io.Discard,
		Progress: func(int, map[string]float64) { bar(1) }})
	if err != nil {
		return err
	}
	defer t.Close()
	if err := t.Run(p.ctx); err != nil {
		return err
	}
	// The trained model, with its tokenizer, is the base folder itself.
	return t.Policy.Save(dir, "F32", 0)
}

func (p *pipeline) bar(n int, desc string) func(int) {
	if p.o.Bar == nil {
		return func(int) {}
	}
	return p.o.Bar(n, desc)
}

// pairRow is one pairs-file row.
type pairRow struct {
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
	ID       string `json:"id"`
}

// makePairs writes MetaMath-style pairs (one corrupted intermediate result
// per solution) of the training and held-out problems.
func (p *pipeline) makePairs(dir string) error {
	for _, split := range []string{"train", "test"} {
		src := filepath.Join(p.o.Out, "data", split+".jsonl")
		rr, err := data.OpenRows(src, data.ReadOptions{})
		if err != nil {
			return err
		}
		var rows []pairRow
		skipped := 0
		for {
			row, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rr.Close()
				return err
			}
			ps, _, err := data.MathPairs(row, data.MathOptions{PerExample: 1, Seed: int64(p.o.Seed)})
			if err != nil {
				rr.Close()
				return err
			}
			if len(ps) == 0 {
				skipped++
			}
			for _, x := range ps {
				rows = append(rows, pairRow{Prompt: data.Text(x.Prompt), Chosen: data.Text(x.Chosen), Rejected: data.Text(x.Rejected), ID: x.ID})
			}
		}
		rr.Close()
		p.logf("pairs (%s): %d pairs, %d problems without an intermediate calculation skipped", split, len(rows), skipped)
		if len(rows) == 0 {
			return fmt.Errorf("no pairs could be made from %s", src)
		}
		if err := writeJSONL(filepath.Join(dir, split+".jsonl"), rows); err != nil {
			return err
		}
	}
	return nil
}

// pairExamples tokenizes a pairs file (at most limit rows; 0: all).
func (p *pipeline) pairExamples(path string, limit int) ([]train.Example, error) {
	rows, err := readJSONL[pairRow](path)
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	out := make([]train.Example, len(rows))
	for i, r := range rows {
		out[i] = train.Example{Prompt: p.encodePrompt(r.Prompt), Chosen: p.encodeCompletion(r.Chosen), Rejected: p.encodeCompletion(r.Rejected), Source: path, Line: i + 1}
	}
	return out, nil
}

// trainPref runs DPO or DPOP from the base model.
func (p *pipeline) trainPref(dir, loss string) error {
	s, o := p.s, p.o
	// Only the pairs the steps will see: their reference log-probs are
	// computed before training.
	trainExs, err := p.pairExamples(filepath.Join(o.Out, "pairs", "train.jsonl"), s.PrefSteps*s.PrefBatch)
	if err != nil {
		return err
	}
	evalExs, err := p.pairExamples(filepath.Join(o.Out, "pairs", "test.jsonl"), s.EvalPairs)
	if err != nil {
		return err
	}
	cfg := train.Defaults(train.Preference)
	cfg.Model, cfg.Data, cfg.Output = p.base, filepath.Join(o.Out, "pairs", "train.jsonl"), dir
	spec, err := pref.ParseSpec(loss, "") // dpo: λ 0
	if err != nil {
		return err
	}
	spec.Beta = s.Beta
	if loss == "dpop" {
		spec.DPOPLambda = s.Lambda
	}
	cfg.Loss = spec
	cfg.Optim.LR, cfg.Optim.Schedule, cfg.Optim.WarmupSteps = s.PrefLR, "constant", 0
	cfg.BatchSize, cfg.MaxSteps, cfg.Seed, cfg.EvalSteps, cfg.EvalOnStart = s.PrefBatch, s.PrefSteps, o.Seed, s.EvalEvery, true
	cfg.MaxLength, cfg.MaxPromptLength = 1024, 512
	p.logf("%s: %d steps of %d pairs (β %g%s, lr %g)", loss, s.PrefSteps, s.PrefBatch, s.Beta, map[bool]string{true: fmt.Sprintf(", λ %g", s.Lambda), false: ""}[loss == "dpop"], s.PrefLR)
	bar := p.bar(s.PrefSteps, loss)
	t, err := train.New(cfg, train.Options{Train: trainExs, Eval: evalExs, Log: io.Discard,
		Progress: func(int, map[string]float64) { bar(1) }})
	if err != nil {
		return err
	}
	defer t.Close()
	return t.Run(p.ctx)
}
