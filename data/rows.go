package data

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// Row is one record of an input file: its fields by column name, and where
// it came from.
type Row struct {
	// Fields holds the record's values as encoding/json decodes them
	// (string, float64, bool, nil, []any, map[string]any); parquet integers
	// arrive as int32/int64 and CSV values as strings.
	Fields map[string]any
	// Source is the file the row was read from ("-" for standard input).
	Source string
	// Line is the 1-based line of the row in a text file (the first line of
	// the item for HellaSwag text), or its 1-based row number in a parquet
	// file or a JSON array.
	Line int
}

// RowError is a problem with one row. Reading may continue after it: a
// RowReader that returns a *RowError is positioned on the next row.
type RowError struct {
	Source string
	Line   int
	// Field is the field at fault, or "" when the whole row is.
	Field string
	Err   error
}

// Error formats the problem as "file:line: field: problem".
func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: field %q: %v", e.Source, e.Line, e.Field, e.Err)
}

// Unwrap returns the underlying error.
func (e *RowError) Unwrap() error { return e.Err }

// RowReader streams the rows of one file.
type RowReader interface {
	// Next returns the next row, io.EOF after the last one, a *RowError for
	// a row that cannot be read (the reader then moves past it), or another
	// error when reading cannot go on.
	Next() (Row, error)
	// Close releases the file.
	Close() error
}

// Format names an input or output file format.
type Format string

// The formats OpenRows reads.
const (
	// FormatJSONL is one JSON object per line (.jsonl, .json), or a JSON
	// array of objects when the file starts with "[".
	FormatJSONL Format = "jsonl"
	// FormatParquet is an Apache Parquet file (.parquet).
	FormatParquet Format = "parquet"
	// FormatCSV is comma-separated values with a header row (.csv).
	FormatCSV Format = "csv"
	// FormatHellaSwagText is llama.cpp's HellaSwag text (.txt): six lines
	// per item, "activity_label: ctx", the gold label, then four endings.
	FormatHellaSwagText Format = "hellaswag-txt"
)

// ReadOptions tunes OpenRows.
type ReadOptions struct {
	// Format overrides the format guessed from the file name.
	Format Format
	// Stdin is read when the path is "-"; nil means os.Stdin.
	Stdin io.Reader
}

// DetectFormat guesses a file's format from its name, ignoring a .gz or
// .bz2 suffix: .jsonl/.json, .parquet, .csv, and .txt (llama.cpp HellaSwag
// text). Standard input ("-") is JSONL.
func DetectFormat(path string) (Format, error) {
	if path == "-" {
		return FormatJSONL, nil
	}
	name := strings.ToLower(filepath.Base(path))
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".bz2")
	switch filepath.Ext(name) {
	case ".jsonl", ".json", ".ndjson":
		return FormatJSONL, nil
	case ".parquet":
		return FormatParquet, nil
	case ".csv":
		return FormatCSV, nil
	case ".txt":
		return FormatHellaSwagText, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name (want .jsonl, .json, .parquet, .csv or .txt, optionally .gz/.bz2)", path)
}

// OpenRows opens path ("-" for standard input) and returns a reader of its
// rows. The format comes from opts.Format or the file name; .gz and .bz2
// files are decompressed on the fly. A folder is read as the shards of one
// split: its data files one after another, in name order.
func OpenRows(path string, opts ReadOptions) (RowReader, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return openShards(path, opts)
	}
	format := opts.Format
	if format == "" {
		f, err := DetectFormat(path)
		if err != nil {
			return nil, err
		}
		format = f
	}
	var (
		r      io.Reader
		closer io.Closer = io.NopCloser(nil)
	)
	if path == "-" {
		r = opts.Stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open rows: %w", err)
		}
		if st, err := f.Stat(); err == nil && st.IsDir() {
			f.Close()
			return nil, fmt.Errorf("open rows: %s is a directory, not a data file", path)
		}
		if format == FormatParquet && !isCompressed(path) {
			return newParquetRows(path, f)
		}
		r, closer = f, f
	}
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".gz"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			closer.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		r = zr
	case strings.HasSuffix(lower, ".bz2"):
		r = bzip2.NewReader(r)
	}
	switch format {
	case FormatJSONL:
		br := bufio.NewReaderSize(r, 1<<16)
		skipBOM(br)
		if firstNonSpace(br) == '[' {
			return newJSONArrayRows(path, br, closer)
		}
		return &jsonlRows{src: path, br: br, closer: closer}, nil
	case FormatCSV:
		return newCSVRows(path, r, closer)
	case FormatHellaSwagText:
		br := bufio.NewReaderSize(r, 1<<16)
		skipBOM(br)
		return &hellaSwagTextRows{src: path, br: br, closer: closer}, nil
	case FormatParquet:
		// Compressed or piped parquet: parquet needs random access, so
		// the whole file is read into memory.
		b, err := io.ReadAll(r)
		closer.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return newParquetRows(path, bytesFile{bytes.NewReader(b)})
	}
	closer.Close()
	return nil, fmt.Errorf("open %s: unknown format %q", path, format)
}

