package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeRepo is one repository of the fake hub at a single commit.
type fakeRepo struct {
	commit string
	files  map[string][]byte
	lfs    map[string]bool // paths stored through LFS (served from the CDN)
	gated  bool
}

// fakeHub behaves like the hub for the calls the client makes: revision
// info, the paged /tree listing, HEAD/GET on resolve URLs (LFS files
// redirect to a second "CDN" server), ranges, ETags and X-Repo-Commit,
// X-Error-Code for gated (401), missing repos and revisions (404), a
// relative redirect for a renamed repository, and the upload API (create,
// preupload, LFS batch, PUT, verify, commit), which it records.
type fakeHub struct {
	t     *testing.T
	hub   *httptest.Server
	cdn   *httptest.Server
	token string
	repos map[string]*fakeRepo // "model/org/name", "dataset/org/name"

	mu       sync.Mutex
	requests []string         // "METHOD escaped-path" of every request to either server
	served   map[string]int64 // body bytes sent per repository path
	// dropAfter drops the connection once, after that many bytes of the file.
	dropAfter map[string]int64
	// corrupt serves the file with its first byte changed.
	corrupt map[string]bool
	// staleCommit answers file requests with another X-Repo-Commit.
	staleCommit bool
	// stall, when set, makes a dropped connection (dropAfter) hang until
	// it is closed instead of closing.
	stall chan struct{}

	// the upload API's record
	calls   []recorded
	lfsPuts map[string][]byte
}

// recorded is one upload API call with its decoded body.
type recorded struct {
	Method, Path, ContentType string
	Body                      []byte
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newFakeHub(t *testing.T) *fakeHub {
	f := &fakeHub{t: t, repos: map[string]*fakeRepo{}, served: map[string]int64{}, dropAfter: map[string]int64{},
		corrupt: map[string]bool{}, lfsPuts: map[string][]byte{}, token: "hf_secret"}
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(func() { f.hub.Close(); f.cdn.Close() })
	return f
}

func (f *fakeHub) add(kind, id, commit string, files map[string][]byte, lfs ...string) *fakeRepo {
	r := &fakeRepo{commit: commit, files: files, lfs: map[string]bool{}}
	for _, p := range lfs {
		r.lfs[p] = true
	}
	f.repos[kind+"/"+id] = r
	return r
}

func (f *fakeHub) client(t *testing.T) *Client {
	return &Client{Endpoint: f.hub.URL, Cache: t.TempDir(), Token: f.token}
}

func (f *fakeHub) log(r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.EscapedPath())
	f.mu.Unlock()
}

func (f *fakeHub) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeHub) servedBytes(path string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served[path]
}

// repo finds the repository of an API or resolve path and checks access.
func (f *fakeHub) repo(w http.ResponseWriter, r *http.Request, kind, id string) *fakeRepo {
	repo, ok := f.repos[kind+"/"+id]
	if !ok {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		http.Error(w, "Repository not found", http.StatusNotFound)
		return nil
	}
	if repo.gated && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.Header().Set("X-Error-Code", "GatedRepo")
		http.Error(w, "Access to model "+id+" is restricted", http.StatusUnauthorized)
		return nil
	}
	return repo
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.log(r)
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/models/") || strings.HasPrefix(p, "/api/datasets/"):
		f.serveAPI(w, r)
	case strings.HasPrefix(p, "/api/repos/create"), strings.Contains(p, ".git/info/lfs/"), strings.HasPrefix(p, "/lfs-"):
		f.serveUpload(w, r)
	default:
		f.serveResolve(w, r)
	}
}

