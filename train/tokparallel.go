package train

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/smaug-dev/smaug/data"
)

// loadChunk is the number of rows converted together by the workers of
// LoadExamplesParallel.
const loadChunk = 1024

// LoadExamplesParallel is [LoadExamples] with the rows' tokenisation
// spread over workers goroutines (0: one per CPU): rows are read in order,
// converted in chunks of 1024 rows in parallel, and merged in order, so
// the examples, the stats and the first error are the same as
// LoadExamples's. The encoder and the chat renderer must be safe for
// concurrent use (package tokenizer's and package chat's are).
func LoadExamplesParallel(path string, o LoadOptions, workers int) ([]Example, LoadStats, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers == 1 {
		return LoadExamples(path, o)
	}
	var st LoadStats
	rr, err := data.OpenRows(path, data.ReadOptions{})
	if err != nil {
		return nil, st, err
	}
	defer rr.Close()
	type slot struct {
		ex     Example
		err    error
		tp, tc bool
	}
	var out []Example
	// merge adds a converted chunk to the output in row order, as
	// LoadExamples's loop does.
	merge := func(readErrs []error, slots []slot) error {
		for i, s := range slots {
			if readErrs[i] == nil {
				st.Rows++
			}
			if s.err != nil {
				var re *data.RowError
				if !errors.As(s.err, &re) {
					return s.err
				}
				if !o.SkipBadRows {
					return fmt.Errorf("%w (set SkipBadRows to skip such rows)", s.err)
				}
				st.Skipped++
				if len(st.SkipReasons) < 5 {
					st.SkipReasons = append(st.SkipReasons, s.err.Error())
				}
				continue
			}
			if s.tp {
				st.TruncatedPrompt++
			}
			if s.tc {
				st.TruncatedCompletion++
			}
			out = append(out, s.ex)
		}
		return nil
	}
	// start converts a chunk on the workers; wait returns its slots. The
	// next chunk is read meanwhile.
	start := func(rows []data.Row, readErrs []error) (wait func() []slot) {
		slots := make([]slot, len(rows))
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(rows) {
						return
					}
					s := slot{err: readErrs[i]}
					if s.err == nil {
						s.ex, s.err = o.example(rows[i])
						if s.err == nil {
							s.tp, s.tc = o.truncate(&s.ex)
						}
					}
					slots[i] = s
				}
			}()
		}
		return func() []slot { wg.Wait(); return slots }
	}
	var pending func() []slot
	var pendingErrs []error
	finish := func() error {
		if pending == nil {
			return nil
		}
		err := merge(pendingErrs, pending())
		pending = nil
		return err
	}
	var fatal error
	for fatal == nil {
		rows := make([]data.Row, 0, loadChunk)
		readErrs := make([]error, 0, loadChunk)
		for len(rows) < loadChunk {
			row, err := rr.Next()
			if err == io.EOF {
				break
			}
			var re *data.RowError
			if err != nil && !errors.As(err, &re) {
				fatal = err // after the rows before it, as in LoadExamples
				break
			}
			rows = append(rows, row)
			readErrs = append(readErrs, err)
		}
		if err := finish(); err != nil {
			return nil, st, err
		}
		if len(rows) == 0 {
			break
		}
		pending, pendingErrs = start(rows, readErrs), readErrs
	}
	if err := finish(); err != nil {
		return nil, st, err
	}
	if fatal != nil {
		return nil, st, fatal
	}
	st.Examples = len(out)
	if len(out) == 0 {
		return nil, st, fmt.Errorf("%s: no usable rows (%d read, %d skipped)", path, st.Rows, st.Skipped)
	}
	return out, st, nil
}
