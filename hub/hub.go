// Package hub is a client of the Hugging Face hub's HTTP API: it downloads
// model and dataset repositories into huggingface_hub's cache layout
// ($HF_HUB_CACHE or $HF_HOME/hub: models--ORG--NAME/{blobs,snapshots,refs,
// trees}), so Python tools and smaug share one cache; resumes interrupted
// downloads with HTTP ranges; verifies sizes, LFS sha256 and git blob ids;
// works offline from the cache (HF_HUB_OFFLINE=1); resolves a model or data
// argument that is either a local path or a repo id (Resolve); and uploads
// a folder through the hub's commit API with LFS for large files (Push).
package hub

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultEndpoint is the hub's address when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the branch used when none is given.
const DefaultRevision = "main"

// RepoType is "model" or "dataset".
type RepoType string

// The repository types.
const (
	Model   RepoType = "model"
	Dataset RepoType = "dataset"
)

// ParseRepoType parses "model" or "dataset" ("" is a model).
func ParseRepoType(s string) (RepoType, error) {
	switch s {
	case "", "model":
		return Model, nil
	case "dataset":
		return Dataset, nil
	}
	return "", fmt.Errorf("repo type %q is not supported (model or dataset)", s)
}

// urlPrefix is the path prefix of the type in the hub's file URLs.
func (t RepoType) urlPrefix() string {
	if t == Dataset {
		return "datasets/"
	}
	return ""
}

// Client talks to one hub endpoint and keeps one cache folder. The zero
// value is not usable: start from FromEnv.
type Client struct {
	// Endpoint is the hub's base URL (HF_ENDPOINT).
	Endpoint string
	// Token authenticates requests (HF_TOKEN, or the token file); "" sends
	// none.
	Token string
	// Cache is the cache folder (HF_HUB_CACHE, or $HF_HOME/hub, or
	// ~/.cache/huggingface/hub).
	Cache string
	// Offline serves only what the cache holds (HF_HUB_OFFLINE=1).
	Offline bool
	// HTTP is the client used for requests.
	HTTP *http.Client
	// Workers is the number of files downloaded at once (4 when 0).
	Workers int
	// Retries is the number of times a dropped download is resumed (5
	// when 0).
	Retries int
}

// FromEnv returns a client configured as huggingface_hub configures
// itself: HF_ENDPOINT, HF_TOKEN (else the file at HF_TOKEN_PATH or
// $HF_HOME/token), HF_HUB_CACHE or HF_HOME, HF_HUB_OFFLINE.
func FromEnv() *Client {
	home := os.Getenv("HF_HOME")
	if home == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			home = filepath.Join(x, "huggingface")
		} else if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".cache", "huggingface")
		}
	}
	c := &Client{Endpoint: DefaultEndpoint, Cache: filepath.Join(home, "hub")}
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		c.Endpoint = strings.TrimRight(e, "/")
	}
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		c.Cache = d
	}
	c.Token = os.Getenv("HF_TOKEN")
	if c.Token == "" {
		path := os.Getenv("HF_TOKEN_PATH")
		if path == "" {
			path = filepath.Join(home, "token")
		}
		if b, err := os.ReadFile(path); err == nil {
			c.Token = strings.TrimSpace(string(b))
		}
	}
	switch strings.ToLower(os.Getenv("HF_HUB_OFFLINE")) {
	case "1", "true", "yes", "on":
		c.Offline = true
	}
	return c
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 0, Transport: http.DefaultTransport}
}

func (c *Client) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return 4
}

func (c *Client) retries() int {
	if c.Retries > 0 {
		return c.Retries
	}
	return 5
}

// retryDelay is the pause before resuming a dropped download.
var retryDelay = 200 * time.Millisecond

// stallTimeout is how long a download may receive nothing before its
// connection is cut and resumed.
var stallTimeout = 60 * time.Second

var (
	repoIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)
	commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidRepoID reports whether s has the form of a hub repo id ("name" or
// "org/name").
func ValidRepoID(s string) bool {
	return repoIDPattern.MatchString(s) && !strings.Contains(s, "--") && !strings.Contains(s, "..")
}

// FolderName is huggingface_hub's cache folder of a repository:
// "models--ORG--NAME" or "datasets--ORG--NAME".
func FolderName(t RepoType, repoID string) string {
	return string(t) + "s--" + strings.ReplaceAll(repoID, "/", "--")
}

// repoDir is the repository's folder in the cache.
func (c *Client) repoDir(t RepoType, repoID string) string {
	return filepath.Join(c.Cache, FolderName(t, repoID))
}

// ErrOffline is returned when offline mode needs a file the cache lacks.
var ErrOffline = errors.New("offline mode (HF_HUB_OFFLINE=1) and not in the cache")

// HTTPError is an error answer of the hub, with advice on what to do.
type HTTPError struct {
	Status int
	// Code is the hub's X-Error-Code header (GatedRepo, RepoNotFound,
	// RevisionNotFound, EntryNotFound), "" when absent.
	Code    string
	URL     string
	Message string
}

// Error gives the advice, the status and the URL.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s (HTTP %d from %s)", e.Message, e.Status, e.URL)
}

// httpError explains a failed response.
func (c *Client) httpError(resp *http.Response, what string) error {
	code := resp.Header.Get("X-Error-Code")
	e := &HTTPError{Status: resp.StatusCode, Code: code, URL: resp.Request.URL.String()}
	switch {
	case code == "GatedRepo":
		e.Message = what + ": the repository is gated: accept its conditions on its hub page, then set HF_TOKEN (or write the token to $HF_HOME/token) for the account that accepted"
	case resp.StatusCode == http.StatusUnauthorized && c.Token == "":
		e.Message = what + ": authentication needed (a private or gated repository, or no such repository): set HF_TOKEN or write a token to $HF_HOME/token"
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Message = what + ": the token was refused or lacks access to this repository: check HF_TOKEN (for a gated repository, accept its conditions on its hub page)"
	case code == "RevisionNotFound":
		e.Message = what + ": no such revision: check --revision (a branch, tag or commit hash)"
	case code == "EntryNotFound":
		e.Message = what + ": no such file at this revision"
	case resp.StatusCode == http.StatusNotFound:
		e.Message = what + ": not found: check the repository id, --repo-type (model or dataset) and --revision"
	default:
		e.Message = fmt.Sprintf("%s: the hub answered %s", what, resp.Status)
	}
	return e
}

// newRequest builds a request to the hub with the token.
func (c *Client) newRequest(method, url string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("User-Agent", "smaug")
	return req, nil
}
