package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// benchTexts returns documents for the benchmarks: GSM8K questions and
// answers (English) and, for mixed script, the same interleaved with the
// fixture strings (CJK, Cyrillic, Khmer, Arabic, emoji, code).
func benchTexts(b *testing.B, mixed bool) []string {
	p := sharedtest.Path(b, "data/gsm8k/train.jsonl")
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var docs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row struct{ Question, Answer string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			b.Fatal(err)
		}
		docs = append(docs, row.Question+"\n"+row.Answer)
	}
	if !mixed {
		return docs
	}
	enc, _ := loadEncodingsB(b)
	for i := range docs {
		s := enc.Strings[i%len(enc.Strings)]
		docs[i] = s + " " + docs[i] + " " + enc.Strings[(i*7+3)%len(enc.Strings)]
	}
	return docs
}

func loadEncodingsB(b *testing.B) (encodingsFile, error) {
	p := sharedtest.Path(b, "fixtures/tokenizers/encodings.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return encodingsFile{}, err
	}
	var f encodingsFile
	return f, json.Unmarshal(data, &f)
}

func benchEncode(b *testing.B, tok string, mixed, parallel bool) {
	tk, err := Load(sharedtest.Path(b, "fixtures/tokenizers/"+tok))
	if err != nil {
		b.Fatal(err)
	}
	docs := benchTexts(b, mixed)
	total := 0
	for _, d := range docs {
		total += len(d)
	}
	b.SetBytes(int64(total))
	b.ResetTimer()
	for range b.N {
		if !parallel {
			for _, d := range docs {
				tk.Encode(d, false)
			}
			continue
		}
		var next atomic.Int64
		done := make(chan struct{})
		workers := numCPU()
		for range workers {
			go func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(docs) {
						done <- struct{}{}
						return
					}
					tk.Encode(docs[i], false)
				}
			}()
		}
		for range workers {
			<-done
		}
	}
}

func BenchmarkEncodeLlama3English(b *testing.B)         { benchEncode(b, "llama3", false, false) }
func BenchmarkEncodeLlama3Mixed(b *testing.B)           { benchEncode(b, "llama3", true, false) }
func BenchmarkEncodeLlama2English(b *testing.B)         { benchEncode(b, "llama2_hf", false, false) }
func BenchmarkEncodeLlama2Mixed(b *testing.B)           { benchEncode(b, "llama2_hf", true, false) }
func BenchmarkEncodeLlama3EnglishParallel(b *testing.B) { benchEncode(b, "llama3", false, true) }
func BenchmarkEncodeLlama2EnglishParallel(b *testing.B) { benchEncode(b, "llama2_hf", false, true) }

func numCPU() int { return runtime.GOMAXPROCS(0) }
