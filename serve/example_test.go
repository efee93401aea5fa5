package serve_test

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"

	"github.com/smaug-dev/smaug/model"
	"github.com/smaug-dev/smaug/serve"
)

// Serving a model folder from a Go program, as smaug serve does: the
// tokenizer and chat template come from the folder, and Run serves until
// the context ends (then finishes the requests in flight).
func Example() {
	m, err := model.LoadFrozen("./smaug-tuned", false)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cfg, err := serve.ForModel(m, "./smaug-tuned")
	if err != nil {
		log.Fatal(err)
	}
	cfg.APIKey = os.Getenv("SMAUG_API_KEY")
	s, err := serve.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := s.Run(ctx, ln); err != nil {
		log.Fatal(err)
	}
}