// serveAPI: /api/{models,datasets}/ORG/NAME/{revision/REV, tree/COMMIT, preupload/REV, commit/REV}.
func (f *fakeHub) serveAPI(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/api/"), "/", 5)
	if len(parts) < 5 {
		http.NotFound(w, r)
		return
	}
	kind := strings.TrimSuffix(parts[0], "s")
	id := parts[1] + "/" + parts[2]
	if parts[3] == "preupload" || parts[3] == "commit" {
		f.serveUpload(w, r)
		return
	}
	repo := f.repo(w, r, kind, id)
	if repo == nil {
		return
	}
	switch parts[3] {
	case "revision":
		if parts[4] != "main" && parts[4] != "refs/convert/parquet" && parts[4] != repo.commit {
			w.Header().Set("X-Error-Code", "RevisionNotFound")
			http.Error(w, "Invalid rev id: "+parts[4], http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": id, "sha": repo.commit})
	case "tree":
		if parts[4] != repo.commit || r.URL.Query().Get("recursive") != "true" {
			http.Error(w, "bad tree request", http.StatusBadRequest)
			return
		}
		var paths []string
		for p := range repo.files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		// two entries a page, the next page in a Link header as the hub does
		page, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		end := min(page+2, len(paths))
		var out []map[string]any
		for _, p := range paths[page:end] {
			b := repo.files[p]
			e := map[string]any{"type": "file", "path": p, "size": len(b), "oid": gitBlobID(b)}
			if repo.lfs[p] {
				e["lfs"] = map[string]any{"oid": sha256Hex(b), "size": len(b), "pointerSize": 134}
			}
			out = append(out, e)
		}
		if page == 0 {
			out = append(out, map[string]any{"type": "directory", "path": "sub", "oid": "0", "size": 0})
		}
		if end < len(paths) {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?recursive=true&cursor=%d>; rel="next"`, f.hub.URL, r.URL.Path, end))
		}
		json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

// serveResolve: [datasets/]ORG/NAME/resolve/COMMIT/PATH.
func (f *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	kind := "model"
	if strings.HasPrefix(p, "datasets/") {
		kind, p = "dataset", strings.TrimPrefix(p, "datasets/")
	}
	parts := strings.SplitN(p, "/", 5)
	if len(parts) < 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	id := parts[0] + "/" + parts[1]
	if id == "old-org/renamed" { // a renamed repository: relative redirect
		http.Redirect(w, r, "/org/tiny/resolve/"+parts[3]+"/"+parts[4], http.StatusTemporaryRedirect)
		return
	}
	repo := f.repo(w, r, kind, id)
	if repo == nil {
		return
	}
	b, ok := repo.files[parts[4]]
	if !ok || parts[3] != repo.commit {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.Error(w, "Entry not found", http.StatusNotFound)
		return
	}
	w.Header().Set("X-Repo-Commit", repo.commit)
	if f.staleCommit {
		w.Header().Set("X-Repo-Commit", strings.Repeat("9", 40))
	}
	if repo.lfs[parts[4]] {
		w.Header().Set("X-Linked-Etag", `"`+sha256Hex(b)+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(b)))
		w.Header().Set("ETag", `"`+gitBlobID(b)+`"`) // the pointer's: must not be used
		http.Redirect(w, r, f.cdn.URL+"/blob/"+kind+"/"+id+"/"+parts[4], http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobID(b)+`"`)
	f.serveBytes(w, r, kind+"/"+id+"/"+parts[4], b)
}

// serveCDN: /blob/KIND/ORG/NAME/PATH, no authentication needed.
func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.log(r)
	if r.Header.Get("Authorization") != "" {
		http.Error(w, "the CDN must not receive the hub token", http.StatusBadRequest)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/blob/"), "/", 4)
	repo, ok := f.repos[parts[0]+"/"+parts[1]+"/"+parts[2]]
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.serveBytes(w, r, strings.Join(parts, "/")[len(parts[0])+1:], repo.files[parts[3]])
}

// serveBytes answers GET/HEAD with Range support, counts the bytes sent,
// and drops the connection or corrupts the content when asked to.
func (f *fakeHub) serveBytes(w http.ResponseWriter, r *http.Request, key string, b []byte) {
	full := len(b)
	key = strings.TrimPrefix(strings.TrimPrefix(key, "model/"), "dataset/")
	f.mu.Lock()
	if f.corrupt[key] {
		b = append([]byte{b[0] ^ 0xff}, b[1:]...)
	}
	f.mu.Unlock()
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		var from int
		if _, err := fmt.Sscanf(rg, "bytes=%d-", &from); err != nil || from >= full {
			http.Error(w, "bad range", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = from
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, full-1, full))
	}
	w.Header().Set("Content-Length", strconv.Itoa(full-start))
	if r.Method == "HEAD" {
		if start > 0 {
			w.WriteHeader(http.StatusPartialContent)
		}
		return
	}
	body := b[start:]
	f.mu.Lock()
	drop, dropping := f.dropAfter[key]
	if dropping {
		delete(f.dropAfter, key)
	}
	f.mu.Unlock()
	if dropping && int(drop) > start {
		// Send the headers and part of the body, then cut the connection.
		n := int(drop) - start
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Error(err)
			return
		}
		// Counted before sending: the client may finish before this
		// handler runs again.
		f.mu.Lock()
		f.served[key] += int64(n)
		f.mu.Unlock()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
		buf.Write(body[:n])
		buf.Flush()
		if f.stall != nil {
			<-f.stall
		}
		conn.Close()
		return
	}
	if start > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	f.mu.Lock()
	f.served[key] += int64(len(body))
	f.mu.Unlock()
	w.Write(body)
}

// serveUpload records the upload API and answers as the hub does.
func (f *fakeHub) serveUpload(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Authorization") != "Bearer "+f.token && !strings.HasPrefix(r.URL.Path, "/lfs-upload/") {
		http.Error(w, "Invalid credentials", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
	f.mu.Unlock()
	p := r.URL.Path
	switch {
	case p == "/api/repos/create":
		json.NewEncoder(w).Encode(map[string]string{"url": f.hub.URL + "/org/new"})
	case strings.Contains(p, "/preupload/"):
		var req struct {
			Files []struct {
				Path   string `json:"path"`
				Sample string `json:"sample"`
				Size   int64  `json:"size"`
			} `json:"files"`
		}
		json.Unmarshal(body, &req)
		var out []map[string]any
		for _, x := range req.Files {
			mode := "regular"
			if strings.HasSuffix(x.Path, ".safetensors") || x.Size > 10<<20 {
				mode = "lfs"
			}
			out = append(out, map[string]any{"path": x.Path, "uploadMode": mode, "shouldIgnore": false})
		}
		json.NewEncoder(w).Encode(map[string]any{"files": out})
	case strings.HasSuffix(p, ".git/info/lfs/objects/batch"):
		var req struct {
			Objects []struct {
				OID  string `json:"oid"`
				Size int64  `json:"size"`
			} `json:"objects"`
		}
		json.Unmarshal(body, &req)
		var objs []map[string]any
		for _, o := range req.Objects {
			objs = append(objs, map[string]any{"oid": o.OID, "size": o.Size, "actions": map[string]any{
				"upload": map[string]any{"href": f.hub.URL + "/lfs-upload/" + o.OID, "header": map[string]string{"X-Upload-Token": "t1"}},
				"verify": map[string]any{"href": f.hub.URL + "/lfs-verify"},
			}})
		}
		w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
		json.NewEncoder(w).Encode(map[string]any{"transfer": "basic", "objects": objs})
	case strings.HasPrefix(p, "/lfs-upload/"):
		if r.Header.Get("X-Upload-Token") != "t1" {
			http.Error(w, "missing upload header", http.StatusForbidden)
			return
		}
		f.mu.Lock()
		f.lfsPuts[strings.TrimPrefix(p, "/lfs-upload/")] = body
		f.mu.Unlock()
	case p == "/lfs-verify":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/commit/"):
		json.NewEncoder(w).Encode(map[string]string{"commitUrl": f.hub.URL + "/org/new/commit/abc", "commitOid": "abc"})
	default:
		http.NotFound(w, r)
	}
}
