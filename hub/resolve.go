package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Resolve returns a local folder or file for a model or data argument: an
// existing path as it is; otherwise a hub repo id, served from the cache
// when the revision's selected files (ModelFiles for a model when
// opts.Include is empty) are all there (offline first, no request), else
// downloaded (Pull). Update a cached branch with an explicit Pull.
func (c *Client) Resolve(ctx context.Context, idOrPath string, opts PullOptions) (string, error) {
	if idOrPath == "" {
		return "", errors.New("resolve: empty model or data argument")
	}
	if _, err := os.Stat(idOrPath); err == nil {
		return idOrPath, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("resolve %s: %w", idOrPath, err)
	}
	if !looksLikeRepoID(idOrPath) {
		return "", fmt.Errorf("resolve %s: no such file or folder, and not a hub repository id (ORG/NAME)", idOrPath)
	}
	if (opts.Type == "" || opts.Type == Model) && len(opts.Include) == 0 {
		opts.Include = ModelFiles
	}
	if s, err := c.Cached(opts.Type, idOrPath, opts.Revision, opts.Include); err == nil {
		return s.Dir, nil
	} else if c.Offline {
		return "", fmt.Errorf("resolve %s: %w", idOrPath, err)
	}
	s, err := c.Pull(ctx, idOrPath, opts)
	if err != nil {
		return "", err
	}
	return s.Dir, nil
}

// fileExts end names that are files, not repositories.
var fileExts = []string{".jsonl", ".json", ".parquet", ".csv", ".txt", ".gz", ".bz2", ".bin", ".gguf", ".safetensors", ".model", ".yaml", ".yml"}

// looksLikeRepoID tells a repo id (ORG/NAME) from a missing local path: a
// single "/", valid name characters, and no file extension.
func looksLikeRepoID(s string) bool {
	if !ValidRepoID(s) || strings.Count(s, "/") != 1 || strings.HasPrefix(s, ".") {
		return false
	}
	l := strings.ToLower(s)
	for _, e := range fileExts {
		if strings.HasSuffix(l, e) {
			return false
		}
	}
	return true
}

// Resolve is Client.Resolve with the client FromEnv.
func Resolve(ctx context.Context, idOrPath string, opts PullOptions) (string, error) {
	return FromEnv().Resolve(ctx, idOrPath, opts)
}

// ModelFiles are the files a model needs (config, safetensors weights,
// tokenizer and chat template): Resolve's selection for a model when none
// is given, so that a repository's other formats (.bin, .pth, .gguf, ONNX)
// are not downloaded.
var ModelFiles = []string{"*.json", "*.safetensors", "*.model", "*.jinja", "*.txt"}

// dataExts are the file types a dataset split may be stored in.
var dataExts = []string{".parquet", ".jsonl", ".json", ".csv", ".jsonl.gz", ".json.gz", ".csv.gz"}

func isDataFile(name string) bool {
	l := strings.ToLower(name)
	for _, e := range dataExts {
		if strings.HasSuffix(l, e) {
			return true
		}
	}
	return false
}

