package main

import "os"

// stderrIsTerminal reports whether stderr is a terminal, where progress
// bars show; elsewhere (CI, nohup, a notebook) commands write log lines.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
