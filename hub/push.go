package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PushOptions configures Push.
type PushOptions struct {
	// Type is the repository type (Model when empty).
	Type RepoType
	// Private creates the repository private (an existing one keeps its
	// visibility).
	Private bool
	// Revision is the branch to commit to (DefaultRevision when empty).
	Revision string
	// Message is the commit summary ("Upload with smaug" when empty).
	Message string
	// Card is written as README.md when the folder has none, or has the
	// adapter card smaug's trainer writes (nil: none).
	Card *ModelCard
	// Progress, when set, is called as LFS bytes are sent.
	Progress func(done, total int64)
}

// pushFile is one file of the commit.
type pushFile struct {
	path    string // in the repository
	local   string // on disk; "" for content
	content []byte
	size    int64
	mode    string // "regular" or "lfs"
	sha256  string
}

func (f *pushFile) open() (io.ReadCloser, error) {
	if f.local == "" {
		return io.NopCloser(bytes.NewReader(f.content)), nil
	}
	return os.Open(f.local)
}

// sample is the first 512 bytes, which the preupload API inspects.
func (f *pushFile) sample() ([]byte, error) {
	r, err := f.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, 512)
	n, err := io.ReadFull(r, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// Push uploads a folder to a hub repository in one commit, as
// huggingface_hub's upload_folder does: create the repository (an existing
// one is kept), ask the preupload API which files go through LFS, upload
// those with the LFS batch API (basic transfer, then verify), and post the
// commit (NDJSON: header, regular files in base64, LFS pointers). It
// returns the commit's URL. Hidden files and folders are skipped.
func (c *Client) Push(ctx context.Context, dir, repoID string, opts PushOptions) (string, error) {
	if !ValidRepoID(repoID) || !strings.Contains(repoID, "/") {
		return "", fmt.Errorf("push: %q is not a repository id of the form ORG/NAME", repoID)
	}
	if c.Offline {
		return "", errors.New("push: offline mode (HF_HUB_OFFLINE=1) is set")
	}
	if c.Token == "" {
		return "", errors.New("push: a token with write access is needed: set HF_TOKEN or write it to $HF_HOME/token")
	}
	if opts.Type == "" {
		opts.Type = Model
	}
	rev := opts.Revision
	if rev == "" {
		rev = DefaultRevision
	}
	msg := opts.Message
	if msg == "" {
		msg = "Upload with smaug"
	}
	files, err := collect(dir)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", dir, err)
	}
	if opts.Card != nil {
		// A README.md of the user's is kept; smaug's own adapter card is
		// replaced by the fuller one.
		old, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil || generatedCard(old) {
			kept := files[:0]
			for _, f := range files {
				if f.path != "README.md" {
					kept = append(kept, f)
				}
			}
			card := opts.Card.Markdown()
			files = append(kept, &pushFile{path: "README.md", content: card, size: int64(len(card))})
		}
	}
	if len(files) == 0 {
		return "", fmt.Errorf("push %s: the folder has no files", dir)
	}
	what := fmt.Sprintf("push to %s %s", opts.Type, repoID)
	if err := c.createRepo(ctx, opts.Type, repoID, opts.Private); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := c.preupload(ctx, opts.Type, repoID, rev, files); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := c.uploadLFS(ctx, opts.Type, repoID, rev, files, opts.Progress); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	u, err := c.commit(ctx, opts.Type, repoID, rev, msg, files)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return u, nil
}

// collect lists the folder's files, skipping hidden ones.
func collect(dir string) ([]*pushFile, error) {
	var out []*pushFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows links
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, &pushFile{path: filepath.ToSlash(rel), local: p, size: st.Size()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, err
}

// do sends a request with a JSON (or other) body and decodes a JSON answer
// into v (when v is not nil).
func (c *Client) do(ctx context.Context, method, u, contentType string, body []byte, v any, what string, ok ...int) (int, error) {
	req, err := c.newRequest(method, u)
	if err != nil {
		return 0, err
	}
	req = req.WithContext(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	accepted := resp.StatusCode/100 == 2
	for _, s := range ok {
		accepted = accepted || resp.StatusCode == s
	}
	if !accepted {
		return resp.StatusCode, c.httpError(resp, what)
	}
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: bad answer: %w", what, err)
		}
	}
	return resp.StatusCode, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// createRepo creates the repository; one that exists (409) is fine.
func (c *Client) createRepo(ctx context.Context, t RepoType, repoID string, private bool) error {
	org, name, _ := strings.Cut(repoID, "/")
	payload := map[string]any{"name": name, "organization": org}
	if private {
		payload["visibility"] = "private"
	}
	if t != Model {
		payload["type"] = string(t)
	}
	_, err := c.do(ctx, "POST", c.Endpoint+"/api/repos/create", "application/json", mustJSON(payload), nil, "create repository", http.StatusConflict)
	return err
}

// preupload asks which files are LFS, 256 at a time.
func (c *Client) preupload(ctx context.Context, t RepoType, repoID, rev string, files []*pushFile) error {
	byPath := map[string]*pushFile{}
	for start := 0; start < len(files); start += 256 {
		chunk := files[start:min(start+256, len(files))]
		type item struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		}
		var items []item
		for _, f := range chunk {
			s, err := f.sample()
			if err != nil {
				return err
			}
			items = append(items, item{f.path, base64.StdEncoding.EncodeToString(s), f.size})
			byPath[f.path] = f
		}
		var ans struct {
			Files []struct {
				Path         string `json:"path"`
				UploadMode   string `json:"uploadMode"`
				ShouldIgnore bool   `json:"shouldIgnore"`
			} `json:"files"`
		}
		u := fmt.Sprintf("%s/api/%ss/%s/preupload/%s", c.Endpoint, t, repoID, url.PathEscape(rev))
		if _, err := c.do(ctx, "POST", u, "application/json", mustJSON(map[string]any{"files": items}), &ans, "preupload"); err != nil {
			return err
		}
		for _, a := range ans.Files {
			f, ok := byPath[a.Path]
			if !ok || (a.UploadMode != "lfs" && a.UploadMode != "regular") {
				return fmt.Errorf("preupload: unexpected answer for %q (mode %q)", a.Path, a.UploadMode)
			}
			f.mode = a.UploadMode
		}
	}
	for _, f := range files {
		if f.mode == "" {
			return fmt.Errorf("preupload: no upload mode for %s", f.path)
		}
	}
	return nil
}

