package train

import (
	"bufio"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// tokCacheVersion changes when the cached layout, or what LoadExamples
// makes of a row, changes: older cache files are then not read.
const tokCacheVersion = "smaug-tokcache-1"

// TokenCache keeps tokenised training data, keyed by the data's contents,
// the tokenizer and chat template, and the loading settings, so that a
// restart or a second run on the same data does not tokenise it again.
type TokenCache struct {
	// Dir holds the cache files (tokenized-<key>.gob).
	Dir string
	// Tokenizer identifies the tokenizer and the chat template: a hash of
	// their files (see HashFiles), or "" for token-id data.
	Tokenizer string
	// Workers is the number of goroutines that tokenise on a miss (0: one
	// per CPU; see LoadExamplesParallel).
	Workers int
	// Hits and Misses count the loads served from the cache and those
	// that tokenised.
	Hits, Misses int
	// Text reports that the last load's rows were text (the encoder was
	// used), not token ids.
	Text bool
}

// cached is what a cache file holds.
type cached struct {
	Examples []Example
	Stats    LoadStats
	Text     bool
}

// countingEncoder counts the texts a data loader encodes.
type countingEncoder struct {
	TextEncoder
	n *atomic.Int64
}

func (c countingEncoder) Encode(text string, addSpecial bool) []int {
	c.n.Add(1)
	return c.TextEncoder.Encode(text, addSpecial)
}

// Load returns the examples of path as LoadExamples makes them with o,
// from the cache when the key matches, tokenising (in parallel) and
// storing them otherwise. hit reports a cache hit.
func (c *TokenCache) Load(path string, o LoadOptions) (exs []Example, st LoadStats, hit bool, err error) {
	key, err := c.key(path, o)
	if err != nil {
		return nil, st, false, err
	}
	file := filepath.Join(c.Dir, "tokenized-"+key+".gob")
	if f, err := os.Open(file); err == nil {
		var v cached
		err := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&v)
		f.Close()
		if err == nil {
			c.Hits++
			c.Text = v.Text
			return v.Examples, v.Stats, true, nil
		}
		// A damaged cache file is replaced below.
	}
	var encoded atomic.Int64
	if o.Encoder != nil {
		o.Encoder = countingEncoder{o.Encoder, &encoded}
	}
	exs, st, err = LoadExamplesParallel(path, o, c.Workers)
	if err != nil {
		return nil, st, false, err
	}
	c.Misses++
	c.Text = encoded.Load() > 0
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, st, false, fmt.Errorf("token cache: %w", err)
	}
	err = atomicfile.Write(file, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := gob.NewEncoder(bw).Encode(cached{exs, st, c.Text}); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return nil, st, false, fmt.Errorf("token cache %s: %w", file, err)
	}
	return exs, st, false, nil
}

// key hashes the data's contents, the tokenizer identity and the settings
// that change what LoadExamples makes.
func (c *TokenCache) key(path string, o LoadOptions) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ntokenizer %s\nmode %s max-length %d max-prompt-length %d skip-bad-rows %v bos %q encoder %v chat %v\n",
		tokCacheVersion, c.Tokenizer, o.Mode, o.MaxLength, o.MaxPromptLength, o.SkipBadRows, o.BOSText, o.Encoder != nil, o.Chat != nil)
	format := "raw"
	if o.Format != nil {
		format = o.Format.Name
	}
	fmt.Fprintf(h, "prompt-template %q chat-strings %v optional-rejected %v\n", format, o.ChatStrings, o.OptionalRejected)
	if err := HashFiles(h, path); err != nil {
		return "", fmt.Errorf("token cache key: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// HashFiles adds to h the names and contents of path, a file or every
// regular file under a folder (in lexical order); paths that do not exist
// are skipped.
func HashFiles(h hash.Hash, paths ...string) error {
	for _, p := range paths {
		err := filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(p, file)
			fmt.Fprintf(h, "file %s\n", rel)
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(h, f)
			return err
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
