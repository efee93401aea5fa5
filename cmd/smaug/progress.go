package main

import (
	"os"

	"github.com/schollz/progressbar/v3"
)

// newBar returns a progress bar on stderr for n units of work. It stays
// silent when stderr is not a terminal, so logs and CI output stay clean.
func newBar(n int, desc string) *progressbar.ProgressBar { return makeBar(n, desc, true) }

// makeBar is newBar that is also silent when visible is false (--no-progress).
func makeBar(n int, desc string, visible bool) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100_000_000),
	}
	if fi, err := os.Stderr.Stat(); !visible || err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		opts = append(opts, progressbar.OptionSetVisibility(false))
	}
	return progressbar.NewOptions(n, opts...)
}
