package train

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/smaug-dev/smaug/model"
)

func TestFindCheckpoint(t *testing.T) {
	run := t.TempDir()
	mk := func(name string, complete bool) {
		d := filepath.Join(run, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if complete {
			if err := os.WriteFile(filepath.Join(d, "trainer_state.json"), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("checkpoint-2", true)
	mk("checkpoint-10", true)       // numerically, not lexically, the latest
	mk(".checkpoint-12.tmp", false) // a save cut by a kill
	mk("checkpoint-14", false)      // not written by smaug: no trainer state
	mk("checkpoint-x", true)
	for _, tc := range []struct{ in, want string }{
		{run, filepath.Join(run, "checkpoint-10")},
		{filepath.Join(run, "checkpoint-2"), filepath.Join(run, "checkpoint-2")},
	} {
		got, err := FindCheckpoint(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("FindCheckpoint(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := FindCheckpoint(t.TempDir()); err == nil {
		t.Error("FindCheckpoint of a folder without checkpoints: no error")
	}
}

// TestDataOrder checks the example order: every epoch visits each example
// once, in a permutation fixed by the seed and the epoch; the last batch of
// an epoch may be smaller; with GroupByLength each mega-batch of 50 batches
// is sorted longest first; and the number of steps of an --epochs run is
// the HF Trainer's: ⌊⌈examples/batch⌉ / accumulation⌋ per epoch, at least 1.
func TestDataOrder(t *testing.T) {
	exs := make([]Example, 10)
	for i := range exs {
		exs[i] = Example{Prompt: []int{1}, Chosen: make([]int, 1+(i*7)%10), Rejected: []int{2}}
	}
	tr := &Trainer{Cfg: Config{Seed: 3, BatchSize: 3}, train: exs}
	var seen [][]int
	for range 8 { // 4 batches an epoch (3, 3, 3, 1), two epochs
		seen = append(seen, tr.nextBatch())
	}
	var sizes []int
	for _, b := range seen {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{3, 3, 3, 1, 3, 3, 3, 1}) {
		t.Errorf("batch sizes %v, want 3 3 3 1 twice", sizes)
	}
	epoch := func(bs [][]int) []int { return slices.Concat(bs...) }
	e1, e2 := epoch(seen[:4]), epoch(seen[4:])
	for _, e := range [][]int{e1, e2} {
		if s := slices.Sorted(slices.Values(e)); !slices.Equal(s, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("an epoch visited %v, want each of 0..9 once", e)
		}
	}
	if slices.Equal(e1, e2) {
		t.Errorf("both epochs in the same order %v", e1)
	}
	if tr.state.Epoch != 1 || tr.state.Pos != 10 {
		t.Errorf("state after two epochs: epoch %d position %d, want 1 and 10", tr.state.Epoch, tr.state.Pos)
	}
	again := &Trainer{Cfg: Config{Seed: 3, BatchSize: 3}, train: exs}
	if !slices.Equal(again.epochOrder(1), e2) {
		t.Errorf("epoch 1's order is not a function of seed and epoch")
	}

	tr.Cfg.GroupByLength = true
	grouped := tr.epochOrder(0)
	for i := 1; i < len(grouped); i++ {
		if exs[grouped[i-1]].Tokens() < exs[grouped[i]].Tokens() {
			t.Fatalf("grouped order %v is not longest first", grouped)
		}
	}

	policy, err := model.NewRandom(tinyConfig(32), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ n, batch, accum, epochs, want int }{
		{10, 3, 2, 2, 4}, // 4 batches, 2 steps an epoch
		{10, 3, 1, 1, 4},
		{10, 3, 8, 3, 3}, // fewer batches than accumulation: 1 step an epoch
		{9, 3, 3, 1, 1},
	} {
		tr := &Trainer{Cfg: Defaults(Preference), train: make([]Example, tc.n), Policy: policy}
		tr.Cfg.BatchSize, tr.Cfg.GradAccum, tr.Cfg.Epochs = tc.batch, tc.accum, tc.epochs
		if err := tr.setupOptimizer(); err != nil {
			t.Fatal(err)
		}
		if tr.TotalSteps() != tc.want {
			t.Errorf("%d examples, batch %d, accumulation %d, %d epochs: %d steps, want %d", tc.n, tc.batch, tc.accum, tc.epochs, tr.TotalSteps(), tc.want)
		}
	}
}
