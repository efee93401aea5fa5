package data

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Pair is one preference example. Prompt, Chosen and Rejected are strings,
// or message lists ([]any of {"role", "content"} objects) in conversational
// datasets.
type Pair struct {
	Prompt, Chosen, Rejected any
	// Source names where the pair came from (builder and input file).
	Source string
	// ID identifies the pair within its source.
	ID string
	// Line is the line (or parquet row) of the input the pair was read or
	// built from.
	Line int
}

// PairFromRow reads a pair from a row with fields prompt, chosen and
// rejected (mapped through fields); source and id are optional.
func PairFromRow(row Row, fields FieldMap) (Pair, error) {
	p := Pair{Line: row.Line}
	for _, f := range []struct {
		name string
		dst  *any
	}{{"prompt", &p.Prompt}, {"chosen", &p.Chosen}, {"rejected", &p.Rejected}} {
		v, col, err := lookup(row, fields, f.name)
		if err != nil {
			return p, err
		}
		if _, err := textOf(v); err != nil {
			return p, fieldErr(row, col, "%v", err)
		}
		*f.dst = v
	}
	p.Source, _ = row.Fields[fields.Column("source")].(string)
	if p.Source == "" {
		p.Source = row.Source
	}
	p.ID, _ = row.Fields[fields.Column("id")].(string)
	return p, nil
}

// ReadPairs reads every pair of a JSONL or parquet file (format from the
// name). The first bad row ends the read with an error naming its file,
// line and field.
func ReadPairs(path string, fields FieldMap) ([]Pair, error) {
	rr, err := OpenRows(path, ReadOptions{})
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	var pairs []Pair
	for {
		row, err := rr.Next()
		if err == io.EOF {
			return pairs, nil
		}
		if err != nil {
			return nil, err
		}
		p, err := PairFromRow(row, fields)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, p)
	}
}

// Text flattens a pair field to text: a string is itself; a message list
// is its messages' contents joined by "\n".
func Text(v any) string {
	s, _ := textOf(v)
	return s
}

func textOf(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			msg, ok := e.(map[string]any)
			if !ok {
				return "", fmt.Errorf("message %d: want {role, content}, got %s", i, typeName(e))
			}
			c, ok := msg["content"].(string)
			if !ok {
				return "", fmt.Errorf("message %d: content: want a string, got %s", i, typeName(msg["content"]))
			}
			parts[i] = c
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("want a string or a message list, got %s", typeName(v))
}

// PairFile writes pairs to a JSONL or parquet file with the columns
// prompt, chosen, rejected, source and id. It writes to a temporary file
// beside the destination and renames it on Close, so a failed run leaves
// nothing half-written; "-" writes JSONL to standard output.
type PairFile struct {
	path, tmp string
	format    Format
	f         *os.File
	bw        *bufio.Writer
	enc       *json.Encoder
	pw        *parquet.GenericWriter[pairRecord]
	batch     []pairRecord
	n         int
}

// parquetBatch is the number of pairs buffered per parquet write, and
// parquetRowGroup the number of rows per parquet row group.
const (
	parquetBatch    = 1024
	parquetRowGroup = 4096
)

type pairRecord struct {
	Prompt   string `parquet:"prompt"`
	Chosen   string `parquet:"chosen"`
	Rejected string `parquet:"rejected"`
	Source   string `parquet:"source"`
	ID       string `parquet:"id"`
}

// jsonRecord fixes the column order of JSONL output.
type jsonRecord struct {
	Prompt   any    `json:"prompt"`
	Chosen   any    `json:"chosen"`
	Rejected any    `json:"rejected"`
	Source   string `json:"source"`
	ID       string `json:"id"`
}

// CreatePairFile starts a pairs file at path in the given format (""
// guesses from the name: .parquet, else JSONL). stdout is used for "-"
// (nil means os.Stdout).
func CreatePairFile(path string, format Format, stdout io.Writer) (*PairFile, error) {
	if format == "" {
		format = FormatJSONL
		if strings.HasSuffix(strings.ToLower(path), ".parquet") {
			format = FormatParquet
		}
	}
	if format != FormatJSONL && format != FormatParquet {
		return nil, fmt.Errorf("create %s: pairs are written as jsonl or parquet, not %s", path, format)
	}
	w := &PairFile{path: path, format: format}
	var out io.Writer
	if path == "-" {
		if format == FormatParquet {
			return nil, errors.New("create -: parquet cannot be written to standard output")
		}
		if stdout == nil {
			stdout = os.Stdout
		}
		out = stdout
	} else {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		w.f, w.tmp, out = f, f.Name(), f
	}
	w.bw = bufio.NewWriterSize(out, 1<<16)
	if format == FormatJSONL {
		w.enc = json.NewEncoder(w.bw)
		w.enc.SetEscapeHTML(false)
	} else {
		// Bounded row groups keep memory flat however many pairs are written.
		w.pw = parquet.NewGenericWriter[pairRecord](w.bw, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(parquetRowGroup))
		w.batch = make([]pairRecord, 0, parquetBatch)
	}
	return w, nil
}

