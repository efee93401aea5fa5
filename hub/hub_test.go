package hub

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "fedcba9876543210fedcba9876543210fedcba98"
)

// tinyRepo is a model repository with a regular file, a file in a folder
// and an LFS file large enough to be dropped mid-way.
func tinyRepo() map[string][]byte {
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	return map[string][]byte{
		"config.json":       []byte(`{"model_type": "llama"}`),
		"sub/notes.txt":     []byte("hello\n"),
		"model.safetensors": big,
	}
}

// listing returns every entry under root: "path" for folders, "path =
// content" for files, "path -> target" for links.
func listing(t *testing.T, root string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			if len(b) > 1000 {
				b = []byte("<" + sha256Hex(b)[:12] + ">")
			}
			out = append(out, rel+" = "+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestPullCacheLayout: a pull lays the cache out as huggingface_hub does
// (Hub docs "Hub Local Cache", file_download.py, _tree_cache.py): blobs
// named by ETag (git blob sha1, or the LFS sha256 of X-Linked-Etag, not the
// pointer's ETag), snapshots/COMMIT/PATH as relative links to the blobs,
// refs/main holding the commit (no newline), trees/COMMIT.json in Python's
// json.dump(indent=1) form, .locks/REPO/ETAG.lock and CACHEDIR.TAG. LFS
// files come through the CDN redirect; the listing is read over two pages.
func TestPullCacheLayout(t *testing.T) {
	f := newFakeHub(t)
	files := tinyRepo()
	f.add("model", "org/tiny", commitA, files, "model.safetensors")
	c := f.client(t)
	var lastDone, lastTotal int64
	s, err := c.Pull(context.Background(), "org/tiny", PullOptions{Progress: func(d, t int64) { lastDone, lastTotal = d, t }})
	if err != nil {
		t.Fatal(err)
	}
	if lastDone != lastTotal || lastTotal != int64(len(files["model.safetensors"])+len(files["config.json"])+len(files["sub/notes.txt"])) {
		t.Errorf("progress ended at %d of %d", lastDone, lastTotal)
	}
	cfgID, notesID, bigSHA := gitBlobID(files["config.json"]), gitBlobID(files["sub/notes.txt"]), sha256Hex(files["model.safetensors"])
	want := []string{
		".locks/",
		".locks/models--org--tiny/",
		".locks/models--org--tiny/" + bigSHA + ".lock = ",
		".locks/models--org--tiny/" + cfgID + ".lock = ",
		".locks/models--org--tiny/" + notesID + ".lock = ",
		"CACHEDIR.TAG = " + cacheTag,
		"models--org--tiny/",
		"models--org--tiny/blobs/",
		"models--org--tiny/blobs/" + bigSHA + " = <" + bigSHA[:12] + ">",
		"models--org--tiny/blobs/" + cfgID + ` = {"model_type": "llama"}`,
		"models--org--tiny/blobs/" + notesID + " = hello\n",
		"models--org--tiny/refs/",
		"models--org--tiny/refs/main = " + commitA,
		"models--org--tiny/snapshots/",
		"models--org--tiny/snapshots/" + commitA + "/",
		"models--org--tiny/snapshots/" + commitA + "/config.json -> ../../blobs/" + cfgID,
		"models--org--tiny/snapshots/" + commitA + "/model.safetensors -> ../../blobs/" + bigSHA,
		"models--org--tiny/snapshots/" + commitA + "/sub/",
		"models--org--tiny/snapshots/" + commitA + "/sub/notes.txt -> ../../../blobs/" + notesID,
		"models--org--tiny/trees/",
		"models--org--tiny/trees/" + commitA + ".json = " + `{
 "format_version": 1,
 "files": {
  "config.json": {
   "size": 23,
   "blob_id": "` + cfgID + `"
  },
  "model.safetensors": {
   "size": 300000,
   "blob_id": "` + gitBlobID(files["model.safetensors"]) + `",
   "lfs_sha256": "` + bigSHA + `",
   "lfs_size": 300000
  },
  "sub/notes.txt": {
   "size": 6,
   "blob_id": "` + notesID + `"
  }
 }
}`,
	}
	sort.Strings(want)
	if got := listing(t, c.Cache); !reflect.DeepEqual(got, want) {
		t.Fatalf("cache layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.Dir != filepath.Join(c.Cache, "models--org--tiny", "snapshots", commitA) || s.Commit != commitA {
		t.Fatalf("snapshot %+v", s)
	}
	for p, b := range files {
		got, err := os.ReadFile(filepath.Join(s.Dir, p))
		if err != nil || string(got) != string(b) {
			t.Fatalf("%s: read back %d bytes, err %v", p, len(got), err)
		}
	}
	// A second pull sends only the revision request: the listing is cached
	// and every file is present.
	before := f.requestCount()
	if _, err := c.Pull(context.Background(), "org/tiny", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.requestCount() - before; n != 1 {
		t.Errorf("second pull made %d requests, want 1 (revision): %v", n, f.requests[before:])
	}
	// Include selects files (fnmatch: * crosses folders).
	c2 := f.client(t)
	s2, err := c2.Pull(context.Background(), "org/tiny", PullOptions{Include: []string{"*.txt", "config.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s2.Files, []string{"config.json", "sub/notes.txt"}) {
		t.Errorf("include kept %v", s2.Files)
	}
}

// TestPullResumesDroppedConnection: the connection drops after 100,000 of
// 300,000 bytes of the LFS file; the client resumes with a Range request
// and the server sends exactly 300,000 bytes in all (none twice). A
// partial file left by an earlier run (blobs/ETAG.incomplete) is resumed
// too: only the missing bytes are sent.
func TestPullResumesDroppedConnection(t *testing.T) {
	f := newFakeHub(t)
	files := tinyRepo()
	f.add("model", "org/tiny", commitA, files, "model.safetensors")
	key := "org/tiny/model.safetensors"
	f.dropAfter[key] = 100_000
	c := f.client(t)
	s, err := c.Pull(context.Background(), "org/tiny", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.servedBytes(key); got != 300_000 {
		t.Errorf("the server sent %d bytes of a 300000-byte file across the drop; requests %v", got, f.requests)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, "model.safetensors"))
	if sha256Hex(b) != sha256Hex(files["model.safetensors"]) {
		t.Fatal("resumed file differs")
	}

	// An interrupted earlier run: 250,000 bytes already on disk.
	c2 := f.client(t)
	blob := filepath.Join(c2.Cache, "models--org--tiny", "blobs", sha256Hex(files["model.safetensors"]))
	os.MkdirAll(filepath.Dir(blob), 0o755)
	os.WriteFile(blob+".incomplete", files["model.safetensors"][:250_000], 0o644)
	before := f.servedBytes(key)
	if _, err := c2.Pull(context.Background(), "org/tiny", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := f.servedBytes(key) - before; got != 50_000 {
		t.Errorf("resuming from 250000 bytes, the server sent %d bytes, want 50000", got)
	}
}

// TestPullRefusesCorruptFile: content whose sha256 (LFS) or git blob id
// (regular) differs from the listing is refused and not kept.
func TestPullRefusesCorruptFile(t *testing.T) {
	for _, name := range []string{"model.safetensors", "config.json"} {
		f := newFakeHub(t)
		f.add("model", "org/tiny", commitA, tinyRepo(), "model.safetensors")
		f.corrupt["org/tiny/"+name] = true
		c := f.client(t)
		_, err := c.Pull(context.Background(), "org/tiny", PullOptions{})
		kind := map[string]string{"model.safetensors": "sha256 mismatch", "config.json": "git blob id mismatch"}[name]
		if err == nil || !strings.Contains(err.Error(), kind) {
			t.Fatalf("%s: error %v, want a %s", name, err, kind)
		}
		blobs, _ := os.ReadDir(filepath.Join(c.Cache, "models--org--tiny", "blobs"))
		for _, b := range blobs {
			if strings.Contains(name, "model") && strings.HasPrefix(b.Name(), sha256Hex(tinyRepo()[name])) {
				t.Errorf("corrupt download kept as %s", b.Name())
			}
		}
		if _, err := os.Stat(filepath.Join(c.Cache, "models--org--tiny", "snapshots", commitA, name)); err == nil {
			t.Errorf("%s linked into the snapshot", name)
		}
	}
}

// TestPullErrors: the hub's errors become messages that say what to do.
func TestPullErrors(t *testing.T) {
	f := newFakeHub(t)
	f.add("model", "org/tiny", commitA, tinyRepo()).gated = true
	anon := f.client(t)
	anon.Token = ""
	for _, tc := range []struct {
		name, repo, rev string
		c               *Client
		status          int
		code, advice    string
	}{
		{"gated without token", "org/tiny", "", anon, 401, "GatedRepo", "accept its conditions"},
		{"missing repo", "org/none", "", f.client(t), 404, "RepoNotFound", "check the repository id"},
		{"missing revision", "org/tiny", "v9", f.client(t), 404, "RevisionNotFound", "--revision"},
	} {
		_, err := tc.c.Pull(context.Background(), tc.repo, PullOptions{Revision: tc.rev})
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != tc.status || he.Code != tc.code || !strings.Contains(err.Error(), tc.advice) {
			t.Errorf("%s: %v", tc.name, err)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	// With the token the gated repository downloads.
	if _, err := f.client(t).Pull(context.Background(), "org/tiny", PullOptions{}); err != nil {
		t.Errorf("gated with token: %v", err)
	}
	if _, err := f.client(t).Pull(context.Background(), "../x", PullOptions{}); err == nil {
		t.Error("invalid repo id accepted")
	}
}

// TestRenamedRepoRelativeRedirect: a relative redirect from the hub (a
// renamed repository) is followed for the metadata request.
func TestRenamedRepoRelativeRedirect(t *testing.T) {
	f := newFakeHub(t)
	f.add("model", "org/tiny", commitA, tinyRepo(), "model.safetensors")
	c := f.client(t)
	m, err := c.head(context.Background(), f.hub.URL+"/old-org/renamed/resolve/"+commitA+"/config.json", "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if m.etag != gitBlobID(tinyRepo()["config.json"]) || m.commit != commitA || m.size != 23 {
		t.Fatalf("metadata %+v", m)
	}
	m, err = c.head(context.Background(), f.hub.URL+"/org/tiny/resolve/"+commitA+"/model.safetensors", "model")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.location, f.cdn.URL) || m.size != 300_000 {
		t.Fatalf("LFS metadata %+v: want the CDN location and X-Linked-Size", m)
	}
}

// TestOffline: offline mode serves a pulled revision from the cache with
// no request, and names the missing repository otherwise; Resolve is
// offline-first (a cached revision makes no request even online) and
// returns local paths as they are.
func TestOffline(t *testing.T) {
	f := newFakeHub(t)
	f.add("model", "org/tiny", commitA, tinyRepo(), "model.safetensors")
	c := f.client(t)
	s, err := c.Pull(context.Background(), "org/tiny", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Offline = true
	before := f.requestCount()
	s2, err := c.Pull(context.Background(), "org/tiny", PullOptions{})
	if err != nil || s2.Dir != s.Dir || len(s2.Files) != 3 {
		t.Fatalf("offline pull: %+v, %v", s2, err)
	}
	if _, err := c.Pull(context.Background(), "org/other", PullOptions{}); !errors.Is(err, ErrOffline) {
		t.Errorf("offline pull of an uncached repository: %v", err)
	}
	if _, err := c.Pull(context.Background(), "org/tiny", PullOptions{Revision: commitB}); !errors.Is(err, ErrOffline) {
		t.Errorf("offline pull of an uncached commit: %v", err)
	}
	c.Offline = false
	dir, err := c.Resolve(context.Background(), "org/tiny", PullOptions{})
	if err != nil || dir != s.Dir {
		t.Fatalf("resolve: %s, %v", dir, err)
	}
	if n := f.requestCount() - before; n != 0 {
		t.Errorf("offline pulls and a cached resolve made %d requests: %v", n, f.requests[before:])
	}
	local := t.TempDir()
	if dir, err := c.Resolve(context.Background(), local, PullOptions{}); err != nil || dir != local {
		t.Errorf("local path resolved to %s, %v", dir, err)
	}
	if _, err := c.Resolve(context.Background(), "./missing/dir", PullOptions{}); err == nil {
		t.Error("a missing local path resolved")
	}
}

// TestFromEnv reads huggingface_hub's environment variables.
func TestFromEnv(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv("HF_ENDPOINT", "http://hub.example/")
	t.Setenv("HF_HUB_OFFLINE", "1")
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_file\n"), 0o600)
	c := FromEnv()
	if c.Cache != filepath.Join(home, "hub") || c.Token != "hf_file" || c.Endpoint != "http://hub.example" || !c.Offline {
		t.Fatalf("%+v", c)
	}
	t.Setenv("HF_TOKEN", "hf_env")
	t.Setenv("HF_HUB_CACHE", "/x/cache")
	if c := FromEnv(); c.Token != "hf_env" || c.Cache != "/x/cache" {
		t.Fatalf("%+v", c)
	}
}

// TestPullDiskFull: a download larger than the free space is refused
// before any file is fetched, with the sizes named.
func TestPullDiskFull(t *testing.T) {
	if _, ok := freeSpace(t.TempDir()); !ok {
		t.Skip("free space is not known on this system")
	}
	f := newFakeHub(t)
	f.add("model", "org/tiny", commitA, tinyRepo(), "model.safetensors")
	old := freeSpace
	freeSpace = func(string) (int64, bool) { return 1000, true }
	defer func() { freeSpace = old }()
	_, err := f.client(t).Pull(context.Background(), "org/tiny", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "300029 bytes needed, 1000 free") {
		t.Fatalf("error %v", err)
	}
	if n := f.servedBytes("org/tiny/model.safetensors"); n != 0 {
		t.Errorf("%d bytes downloaded", n)
	}
}

// TestPullHubUnreachable: when the hub cannot be reached (not offline
// mode), Pull falls back on a complete cached snapshot, as huggingface_hub
// does.
func TestPullHubUnreachable(t *testing.T) {
	f := newFakeHub(t)
	f.add("model", "org/tiny", commitA, tinyRepo(), "model.safetensors")
	c := f.client(t)
	s, err := c.Pull(context.Background(), "org/tiny", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.hub.Close()
	s2, err := c.Pull(context.Background(), "org/tiny", PullOptions{})
	if err != nil || s2.Dir != s.Dir {
		t.Fatalf("pull with the hub down: %v", err)
	}
	if _, err := c.Pull(context.Background(), "org/other", PullOptions{}); err == nil {
		t.Fatal("an uncached repository pulled with the hub down")
	}
}

// TestRevisionsAndCommits: a revision with slashes (the parquet conversion
// branch) is sent escaped and recorded as refs/refs/convert/parquet, as
// huggingface_hub does; a file served from another commit than the listing
// is refused.
func TestRevisionsAndCommits(t *testing.T) {
	f := newFakeHub(t)
	f.add("dataset", "org/pairs", commitB, map[string][]byte{"default/train/0000.parquet": []byte("x")})
	c := f.client(t)
	s, err := c.Pull(context.Background(), "org/pairs", PullOptions{Type: Dataset, Revision: "refs/convert/parquet"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(f.requests, "\n"), "GET /api/datasets/org/pairs/revision/refs%2Fconvert%2Fparquet") {
		t.Errorf("revision not escaped: %v", f.requests)
	}
	b, err := os.ReadFile(filepath.Join(c.Cache, "datasets--org--pairs", "refs", "refs", "convert", "parquet"))
	if err != nil || string(b) != commitB || s.Commit != commitB {
		t.Fatalf("ref %q, %v; snapshot %s", b, err, s.Commit)
	}
	if got, err := c.Cached(Dataset, "org/pairs", "refs/convert/parquet", nil); err != nil || got.Dir != s.Dir {
		t.Fatalf("cached: %v", err)
	}
	f.staleCommit = true
	f.add("model", "org/tiny", commitA, tinyRepo())
	if _, err := c.Pull(context.Background(), "org/tiny", PullOptions{}); err == nil || !strings.Contains(err.Error(), "served commit") {
		t.Fatalf("stale commit: %v", err)
	}
}

// TestPullStalledConnection: a connection that stops sending after
// 120,000 bytes and never ends (the stall limit lowered to 100 ms) is cut
// and resumed: the file arrives whole and no byte is sent twice. Without
// the cut, Pull would wait forever.
func TestPullStalledConnection(t *testing.T) {
	old := stallTimeout
	stallTimeout = 100 * time.Millisecond
	defer func() { stallTimeout = old }()
	f := newFakeHub(t)
	f.add("model", "org/tiny", commitA, tinyRepo(), "model.safetensors")
	f.dropAfter["org/tiny/model.safetensors"] = 120_000
	f.stall = make(chan struct{})
	t.Cleanup(func() { close(f.stall) })
	s, err := f.client(t).Pull(context.Background(), "org/tiny", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.servedBytes("org/tiny/model.safetensors"); got != 300_000 {
		t.Errorf("%d bytes sent for a 300000-byte file", got)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, "model.safetensors"))
	if sha256Hex(b) != sha256Hex(tinyRepo()["model.safetensors"]) {
		t.Fatal("resumed file differs")
	}
}