func isCompressed(path string) bool {
	l := strings.ToLower(path)
	return strings.HasSuffix(l, ".gz") || strings.HasSuffix(l, ".bz2")
}

// ReadAllRows reads every row of path. With skipBad, rows that cannot be
// read are left out and returned as errors in skipped; otherwise the first
// one ends the read.
func ReadAllRows(path string, opts ReadOptions, skipBad bool) (rows []Row, skipped []*RowError, err error) {
	rr, err := OpenRows(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer rr.Close()
	for {
		row, err := rr.Next()
		if err == io.EOF {
			return rows, skipped, nil
		}
		var re *RowError
		if errors.As(err, &re) && skipBad {
			skipped = append(skipped, re)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, row)
	}
}

// maxLineBytes bounds one line of a text file, so that a file without
// newlines cannot make a reader hold gigabytes. A real row is far smaller.
// Tests lower it.
var maxLineBytes = 256 << 20

// readLine returns the next line without its line ending, and io.EOF when
// there are no more lines.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLineBytes {
			return nil, fmt.Errorf("a line longer than %d bytes: not a line-oriented text file?", maxLineBytes)
		}
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			err = nil
		}
		if err != nil {
			return nil, err
		}
		break
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

type jsonlRows struct {
	src    string
	br     *bufio.Reader
	closer io.Closer
	line   int
}

func (j *jsonlRows) Next() (Row, error) {
	for {
		b, err := readLine(j.br)
		if err != nil {
			if err == io.EOF {
				return Row{}, io.EOF
			}
			return Row{}, fmt.Errorf("read %s after line %d: %w", j.src, j.line, err)
		}
		j.line++
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if err := checkUTF8(b); err != nil {
			return Row{}, &RowError{Source: j.src, Line: j.line, Err: err}
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return Row{}, &RowError{Source: j.src, Line: j.line, Err: fmt.Errorf("not a JSON object: %w", err)}
		}
		if m == nil {
			return Row{}, &RowError{Source: j.src, Line: j.line, Err: errors.New("not a JSON object: null")}
		}
		return Row{Fields: m, Source: j.src, Line: j.line}, nil
	}
}

func (j *jsonlRows) Close() error { return j.closer.Close() }

// skipBOM drops a UTF-8 byte order mark at the start of a text file (as
// Windows editors write), which JSON decoders would reject.
func skipBOM(br *bufio.Reader) {
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
}

// checkUTF8 reports a line or value that is not valid UTF-8; JSON decoders
// would silently replace the bad bytes with U+FFFD.
func checkUTF8(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	off := 0
	for off < len(b) {
		r, n := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		off += n
	}
	return fmt.Errorf("invalid UTF-8 (byte 0x%02x at byte %d of the line): the file must be UTF-8 text", b[off], off+1)
}

// firstNonSpace peeks at the first byte after leading whitespace (0 when
// there is none) without consuming anything but that whitespace.
func firstNonSpace(br *bufio.Reader) byte {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			br.ReadByte()
		default:
			return b[0]
		}
	}
}

// jsonArrayRows streams the objects of a JSON array file (such as
// MetaMathQA-395K.json); a row's Line is its 1-based index in the array.
type jsonArrayRows struct {
	src    string
	dec    *json.Decoder
	closer io.Closer
	n      int
}

func newJSONArrayRows(src string, r io.Reader, closer io.Closer) (*jsonArrayRows, error) {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		closer.Close()
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	return &jsonArrayRows{src: src, dec: dec, closer: closer}, nil
}

func (j *jsonArrayRows) Next() (Row, error) {
	if !j.dec.More() {
		return Row{}, io.EOF
	}
	j.n++
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		// The array's syntax is broken; reading cannot go on.
		return Row{}, fmt.Errorf("%s: element %d: %w", j.src, j.n, err)
	}
	if err := checkUTF8(raw); err != nil {
		return Row{}, &RowError{Source: j.src, Line: j.n, Err: fmt.Errorf("element %d: %w", j.n, err)}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return Row{}, &RowError{Source: j.src, Line: j.n, Err: fmt.Errorf("element %d is not a JSON object", j.n)}
	}
	return Row{Fields: m, Source: j.src, Line: j.n}, nil
}

func (j *jsonArrayRows) Close() error { return j.closer.Close() }

type csvRows struct {
	src    string
	cr     *csv.Reader
	closer io.Closer
	header []string
}