// Path returns the destination path.
func (w *PairFile) Path() string { return w.path }

// Count returns the number of pairs written so far.
func (w *PairFile) Count() int { return w.n }

// Write appends one pair.
func (w *PairFile) Write(p Pair) error {
	w.n++
	if w.enc != nil {
		if err := w.enc.Encode(jsonRecord{p.Prompt, p.Chosen, p.Rejected, p.Source, p.ID}); err != nil {
			return fmt.Errorf("write %s: %w", w.path, err)
		}
		return nil
	}
	rec := pairRecord{Source: p.Source, ID: p.ID}
	for _, f := range []struct {
		name string
		v    any
		dst  *string
	}{{"prompt", p.Prompt, &rec.Prompt}, {"chosen", p.Chosen, &rec.Chosen}, {"rejected", p.Rejected, &rec.Rejected}} {
		s, ok := f.v.(string)
		if !ok {
			return fmt.Errorf("write %s: pair %s: %s is %s; parquet output holds strings only (write JSONL instead)", w.path, p.ID, f.name, typeName(f.v))
		}
		*f.dst = s
	}
	w.batch = append(w.batch, rec)
	if len(w.batch) == parquetBatch {
		return w.flushBatch()
	}
	return nil
}

func (w *PairFile) flushBatch() error {
	if _, err := w.pw.Write(w.batch); err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	w.batch = w.batch[:0]
	return nil
}

// Close finishes the file and moves it into place.
func (w *PairFile) Close() error {
	err := w.finish()
	if w.f == nil {
		return err
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", w.path, cerr)
	}
	if err == nil {
		if rerr := os.Rename(w.tmp, w.path); rerr != nil {
			err = fmt.Errorf("write %s: %w", w.path, rerr)
		}
	}
	if err != nil {
		os.Remove(w.tmp)
	}
	return err
}

func (w *PairFile) finish() error {
	if w.pw != nil {
		if len(w.batch) > 0 {
			if err := w.flushBatch(); err != nil {
				return err
			}
		}
		if err := w.pw.Close(); err != nil {
			return fmt.Errorf("write %s: %w", w.path, err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	return nil
}

// Abort discards the file; nothing is left at the destination.
func (w *PairFile) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.tmp)
	}
}

// Deduper detects exact duplicate pairs (same prompt, chosen and rejected)
// with a 128-bit hash per pair seen, so its memory is 16 bytes per unique
// pair plus map overhead.
type Deduper struct {
	seen map[[2]uint64]struct{}
}

// NewDeduper returns an empty Deduper.
func NewDeduper() *Deduper { return &Deduper{seen: map[[2]uint64]struct{}{}} }

// Seen reports whether an identical pair was passed before, and remembers p.
func (d *Deduper) Seen(p Pair) bool {
	h := fnv.New128a()
	for _, v := range []any{p.Prompt, p.Chosen, p.Rejected} {
		s := Text(v)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
		if _, isText := v.(string); !isText {
			// A message list and the string of its contents differ.
			b, _ := json.Marshal(v)
			h.Write(b)
		}
	}
	var sum [16]byte
	h.Sum(sum[:0])
	k := [2]uint64{binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:])}
	if _, ok := d.seen[k]; ok {
		return true
	}
	d.seen[k] = struct{}{}
	return false
}

// InEvalSplit reports whether the example with the given key (the prompt,
// so that all pairs of one question land on the same side) belongs to the
// evaluation split: a seeded hash of the key, mapped to [0, 1), is below
// fraction. The split is deterministic for a seed and needs no memory.
func InEvalSplit(key string, fraction float64, seed int64) bool {
	if fraction <= 0 {
		return false
	}
	h := fnv.New64a()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], uint64(seed))
	h.Write(s[:])
	io.WriteString(h, key)
	x := splitmix(h.Sum64())
	return float64(x>>11)/float64(1<<53) < fraction
}

// splitmix scrambles a hash so that its top bits are uniform.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
