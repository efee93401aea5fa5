package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestParseGemmShape checks the MxNxK[:AB] syntax of smaug bench peak.
func TestParseGemmShape(t *testing.T) {
	tests := []struct {
		in      string
		want    gemmShape
		wantErr string
	}{
		{"1024x1024x1024", gemmShape{m: 1024, n: 1024, k: 1024}, ""},
		{"2048x1536x576:nt", gemmShape{transB: true, m: 2048, n: 1536, k: 576}, ""},
		{"3x4x5:tn", gemmShape{transA: true, m: 3, n: 4, k: 5}, ""},
		{"3x4", gemmShape{}, "want MxNxK"},
		{"3x0x5", gemmShape{}, `dimension "0"`},
		{"3x4x5:x", gemmShape{}, "two of n, t"},
	}
	for _, tt := range tests {
		got, err := parseGemmShape(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseGemmShape(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseGemmShape(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
}

// TestProcessSide runs a side whose command prints log lines and then the
// JSON object, as the bench children and the torch script do.
func TestProcessSide(t *testing.T) {
	p := &processSide{name: "fake", cmd: func(ctx context.Context) *exec.Cmd {
		return exec.CommandContext(ctx, "sh", "-c", `echo warming up; echo '{"kernels":"pure-go (x)","tokens_per_s":12.5,"peak_rss_mib":300}'`)
	}}
	r, err := p.side().Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r["tokens_per_s"] != 12.5 || p.label != "pure-go (x)" || p.rss != 300 {
		t.Errorf("rates %v, label %q, rss %g", r, p.label, p.rss)
	}
	torch := &processSide{name: "torch", hint: " (hint)", cmd: func(ctx context.Context) *exec.Cmd {
		return exec.CommandContext(ctx, "sh", "-c", "exit 3")
	}}
	if _, err := torch.side().Run(context.Background()); err == nil || !strings.Contains(err.Error(), "(hint)") {
		t.Errorf("failing side: err = %v, want the hint", err)
	}
}

// TestBenchPeak runs smaug bench peak on small products with short windows
// and checks the report's lines (the figures themselves are not checked:
// timings vary).
func TestBenchPeak(t *testing.T) {
	var out bytes.Buffer
	shapes := []gemmShape{{m: 64, n: 48, k: 32}, {transB: true, m: 33, n: 17, k: 65}}
	if err := benchPeak(context.Background(), &out, shapes, 3, 0, 5*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"machine: ", "FMA peak (", "64x48x32 ", "33x17x65:nt ", "pure-go ("} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if _, err := protocolConfig(2, 0, nil); err == nil {
		t.Error("2 rounds accepted")
	}
}
