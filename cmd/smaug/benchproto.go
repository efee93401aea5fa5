package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/smaug-dev/smaug/abbench"
	"github.com/smaug-dev/smaug/cpuinfo"
	"github.com/smaug-dev/smaug/kernels"
)

// processSide is an abbench side that runs a command and reads the JSON
// object it prints last: its numeric fields are the rates, its "kernels"
// (smaug) or "torch" (the reference) string is kept for the report.
type processSide struct {
	name  string
	cmd   func(ctx context.Context) *exec.Cmd
	hint  string  // added to a failure's message
	label string  // last "kernels" or torch version seen
	rss   float64 // largest peak_rss_mib seen
}

func (p *processSide) side() abbench.Side {
	return abbench.Side{Name: p.name, Run: func(ctx context.Context) (map[string]float64, error) {
		c := p.cmd(ctx)
		c.Stderr = os.Stderr
		b, err := c.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w%s", c, err, p.hint)
		}
		var obj map[string]any
		if err := json.Unmarshal(lastLine(b), &obj); err != nil {
			return nil, fmt.Errorf("%s: output: %w", c, err)
		}
		rates := map[string]float64{}
		for k, v := range obj {
			switch v := v.(type) {
			case float64:
				rates[k] = v
			case string:
				if k == "kernels" {
					p.label = v
				}
				if k == "torch" {
					p.label = "torch " + v
				}
			}
		}
		p.rss = max(p.rss, rates["peak_rss_mib"])
		return rates, nil
	}}
}

// torchSide runs the PyTorch reference script on shape with Threads()
// threads.
func torchSide(python, script, shape string) *processSide {
	return &processSide{name: "torch " + shape, hint: " (the reference needs torch: apt-get install -y python3-torch)", cmd: func(ctx context.Context) *exec.Cmd {
		return exec.CommandContext(ctx, python, script, shape, strconv.Itoa(kernels.Threads()))
	}}
}

// protocolConfig checks --rounds and --warmup and returns the protocol
// with progress lines on stderr naming the side about to run.
func protocolConfig(rounds, warmup int, names func(i int) string) (abbench.Config, error) {
	if rounds < abbench.MinRounds {
		return abbench.Config{}, fmt.Errorf("--rounds must be ≥ %d, got %d", abbench.MinRounds, rounds)
	}
	if warmup < 0 {
		return abbench.Config{}, fmt.Errorf("--warmup must be ≥ 0, got %d", warmup)
	}
	return abbench.Config{Rounds: rounds, Warmup: warmup, Progress: func(round, side int) {
		what := fmt.Sprintf("round %d/%d", round+1, rounds)
		if round < 0 {
			what = fmt.Sprintf("warm-up %d/%d", round+warmup+1, warmup)
		}
		fmt.Fprintf(os.Stderr, "bench: %s: %s\n", what, names(side))
	}}, nil
}

// printMachine writes the header line every benchmark report starts with:
// the CPU model and flags, the thread count and the protocol.
func printMachine(out io.Writer, cfg abbench.Config, torch bool) {
	proto := fmt.Sprintf("%d warm-up + %d rounds", cfg.Warmup, cfg.Rounds)
	if torch {
		proto += ", smaug and torch in alternation (A B A B …)"
	}
	fmt.Fprintf(out, "machine: %s, %d threads; %s; figures are median (min–max) over the rounds\n",
		cpuinfo.String(), kernels.Threads(), proto)
}

// fmtRate formats a rate summary as "2919 (2800–3010)".
func fmtRate(s abbench.Summary, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Median, s.Min, s.Max)
}

// fmtRatio formats a ratio summary as "1.37× (1.30–1.41)".
func fmtRatio(s abbench.Summary, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", s.Median, s.Min, s.Max)
}
