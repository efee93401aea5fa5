package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"

	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smaug-dev/smaug/internal/atomicfile"
)

// PullOptions selects what Pull downloads.
type PullOptions struct {
	// Type is the repository type (Model when empty).
	Type RepoType
	// Revision is a branch, tag or commit hash (DefaultRevision when empty).
	Revision string
	// Include keeps only files matching one of these fnmatch patterns ("*"
	// also crosses "/", a pattern ending in "/" matches a whole folder), as
	// huggingface_hub's allow_patterns; empty keeps every file.
	Include []string
	// Progress, when set, is called as bytes arrive with the bytes done and
	// the total to download (files already cached count as done).
	Progress func(done, total int64)
}

// Snapshot is a downloaded revision of a repository.
type Snapshot struct {
	// Dir is snapshots/COMMIT in the cache: the repository's files.
	Dir    string
	Commit string
	// Files are the repository paths present (those Include selected).
	Files []string
}

// TreeEntry is one file of a repository listing (the hub's /tree answer and
// huggingface_hub's trees/COMMIT.json).
type TreeEntry struct {
	Path string
	Size int64
	// BlobID is the git blob sha1; LFSSHA256 and LFSSize are set for LFS
	// files.
	BlobID    string
	LFSSHA256 string
	LFSSize   int64
}

// etag is the identity the hub gives the file's content (and the blob's
// name in the cache): the LFS sha256, else the git blob id.
func (e TreeEntry) etag() string {
	if e.LFSSHA256 != "" {
		return e.LFSSHA256
	}
	return e.BlobID
}

// Pull downloads a revision of a repository into the cache (only what is
// missing) and returns its snapshot. Offline, or when the hub cannot be
// reached, the cached snapshot is returned when it holds every selected
// file.
func (c *Client) Pull(ctx context.Context, repoID string, opts PullOptions) (*Snapshot, error) {
	if !ValidRepoID(repoID) {
		return nil, fmt.Errorf("pull: %q is not a hub repository id (NAME or ORG/NAME)", repoID)
	}
	if opts.Type == "" {
		opts.Type = Model
	}
	rev := opts.Revision
	if rev == "" {
		rev = DefaultRevision
	}
	what := fmt.Sprintf("%s %s", opts.Type, repoID)
	if c.Offline {
		s, err := c.Cached(opts.Type, repoID, rev, opts.Include)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", what, err)
		}
		return s, nil
	}
	commit := rev
	if !commitPattern.MatchString(rev) {
		var err error
		commit, err = c.revisionCommit(ctx, opts.Type, repoID, rev)
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) && ctx.Err() == nil {
				// The hub cannot be reached: fall back on the cache.
				if s, cerr := c.Cached(opts.Type, repoID, rev, opts.Include); cerr == nil {
					return s, nil
				}
			}
			return nil, fmt.Errorf("pull %s: %w", what, err)
		}
	}
	dir := c.repoDir(opts.Type, repoID)
	tree, err := c.tree(ctx, opts.Type, repoID, commit)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", what, err)
	}
	files, err := selectFiles(tree, opts.Include)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", what, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("pull %s at %s: no file matches %q", what, rev, opts.Include)
	}
	if err := os.MkdirAll(c.Cache, 0o755); err != nil {
		return nil, fmt.Errorf("pull %s: %w", what, err)
	}
	writeCacheTag(c.Cache)
	if rev != commit {
		if err := writeRef(dir, rev, commit); err != nil {
			return nil, fmt.Errorf("pull %s: %w", what, err)
		}
	}
	snap := filepath.Join(dir, "snapshots", commit)
	var total, done, need int64
	for _, f := range files {
		total += f.Size
		if _, err := os.Stat(filepath.Join(snap, filepath.FromSlash(f.Path))); err == nil {
			done += f.Size
		} else {
			need += f.Size
		}
	}
	if err := checkSpace(c.Cache, need); err != nil {
		return nil, fmt.Errorf("pull %s: %w", what, err)
	}
	var mu sync.Mutex
	report := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		done += n
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	if opts.Progress != nil {
		opts.Progress(done, total)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan TreeEntry)
	errs := make(chan error, len(files))
	var wg sync.WaitGroup
	for range min(c.workers(), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				if err := c.fetch(ctx, opts.Type, repoID, commit, f, report); err != nil {
					errs <- err
					cancel()
				}
			}
		}()
	}