// DataFiles lists the files of one split in a dataset snapshot, sorted, as
// the hub lays splits out: data/SPLIT-00000-of-00002.parquet (or any file
// whose name starts with SPLIT followed by "-", "_" or "."), a SPLIT/
// folder, or the refs/convert/parquet layout CONFIG/SPLIT/0000.parquet.
// Other data files (README, scripts) are ignored.
func DataFiles(dir, split string) ([]string, error) {
	if split == "" {
		split = "train"
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !isDataFile(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		name := parts[len(parts)-1]
		match := false
		for _, dirPart := range parts[:len(parts)-1] {
			match = match || dirPart == split
		}
		for _, sep := range []string{"-", "_", "."} {
			match = match || strings.HasPrefix(name, split+sep)
		}
		if match {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data files of %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data files of %s: no file of split %q (want data/%s-*.parquet, %s.jsonl, %s/*.parquet or CONFIG/%s/*.parquet)", dir, split, split, split, split, split)
	}
	sort.Strings(out)
	return out, nil
}

// ResolveData returns a local data path for a --data argument: an existing
// path as it is; a dataset repo id resolved through the cache (Resolve,
// data files only), then its split's file, or when the split has several
// shards a folder of links to them (beside the hub cache, in
// $HF_HOME/smaug/splits, so the cache keeps huggingface_hub's layout)
// that the data readers read shard after shard.
func (c *Client) ResolveData(ctx context.Context, idOrPath, split string, opts PullOptions) (string, error) {
	if _, err := os.Stat(idOrPath); err == nil {
		return idOrPath, nil
	}
	opts.Type = Dataset
	if len(opts.Include) == 0 {
		for _, e := range dataExts {
			opts.Include = append(opts.Include, "*"+e)
		}
	}
	dir, err := c.Resolve(ctx, idOrPath, opts)
	if err != nil {
		return "", err
	}
	files, err := DataFiles(dir, split)
	if err != nil {
		return "", err
	}
	if len(files) == 1 {
		return files[0], nil
	}
	if split == "" {
		split = "train"
	}
	out := filepath.Join(filepath.Dir(c.Cache), "smaug", "splits", FolderName(Dataset, idOrPath), filepath.Base(dir), split)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("resolve data %s: %w", idOrPath, err)
	}
	for i, f := range files {
		link := filepath.Join(out, fmt.Sprintf("%05d-%s", i, filepath.Base(f)))
		os.Remove(link)
		if err := os.Symlink(f, link); err != nil {
			if err := copyFile(f, link); err != nil {
				return "", fmt.Errorf("resolve data %s: %w", idOrPath, err)
			}
		}
	}
	return out, nil
}

// ResolveData is Client.ResolveData with the client FromEnv.
func ResolveData(ctx context.Context, idOrPath, split string, opts PullOptions) (string, error) {
	return FromEnv().ResolveData(ctx, idOrPath, split, opts)
}

// Files lists the paths of a revision's files that match include (all
// when empty), sorted, without downloading them: from the cached listing
// when the revision is in the cache (no request, as Resolve), else from
// the hub (the listing and the revision's ref are then cached, as
// huggingface_hub caches them). Offline, a revision the cache
// lacks is an error wrapping ErrOffline.
func (c *Client) Files(ctx context.Context, t RepoType, repoID, rev string, include []string) ([]string, error) {
	if t == "" {
		t = Model
	}
	if rev == "" {
		rev = DefaultRevision
	}
	dir := c.repoDir(t, repoID)
	commit := rev
	if !commitPattern.MatchString(rev) {
		if b, err := os.ReadFile(filepath.Join(dir, "refs", filepath.FromSlash(rev))); err == nil {
			commit = strings.TrimSpace(string(b))
		} else {
			commit = ""
		}
	}
	var tree []TreeEntry
	if commit != "" {
		cached, err := readTreeCache(dir, commit)
		if err != nil {
			return nil, fmt.Errorf("listing of %s %s at %s: %w", t, repoID, rev, err)
		}
		tree = cached
	}
	if tree == nil {
		if c.Offline {
			return nil, fmt.Errorf("listing of %s %s at %s: %w (run smaug pull %s while online)", t, repoID, rev, ErrOffline, repoID)
		}
		if commit == "" {
			var err error
			if commit, err = c.revisionCommit(ctx, t, repoID, rev); err != nil {
				return nil, err
			}
		}
		var err error
		if tree, err = c.tree(ctx, t, repoID, commit); err != nil {
			return nil, err
		}
		if rev != commit {
			// The ref was absent (a cached one is never moved here): record
			// it, so that the next listing of rev needs no request.
			if err := writeRef(dir, rev, commit); err != nil {
				return nil, fmt.Errorf("listing of %s %s: %w", t, repoID, err)
			}
		}
	}
	sel, err := selectFiles(tree, include)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(sel))
	for i, e := range sel {
		out[i] = e.Path
	}
	return out, nil
}