func newCSVRows(src string, r io.Reader, closer io.Closer) (*csvRows, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		closer.Close()
		if err == io.EOF {
			return nil, fmt.Errorf("%s:1: empty CSV file, want a header row", src)
		}
		return nil, fmt.Errorf("%s: read CSV header: %w", src, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	return &csvRows{src: src, cr: cr, closer: closer, header: header}, nil
}

func (c *csvRows) Next() (Row, error) {
	rec, err := c.cr.Read()
	if err == io.EOF {
		return Row{}, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Row{}, &RowError{Source: c.src, Line: pe.StartLine, Err: pe.Err}
		}
		return Row{}, fmt.Errorf("read %s: %w", c.src, err)
	}
	line, _ := c.cr.FieldPos(0)
	if len(rec) != len(c.header) {
		return Row{}, &RowError{Source: c.src, Line: line, Err: fmt.Errorf("%d fields, header has %d", len(rec), len(c.header))}
	}
	m := make(map[string]any, len(rec))
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return Row{}, &RowError{Source: c.src, Line: line, Field: c.header[i], Err: errors.New("invalid UTF-8: the file must be UTF-8 text")}
		}
		m[c.header[i]] = v
	}
	return Row{Fields: m, Source: c.src, Line: line}, nil
}

func (c *csvRows) Close() error { return c.closer.Close() }

// hellaSwagTextRows reads llama.cpp's HellaSwag text: per item the line
// "activity_label: ctx", the gold ending's index, and four endings. Rows
// carry activity_label, ctx, label and endings.
type hellaSwagTextRows struct {
	src    string
	br     *bufio.Reader
	closer io.Closer
	line   int
}

func (h *hellaSwagTextRows) Next() (Row, error) {
	var lines [6]string
	var badErr *RowError
	start := h.line + 1
	for i := range lines {
		b, err := readLine(h.br)
		if err == io.EOF {
			if i == 0 {
				return Row{}, io.EOF
			}
			return Row{}, fmt.Errorf("%s:%d: truncated HellaSwag item: %d of 6 lines", h.src, start, i)
		}
		if err != nil {
			return Row{}, fmt.Errorf("read %s after line %d: %w", h.src, h.line, err)
		}
		h.line++
		if err := checkUTF8(b); err != nil && badErr == nil {
			badErr = &RowError{Source: h.src, Line: h.line, Err: err}
		}
		lines[i] = string(b)
	}
	if badErr != nil {
		return Row{}, badErr // the whole item has been read: the next one is in step
	}
	label, ctx, ok := strings.Cut(lines[0], ": ")
	if !ok {
		return Row{}, &RowError{Source: h.src, Line: start, Field: "activity_label", Err: errors.New(`want "activity_label: context"`)}
	}
	return Row{Source: h.src, Line: start, Fields: map[string]any{
		"activity_label": label,
		"ctx":            ctx,
		"label":          lines[1],
		"endings":        []any{lines[2], lines[3], lines[4], lines[5]},
	}}, nil
}

func (h *hellaSwagTextRows) Close() error { return h.closer.Close() }

type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

type bytesFile struct{ *bytes.Reader }

func (bytesFile) Close() error { return nil }

type parquetRows struct {
	src  string
	f    readerAtCloser
	r    *parquet.GenericReader[map[string]any]
	row  int
	rows int64
}

func newParquetRows(src string, f readerAtCloser) (rr *parquetRows, err error) {
	defer func() {
		// parquet-go panics on some malformed files; report them as errors.
		if p := recover(); p != nil {
			f.Close()
			rr, err = nil, fmt.Errorf("open %s: not a readable parquet file: %v", src, p)
		}
	}()
	pf, err := parquet.OpenFile(f, sizeOf(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	return &parquetRows{src: src, f: f, r: parquet.NewGenericReader[map[string]any](pf, pf.Schema()), rows: pf.NumRows()}, nil
}

func sizeOf(f io.ReaderAt) int64 {
	switch v := f.(type) {
	case *os.File:
		if st, err := v.Stat(); err == nil {
			return st.Size()
		}
	case bytesFile:
		return v.Size()
	}
	return 0
}

func (p *parquetRows) Next() (row Row, err error) {
	if int64(p.row) >= p.rows {
		return Row{}, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: row %d: cannot decode parquet row: %v", p.src, p.row, r)
		}
	}()
	buf := []map[string]any{{}}
	n, err := p.r.Read(buf)
	if n == 0 {
		if err == nil || err == io.EOF {
			return Row{}, io.EOF
		}
		return Row{}, fmt.Errorf("%s: row %d: %w", p.src, p.row+1, err)
	}
	m := buf[0]
	p.row++
	for k, v := range m {
		if s, ok := v.(string); ok && !utf8.ValidString(s) {
			return Row{}, &RowError{Source: p.src, Line: p.row, Field: k, Err: errors.New("invalid UTF-8 in a string column")}
		}
	}
	return Row{Fields: m, Source: p.src, Line: p.row}, nil
}

func (p *parquetRows) Close() error {
	p.r.Close()
	return p.f.Close()
}
