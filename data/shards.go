package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// shardRows reads the data files of a folder one after another, as one
// stream of rows: the shards of a dataset split
// (train-00000-of-00002.parquet, train-00001-of-00002.parquet, ...).
type shardRows struct {
	files []string
	opts  ReadOptions
	cur   RowReader
}

// openShards opens a folder of shards: every file whose format
// DetectFormat knows, in name order (links are followed).
func openShards(dir string, opts ReadOptions) (RowReader, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open rows: %w", err)
	}
	var files []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			continue
		}
		if _, err := DetectFormat(p); err == nil || opts.Format != "" {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("open rows: %s is a directory, not a data file, and holds no data files (.jsonl, .json, .parquet, .csv) to read as the shards of one split", dir)
	}
	sort.Strings(files)
	return &shardRows{files: files, opts: opts}, nil
}

func (s *shardRows) Next() (Row, error) {
	for {
		if s.cur == nil {
			if len(s.files) == 0 {
				return Row{}, io.EOF
			}
			r, err := OpenRows(s.files[0], s.opts)
			if err != nil {
				return Row{}, err
			}
			s.cur, s.files = r, s.files[1:]
		}
		row, err := s.cur.Next()
		if !errors.Is(err, io.EOF) {
			return row, err
		}
		if err := s.cur.Close(); err != nil {
			return Row{}, err
		}
		s.cur = nil
	}
}

func (s *shardRows) Close() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}
