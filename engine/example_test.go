package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/smaug-dev/smaug/engine"
	"github.com/smaug-dev/smaug/model"
)

// Decoding several requests together: each Submit returns a stream of
// tokens; requests submitted while others run join the batch at its next
// step.
func Example() {
	m, err := model.LoadFrozen("./smaug-tuned", false)
	if err != nil {
		log.Fatal(err)
	}
	e, err := engine.New(engine.Config{Model: m, MaxConcurrency: 8})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	var streams []*engine.Stream
	for _, prompt := range [][]int{{1, 450, 4996}, {1, 3681, 338}} {
		s, err := e.Submit(ctx, engine.Request{Prompt: prompt, MaxNewTokens: 32,
			Sampling: model.Sampling{Temperature: 0.7, TopP: 0.9, Seed: 1}, StopIDs: m.Config.EOSTokenIDs})
		if err != nil {
			log.Fatal(err)
		}
		streams = append(streams, s)
	}
	for i, s := range streams {
		for tok := range s.Tokens {
			fmt.Println(i, tok.ID, tok.Logprob, tok.Finish)
		}
	}
}
