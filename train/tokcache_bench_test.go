package train

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/tokenizer"
)

// BenchmarkTokenizePairs tokenises MetaMath-sized pairs (GSM8K train
// questions as prompts, a row's answer as chosen and the next row's as
// rejected, repeated to SMAUG_TOKBENCH_ROWS rows, default 20,000) with the
// Llama 3 tokenizer: cold (LoadExamplesParallel on every CPU, and on one)
// and from the token cache. It reports rows/s of each and the process's
// peak resident memory (VmHWM).
func BenchmarkTokenizePairs(b *testing.B) {
	src := sharedtest.Path(b, "data/gsm8k/train.jsonl")
	tok, err := tokenizer.Load(sharedtest.Path(b, "fixtures/tokenizers/llama3"))
	if err != nil {
		b.Fatal(err)
	}
	n := 20000
	if s := os.Getenv("SMAUG_TOKBENCH_ROWS"); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	var qa [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r struct{ Question, Answer string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			b.Fatal(err)
		}
		qa = append(qa, [2]string{r.Question, r.Answer})
	}
	f.Close()
	dir := b.TempDir()
	data := filepath.Join(dir, "pairs.jsonl")
	out, err := os.Create(data)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	for i := 0; i < n; i++ {
		p, r := qa[i%len(qa)], qa[(i+1)%len(qa)]
		enc.Encode(map[string]string{"prompt": p[0], "chosen": p[1], "rejected": r[1]})
	}
	w.Flush()
	out.Close()
	o := LoadOptions{Mode: Preference, Encoder: tok, MaxLength: 1024, MaxPromptLength: 512}
	for b.Loop() {
		os.RemoveAll(filepath.Join(dir, "cache"))
		t0 := time.Now()
		if _, _, err := LoadExamplesParallel(data, o, 1); err != nil {
			b.Fatal(err)
		}
		one := time.Since(t0).Seconds()
		c := &TokenCache{Dir: filepath.Join(dir, "cache"), Tokenizer: "llama3"}
		t0 = time.Now()
		if _, _, hit, err := c.Load(data, o); err != nil || hit {
			b.Fatal(err, hit)
		}
		cold := time.Since(t0).Seconds()
		t0 = time.Now()
		if _, _, hit, err := c.Load(data, o); err != nil || !hit {
			b.Fatal(err, hit)
		}
		cached := time.Since(t0).Seconds()
		b.ReportMetric(float64(n)/one, "rows/s-1cpu")
		b.ReportMetric(float64(n)/cold, "rows/s-cold")
		b.ReportMetric(float64(n)/cached, "rows/s-cached")
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cpus")
	b.ReportMetric(vmHWMMiB(b), "peak-MiB")
}

func vmHWMMiB(b *testing.B) float64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(s), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
