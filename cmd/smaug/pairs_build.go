package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/smaug-dev/smaug/data"
)

// buildBatchSize is the number of input rows handed to a worker at once.
const buildBatchSize = 256

// buildItem is one input row (or the error reading it) and what the
// builder made of it.
type buildItem struct {
	row    data.Row
	err    error
	pairs  []data.Pair
	dists  []float64 // CharDistance of each pair
	reason string
}

type buildBatch struct {
	seq   int
	items []buildItem
}

// buildParallel reads the rows of inputs (at most limit, 0 for all) in one
// goroutine, builds pairs and their character edit distances in one
// worker per CPU, and calls handle on every item in input order from the
// calling goroutine. It stops at the first error handle returns; an error
// opening or reading a file is handed to handle as an item.
func buildParallel(inputs []string, opts data.ReadOptions, limit int, build rowBuilder, handle func(*buildItem) error) error {
	done := make(chan struct{})
	defer close(done)
	jobs := make(chan buildBatch, 4)
	results := make(chan buildBatch, 4)

	go func() {
		defer close(jobs)
		seq, n := 0, 0
		batch := make([]buildItem, 0, buildBatchSize)
		send := func() bool {
			if len(batch) == 0 {
				return true
			}
			select {
			case jobs <- buildBatch{seq, batch}:
			case <-done:
				return false
			}
			seq++
			batch = make([]buildItem, 0, buildBatchSize)
			return true
		}
		for _, in := range inputs {
			rr, err := data.OpenRows(in, opts)
			if err != nil {
				batch = append(batch, buildItem{err: err})
				send()
				return
			}
			for limit <= 0 || n < limit {
				row, err := rr.Next()
				if err == io.EOF {
					break
				}
				n++
				batch = append(batch, buildItem{row: row, err: err})
				var re *data.RowError
				if err != nil && !errors.As(err, &re) {
					break // reading cannot go on; handle reports it
				}
				if len(batch) == buildBatchSize && !send() {
					rr.Close()
					return
				}
			}
			rr.Close()
		}
		send()
	}()

	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				for i := range b.items {
					it := &b.items[i]
					if it.err != nil {
						continue
					}
					it.pairs, it.reason, it.err = build(it.row)
					for _, p := range it.pairs {
						it.dists = append(it.dists, data.CharDistance(p))
					}
				}
				select {
				case results <- b:
				case <-done:
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	pending := map[int]buildBatch{}
	next := 0
	for b := range results {
		pending[b.seq] = b
		for {
			cur, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			for i := range cur.items {
				if err := handle(&cur.items[i]); err != nil {
					return err
				}
			}
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("internal error: %d batches out of order", len(pending))
	}
	return nil
}