feed:
	for _, f := range files {
		select {
		case jobs <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	if len(all) > 0 {
		return nil, fmt.Errorf("pull %s: %w", what, errors.Join(all...))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Snapshot{Dir: snap, Commit: commit}
	for _, f := range files {
		s.Files = append(s.Files, f.Path)
	}
	return s, nil
}

// Cached returns the cached snapshot of a revision without any request:
// the commit from refs/REVISION (or the revision itself when it is a
// commit hash), every selected file of its listing present.
func (c *Client) Cached(t RepoType, repoID, rev string, include []string) (*Snapshot, error) {
	if t == "" {
		t = Model
	}
	if rev == "" {
		rev = DefaultRevision
	}
	dir := c.repoDir(t, repoID)
	commit := rev
	if !commitPattern.MatchString(rev) {
		b, err := os.ReadFile(filepath.Join(dir, "refs", filepath.FromSlash(rev)))
		if err != nil {
			return nil, fmt.Errorf("revision %s of %s %s is not in the cache %s: %w (run smaug pull %s while online)", rev, t, repoID, c.Cache, ErrOffline, repoID)
		}
		commit = strings.TrimSpace(string(b))
	}
	snap := filepath.Join(dir, "snapshots", commit)
	s := &Snapshot{Dir: snap, Commit: commit}
	tree, err := readTreeCache(dir, commit)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		// No listing (a cache written by an older tool): take what is there.
		err := filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(snap, p)
				s.Files = append(s.Files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil || len(s.Files) == 0 {
			return nil, fmt.Errorf("snapshot %s of %s %s is not in the cache %s: %w", commit, t, repoID, c.Cache, ErrOffline)
		}
		return s, nil
	}
	files, err := selectFiles(tree, include)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(snap, filepath.FromSlash(f.Path))); err != nil {
			return nil, fmt.Errorf("%s of %s %s at %s is not in the cache %s: %w (run smaug pull %s while online)", f.Path, t, repoID, rev, c.Cache, ErrOffline, repoID)
		}
		s.Files = append(s.Files, f.Path)
	}
	return s, nil
}

// getJSON fetches an API URL into v.
func (c *Client) getJSON(ctx context.Context, u, what string, v any) (http.Header, error) {
	req, err := c.newRequest("GET", u)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.httpError(resp, what)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(v); err != nil {
		return nil, fmt.Errorf("%s: bad answer from %s: %w", what, u, err)
	}
	return resp.Header, nil
}

// revisionCommit asks the hub for the commit a branch or tag points to.
func (c *Client) revisionCommit(ctx context.Context, t RepoType, repoID, rev string) (string, error) {
	u := fmt.Sprintf("%s/api/%ss/%s/revision/%s", c.Endpoint, t, repoID, url.PathEscape(rev))
	var info struct {
		SHA string `json:"sha"`
	}
	if _, err := c.getJSON(ctx, u, fmt.Sprintf("revision %s of %s %s", rev, t, repoID), &info); err != nil {
		return "", err
	}
	if !commitPattern.MatchString(info.SHA) {
		return "", fmt.Errorf("revision %s of %s %s: the hub gave no commit hash (%q)", rev, t, repoID, info.SHA)
	}
	return info.SHA, nil
}

var nextLink = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// tree lists every file of a commit, from trees/COMMIT.json when cached,
// else from the hub's /tree API (following its pages), then caches it.
func (c *Client) tree(ctx context.Context, t RepoType, repoID, commit string) ([]TreeEntry, error) {
	dir := c.repoDir(t, repoID)
	if tree, err := readTreeCache(dir, commit); err == nil && tree != nil {
		return tree, nil
	}
	u := fmt.Sprintf("%s/api/%ss/%s/tree/%s?recursive=true", c.Endpoint, t, repoID, commit)
	var out []TreeEntry
	for u != "" {
		var page []struct {
			Type string `json:"type"`
			OID  string `json:"oid"`
			Size int64  `json:"size"`
			Path string `json:"path"`
			LFS  *struct {
				OID  string `json:"oid"`
				Size int64  `json:"size"`
			} `json:"lfs"`
		}
		h, err := c.getJSON(ctx, u, fmt.Sprintf("listing of %s %s", t, repoID), &page)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.Type != "file" {
				continue
			}
			if err := safeRepoPath(e.Path); err != nil {
				return nil, err
			}
			te := TreeEntry{Path: e.Path, Size: e.Size, BlobID: e.OID}
			if e.LFS != nil {
				te.LFSSHA256, te.LFSSize = e.LFS.OID, e.LFS.Size
			}
			out = append(out, te)
		}
		u = ""
		if m := nextLink.FindStringSubmatch(h.Get("Link")); m != nil {
			u = m[1]
		}
	}
	if err := writeTreeCache(dir, commit, out); err != nil {
		return nil, err
	}
	return out, nil
}

