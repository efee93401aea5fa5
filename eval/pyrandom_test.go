package eval

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// pyVectors are the outputs of testdata/pyrandom_vectors.py under CPython 3.11.
type pyVectors struct {
	Seeds []struct {
		Seed      int64            `json:"seed"`
		Bits      []uint64         `json:"getrandbits32"`
		Random    []string         `json:"random"`
		RandBelow map[string][]int `json:"randbelow"`
		Shuffle   map[string][]int `json:"shuffle"`
		Sample    []struct {
			N, K int
			Idx  []int
		} `json:"sample"`
	} `json:"seeds"`
	Harness struct {
		Docs  []int   `json:"docs"`
		Shots [][]int `json:"shots"`
	} `json:"harness"`
	Contamination []int `json:"contamination_seed0_817"`
}

func loadPyVectors(t *testing.T) pyVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/pyrandom_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v pyVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPyRandomMatchesCPython replays, in the same order, every call the
// python3 script made on each seed and compares every output exactly.
func TestPyRandomMatchesCPython(t *testing.T) {
	v := loadPyVectors(t)
	if len(v.Seeds) == 0 {
		t.Fatal("no vectors")
	}
	for _, s := range v.Seeds {
		t.Run(strconv.FormatInt(s.Seed, 10), func(t *testing.T) {
			r := NewPyRandom(s.Seed)
			for i, want := range s.Bits {
				if got := r.GetRandBits(32); got != want {
					t.Fatalf("getrandbits(32) #%d = %d, CPython %d", i, got, want)
				}
			}
			for i, want := range s.Random {
				if got := strconv.FormatFloat(r.Random(), 'g', -1, 64); got != want {
					w, _ := strconv.ParseFloat(want, 64)
					if got2, _ := strconv.ParseFloat(got, 64); got2 != w {
						t.Fatalf("random() #%d = %s, CPython %s", i, got, want)
					}
				}
			}
			for _, n := range []int{1, 2, 3, 10, 1000, 1<<31 + 11} {
				for i, want := range s.RandBelow[strconv.Itoa(n)] {
					if got := r.RandBelow(n); got != want {
						t.Fatalf("_randbelow(%d) #%d = %d, CPython %d", n, i, got, want)
					}
				}
			}
			for _, n := range []int{1, 2, 10, 100, 1172} {
				x := perm(n)
				r.Shuffle(n, func(i, j int) { x[i], x[j] = x[j], x[i] })
				if want := s.Shuffle[strconv.Itoa(n)]; !reflect.DeepEqual(x, want) {
					t.Fatalf("shuffle(%d) differs from CPython", n)
				}
			}
			for _, c := range s.Sample {
				if got := r.Sample(c.N, c.K); !reflect.DeepEqual(got, c.Idx) {
					t.Fatalf("sample(range(%d), %d) = %v, CPython %v", c.N, c.K, got, c.Idx)
				}
			}
		})
	}
}

// TestPyRandomHarnessPattern checks the harness's use: Random(42) shuffles
// the documents, then the same generator draws one sample per document; and
// the contamination tool's random.seed(0) shuffle.
func TestPyRandomHarnessPattern(t *testing.T) {
	v := loadPyVectors(t)
	r := NewPyRandom(42)
	docs := perm(1319)
	r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	if !reflect.DeepEqual(docs, v.Harness.Docs) {
		t.Fatal("Random(42).shuffle of 1319 docs differs from CPython")
	}
	for i, want := range v.Harness.Shots {
		if got := r.Sample(7473, 5); !reflect.DeepEqual(got, want) {
			t.Fatalf("doc %d: sample = %v, CPython %v", i, got, want)
		}
	}
	c := perm(817)
	NewPyRandom(0).Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	if !reflect.DeepEqual(c[:100], v.Contamination) {
		t.Fatal("seed(0) shuffle of 817 differs from CPython")
	}
}