// uploadLFS sends the LFS files the hub does not have yet.
func (c *Client) uploadLFS(ctx context.Context, t RepoType, repoID, rev string, files []*pushFile, progress func(done, total int64)) error {
	var lfs []*pushFile
	var total int64
	for _, f := range files {
		if f.mode != "lfs" {
			continue
		}
		r, err := f.open()
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return err
		}
		f.sha256 = hex.EncodeToString(h.Sum(nil))
		lfs = append(lfs, f)
		total += f.size
	}
	if len(lfs) == 0 {
		return nil
	}
	type object struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	req := map[string]any{"operation": "upload", "transfers": []string{"basic"}, "hash_algo": "sha256", "ref": map[string]string{"name": rev}}
	var objs []object
	for _, f := range lfs {
		objs = append(objs, object{f.sha256, f.size})
	}
	req["objects"] = objs
	var ans struct {
		Objects []struct {
			OID     string `json:"oid"`
			Size    int64  `json:"size"`
			Actions map[string]struct {
				Href   string            `json:"href"`
				Header map[string]string `json:"header"`
			} `json:"actions"`
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"objects"`
	}
	u := fmt.Sprintf("%s/%s%s.git/info/lfs/objects/batch", c.Endpoint, t.urlPrefix(), repoID)
	if _, err := c.do(ctx, "POST", u, "application/vnd.git-lfs+json", mustJSON(req), &ans, "LFS batch"); err != nil {
		return err
	}
	bySHA := map[string]*pushFile{}
	for _, f := range lfs {
		bySHA[f.sha256] = f
	}
	var done int64
	for _, o := range ans.Objects {
		f, ok := bySHA[o.OID]
		if !ok {
			return fmt.Errorf("LFS batch: unexpected object %s", o.OID)
		}
		if o.Error != nil {
			return fmt.Errorf("LFS batch: %s: %s (%d)", f.path, o.Error.Message, o.Error.Code)
		}
		up, ok := o.Actions["upload"]
		if !ok {
			done += f.size // already on the hub
			continue
		}
		r, err := f.open()
		if err != nil {
			return err
		}
		put, err := http.NewRequestWithContext(ctx, "PUT", up.Href, &progressReader{r: r, report: func(n int64) {
			done += n
			if progress != nil {
				progress(done, total)
			}
		}})
		if err != nil {
			r.Close()
			return err
		}
		put.ContentLength = f.size
		for k, v := range up.Header {
			put.Header.Set(k, v)
		}
		resp, err := c.httpClient().Do(put)
		r.Close()
		if err != nil {
			return fmt.Errorf("upload %s: %w", f.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return c.httpError(resp, "upload "+f.path)
		}
		if v, ok := o.Actions["verify"]; ok {
			if _, err := c.do(ctx, "POST", v.Href, "application/vnd.git-lfs+json", mustJSON(object{f.sha256, f.size}), nil, "verify "+f.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// commit posts the commit as NDJSON and returns its URL.
func (c *Client) commit(ctx context.Context, t RepoType, repoID, rev, msg string, files []*pushFile) (string, error) {
	var body bytes.Buffer
	line := func(v any) {
		body.Write(mustJSON(v))
		body.WriteByte('\n')
	}
	line(map[string]any{"key": "header", "value": map[string]string{"summary": msg, "description": ""}})
	for _, f := range files {
		if f.mode == "lfs" {
			line(map[string]any{"key": "lfsFile", "value": map[string]any{"path": f.path, "algo": "sha256", "oid": f.sha256, "size": f.size}})
			continue
		}
		r, err := f.open()
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return "", err
		}
		line(map[string]any{"key": "file", "value": map[string]string{"content": base64.StdEncoding.EncodeToString(b), "path": f.path, "encoding": "base64"}})
	}
	var ans struct {
		CommitURL string `json:"commitUrl"`
		CommitOID string `json:"commitOid"`
	}
	u := fmt.Sprintf("%s/api/%ss/%s/commit/%s", c.Endpoint, t, repoID, url.PathEscape(rev))
	if _, err := c.do(ctx, "POST", u, "application/x-ndjson", body.Bytes(), &ans, "commit"); err != nil {
		return "", err
	}
	return ans.CommitURL, nil
}