// safeRepoPath refuses repository paths that would leave the snapshot.
func safeRepoPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return fmt.Errorf("the hub listed an invalid file path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("the hub listed an invalid file path %q", p)
		}
	}
	return nil
}

// selectFiles keeps the entries matching the patterns, sorted by path.
func selectFiles(tree []TreeEntry, include []string) ([]TreeEntry, error) {
	var res []*regexp.Regexp
	for _, p := range include {
		if strings.HasSuffix(p, "/") {
			p += "*"
		}
		re, err := fnmatch(p)
		if err != nil {
			return nil, err
		}
		res = append(res, re)
	}
	var out []TreeEntry
	for _, e := range tree {
		keep := len(res) == 0
		for _, re := range res {
			keep = keep || re.MatchString(e.Path)
		}
		if keep {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// fnmatch compiles a Python fnmatch pattern: * any run (including "/"),
// ? one character, [...] a class ([!...] negated).
func fnmatch(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(p[i+1:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := p[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("include pattern %q: %w", p, err)
	}
	return re, nil
}

// fileMeta is what a HEAD on a file's resolve URL tells.
type fileMeta struct {
	commit, etag, location string
	size                   int64
}

// head asks for a file's metadata, following only redirects within the
// hub (a renamed repository), not those to a CDN host.
func (c *Client) head(ctx context.Context, u, what string) (*fileMeta, error) {
	hc := *c.httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for range 10 {
		req, err := c.newRequest("HEAD", u)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := hc.Do(req.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return nil, c.httpError(resp, what)
		}
		loc := resp.Header.Get("Location")
		redirect := resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != ""
		if redirect {
			next, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("%s: bad redirect %q: %w", what, loc, err)
			}
			if next.Host == resp.Request.URL.Host && !strings.HasPrefix(loc, "http") {
				u = next.String() // relative redirect: follow
				continue
			}
			loc = next.String()
		} else {
			loc = u
		}
		m := &fileMeta{commit: resp.Header.Get("X-Repo-Commit"), location: loc}
		m.etag = normalizeETag(resp.Header.Get("X-Linked-Etag"))
		if m.etag == "" {
			m.etag = normalizeETag(resp.Header.Get("ETag"))
		}
		size := resp.Header.Get("X-Linked-Size")
		if size == "" && !redirect {
			size = resp.Header.Get("Content-Length")
		}
		m.size = -1
		if n, err := strconv.ParseInt(size, 10, 64); err == nil {
			m.size = n
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: too many redirects", what)
}

// normalizeETag strips W/ and quotes, as huggingface_hub's _normalize_etag.
func normalizeETag(s string) string {
	return strings.Trim(strings.TrimPrefix(s, "W/"), `"`)
}

// fetch puts one file into the cache: the blob (downloaded, resumed when
// the connection drops, verified) and the snapshot's link to it.
func (c *Client) fetch(ctx context.Context, t RepoType, repoID, commit string, f TreeEntry, report func(int64)) error {
	dir := c.repoDir(t, repoID)
	pointer := filepath.Join(dir, "snapshots", commit, filepath.FromSlash(f.Path))
	if _, err := os.Stat(pointer); err == nil {
		return nil
	}
	what := fmt.Sprintf("%s of %s %s", f.Path, t, repoID)
	u := fmt.Sprintf("%s/%s%s/resolve/%s/%s", c.Endpoint, t.urlPrefix(), repoID, commit, escapePath(f.Path))
	m, err := c.head(ctx, u, what)
	if err != nil {
		return err
	}
	if m.commit != "" && m.commit != commit {
		return fmt.Errorf("%s: the hub served commit %s, the listing is of %s", what, m.commit, commit)
	}
	if m.etag != f.etag() {
		return fmt.Errorf("%s: the hub's ETag %q differs from its listing's %q", what, m.etag, f.etag())
	}
	if m.size >= 0 && m.size != f.Size {
		return fmt.Errorf("%s: the hub reports %d bytes, its listing %d", what, m.size, f.Size)
	}
	blob := filepath.Join(dir, "blobs", f.etag())
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(c.Cache, ".locks", FolderName(t, repoID), f.etag()+".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(blob); err != nil {
		if err := c.download(ctx, m.location, blob+".incomplete", f, what, report); err != nil {
			return err
		}
		if err := os.Rename(blob+".incomplete", blob); err != nil {
			return err
		}
		if err := os.Chmod(blob, 0o644); err != nil {
			return err
		}
	} else {
		report(f.Size)
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		return err
	}
	os.Remove(pointer)
	if err := os.Symlink(rel, pointer); err != nil {
		// No symbolic links here (Windows without the privilege): copy the
		// blob, as huggingface_hub does.
		return copyFile(blob, pointer)
	}
	return nil
}

// copyFile copies src to dst through a temporary file.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// escapePath escapes each segment of a repository path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// download fetches a file into tmp, resuming from what tmp already holds
// (HTTP Range) after a dropped connection, then checks its size and its
// sha256 (LFS) or git blob id. A file that fails the check is removed.
func (c *Client) download(ctx context.Context, u, tmp string, f TreeEntry, what string, report func(int64)) error {
	sameHost := false
	if a, err := url.Parse(u); err == nil {
		if b, err := url.Parse(c.Endpoint); err == nil {
			sameHost = a.Host == b.Host
		}
	}
	var lastErr error
	for attempt := 0; attempt <= c.retries(); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(retryDelay):
			}
		}
		have := int64(0)
		if st, err := os.Stat(tmp); err == nil {
			have = st.Size()
		}
		if have > f.Size {
			os.Remove(tmp)
			have = 0
		}
		if have == f.Size {
			report(have)
			return verify(tmp, f, what)
		}
		// A connection that stops sending for stallTimeout is cut and
		// resumed like a dropped one.
		actx, cancel := context.WithCancel(ctx)
		stall := time.AfterFunc(stallTimeout, cancel)
		req, err := http.NewRequestWithContext(actx, "GET", u, nil)
		if err != nil {
			stall.Stop()
			cancel()
			return err
		}
		req.Header.Set("User-Agent", "smaug")
		if sameHost && c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		if have > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		}
		resp, err := c.httpClient().Do(req)
		if err != nil {
			stall.Stop()
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lastErr = err
			continue
		}
		done := func() { stall.Stop(); cancel() }
		flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
		switch {
		case resp.StatusCode == http.StatusPartialContent && have > 0:
			if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
				resp.Body.Close()
				done()
				return fmt.Errorf("%s: the server answered range %q to a request from byte %d", what, resp.Header.Get("Content-Range"), have)
			}
		case resp.StatusCode == http.StatusOK:
			flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC // range ignored: start over
			have = 0
		default:
			err := c.httpError(resp, what)
			resp.Body.Close()
			done()
			return err
		}
		report(have)
		out, err := os.OpenFile(tmp, flags, 0o644)
		if err != nil {
			resp.Body.Close()
			done()
			return err
		}
		_, err = io.Copy(out, &progressReader{r: resp.Body, report: func(n int64) {
			stall.Reset(stallTimeout)
			report(n)
		}})
		resp.Body.Close()
		done()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			if st, serr := os.Stat(tmp); serr == nil && st.Size() == f.Size {
				return verify(tmp, f, what)
			} else if serr == nil && st.Size() > f.Size {
				os.Remove(tmp)
				return fmt.Errorf("%s: received %d bytes, the listing says %d; removed the download", what, st.Size(), f.Size)
			}
			err = io.ErrUnexpectedEOF
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Undo this attempt's count: the next attempt reports what the
		// file holds.
		if st, serr := os.Stat(tmp); serr == nil {
			report(-st.Size())
		}
		lastErr = err
	}
	return fmt.Errorf("%s: download failed after %d attempts (run again to resume): %w", what, c.retries()+1, lastErr)
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r      io.Reader
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.report(int64(n))
	}
	return n, err
}

// verify checks a downloaded file against its listing: the LFS sha256, or
// the git blob id sha1("blob SIZE\0" + content).
func verify(path string, f TreeEntry, what string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	var h hash.Hash
	want := f.etag()
	kind := "sha256"
	if f.LFSSHA256 != "" {
		h = sha256.New()
	} else {
		h = sha1.New()
		kind = "git blob id"
		fmt.Fprintf(h, "blob %d\x00", f.Size)
	}
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		fh.Close()
		os.Remove(path)
		return fmt.Errorf("%s: %s mismatch: got %s, the hub lists %s; the download was removed (run again; a repeated mismatch means a corrupted transfer or mirror)", what, kind, got, want)
	}
	return nil
}

// checkSpace refuses a download that does not fit on the cache's disk.
func checkSpace(dir string, need int64) error {
	free, ok := freeSpace(dir)
	if !ok {
		return nil // unknown: let the writes tell
	}
	if need > free {
		return fmt.Errorf("not enough disk space in %s: %d bytes needed, %d free (free space, or set HF_HUB_CACHE to a larger disk)", dir, need, free)
	}
	return nil
}
