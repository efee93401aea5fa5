package serve

import (
	"context"
	"net"
	"testing"

	"github.com/smaug-dev/smaug/internal/testmodel"
	"github.com/smaug-dev/smaug/model"
)

// testConfig loads the test model from dir with ForModel, as "tiny".
func testConfig(t testing.TB, dir string) Config {
	t.Helper()
	m, err := model.LoadFrozen(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ForModel(m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ChatTemplate == nil || len(cfg.StopIDs) != 1 || cfg.StopIDs[0] != testmodel.EOS {
		t.Fatalf("ForModel: template %v, stop ids %v (want [%d])", cfg.ChatTemplate != nil, cfg.StopIDs, testmodel.EOS)
	}
	cfg.ModelID = "tiny"
	return cfg
}

// startServer runs a server on a loopback port and returns its base URL
// and a function that shuts it down (and waits for Run to return).
func startServer(t testing.TB, cfg Config) (string, func() error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, s)
}

// startServerWith is startServer for a server already made.
func startServerWith(t testing.TB, s *Server) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	stopped := false
	var runErr error
	stop := func() error {
		if !stopped {
			cancel()
			runErr, stopped = <-done, true
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), stop
}
