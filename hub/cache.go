package hub

// The cache files huggingface_hub writes besides blobs and snapshots:
// refs, trees/COMMIT.json and CACHEDIR.TAG.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// writeRef records the commit a branch or tag points to (refs/REVISION).
func writeRef(dir, rev, commit string) error {
	p := filepath.Join(dir, "refs", filepath.FromSlash(rev))
	if b, err := os.ReadFile(p); err == nil && string(b) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(commit))
}

// cacheTag is huggingface_hub's CACHEDIR.TAG, written as it writes it so
// that the cache folder is the same whichever tool filled it.
const cacheTag = "Signature: 8a477f597d28d172789f06886806bc55\n" +
	"# This file is a cache directory tag created by huggingface_hub.\n" +
	"# For information about cache directory tags, see:\n" +
	"#\thttps://bford.info/cachedir/\n"

func writeCacheTag(cache string) {
	p := filepath.Join(cache, "CACHEDIR.TAG")
	if _, err := os.Stat(p); err != nil {
		os.WriteFile(p, []byte(cacheTag), 0o644)
	}
}

// treeFile is huggingface_hub's trees/COMMIT.json (format_version 1).
func treePath(dir, commit string) string { return filepath.Join(dir, "trees", commit+".json") }

func readTreeCache(dir, commit string) ([]TreeEntry, error) {
	b, err := os.ReadFile(treePath(dir, commit))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		FormatVersion int `json:"format_version"`
		Files         map[string]struct {
			Size      int64  `json:"size"`
			BlobID    string `json:"blob_id"`
			LFSSHA256 string `json:"lfs_sha256"`
			LFSSize   int64  `json:"lfs_size"`
		} `json:"files"`
	}
	if json.Unmarshal(b, &doc) != nil || doc.FormatVersion != 1 {
		return nil, nil // unknown or corrupt: list again
	}
	var out []TreeEntry
	for p, e := range doc.Files {
		if safeRepoPath(p) != nil {
			return nil, nil
		}
		out = append(out, TreeEntry{Path: p, Size: e.Size, BlobID: e.BlobID, LFSSHA256: e.LFSSHA256, LFSSize: e.LFSSize})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// writeTreeCache writes the listing as Python's json.dump(indent=1) of
// huggingface_hub's write_tree_cache: paths sorted, size and blob_id, then
// lfs_sha256 and lfs_size for LFS files.
func writeTreeCache(dir, commit string, entries []TreeEntry) error {
	sorted := append([]TreeEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b strings.Builder
	b.WriteString("{\n \"format_version\": 1,\n \"files\": {")
	for i, e := range sorted {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n  %s: {\n   \"size\": %d,\n   \"blob_id\": %s", pyString(e.Path), e.Size, pyString(e.BlobID))
		if e.LFSSHA256 != "" {
			fmt.Fprintf(&b, ",\n   \"lfs_sha256\": %s,\n   \"lfs_size\": %d", pyString(e.LFSSHA256), e.LFSSize)
		}
		b.WriteString("\n  }")
	}
	if len(sorted) > 0 {
		b.WriteString("\n }\n}")
	} else {
		b.WriteString("}\n}")
	}
	p := treePath(dir, commit)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(b.String()))
}

// pyString encodes a string as Python's json.dumps does (ensure_ascii).
func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
