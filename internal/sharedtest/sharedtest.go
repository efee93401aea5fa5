// Package sharedtest locates the project's reference material in ../shared
// (beside the repository root) for tests and benchmarks, and skips the test
// with a message naming the missing path when it is absent — except under CI
// (CI=true), where ../shared is always laid out and a missing path is a
// failure, so a broken path can never turn reference tests into silent skips.
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the absolute path of the shared reference folder: $SMAUG_SHARED
// when set, else ../shared relative to the directory holding go.mod. It
// returns "" when no such folder exists.
func Root() string {
	if d := os.Getenv("SMAUG_SHARED"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(filepath.Dir(dir), "shared")
			if st, err := os.Stat(s); err == nil && st.IsDir() {
				return s
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path returns the absolute path of rel inside the shared folder, skipping
// tb when the shared folder or the path itself is missing.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	root := Root()
	if root == "" {
		missing(tb, "reference material not found: ../shared (beside the repository root) is absent; set SMAUG_SHARED to its path to run this test")
	}
	p := filepath.Join(root, rel)
	if _, err := os.Stat(p); err != nil {
		missing(tb, "reference file not found: "+p)
	}
	return p
}

// InCI reports whether the tests run under CI (CI=true or CI=1), where the
// shared folder must be present.
func InCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// missing skips tb with msg, or fails it under CI.
func missing(tb testing.TB, msg string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s (CI=true: the shared folder must be present)", msg)
	}
	tb.Skip(msg)
}
