package chat

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestFormatFloat compares with Python's repr(float), copied from
// CPython 3.11 output.
func TestFormatFloat(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{123456789.123, "123456789.123"},
		{1.5e-7, "1.5e-07"},
		{0.0001, "0.0001"},
		{math.Copysign(0, -1), "-0.0"},
		{5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.1, "0.1"},
		{100, "100.0"},
		{1234567890123456.7, "1234567890123456.8"},
		{2.5e-5, "2.5e-05"},
		{12345678901234567.0, "1.2345678901234568e+16"},
		{math.Inf(-1), "-inf"},
	}
	for _, c := range cases {
		if got := formatFloat(c.f, false); got != c.want {
			t.Errorf("formatFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	// json.dumps spells the non-finite values differently.
	for f, want := range map[float64]string{math.Inf(1): "Infinity", math.Inf(-1): "-Infinity"} {
		if got := formatFloat(f, true); got != want {
			t.Errorf("formatFloat(%v, json) = %q, want %q", f, got, want)
		}
	}
}

// TestErrorLines checks that syntax and render errors carry the template
// line they come from (counted by hand in each template).
func TestErrorLines(t *testing.T) {
	cases := []struct {
		name, tmpl string
		parse      bool // the error comes from Parse
		line       int
		msg        string
	}{
		{"unclosed if", "a\n{% if x %}\nb\n", true, 3, "expected 'elif' or 'else' or 'endif'"},
		{"unknown tag", "\n\n{% frobnicate %}", true, 3, "unknown tag 'frobnicate'"},
		{"unknown filter", "{{ x }}\n{{ x | nosuchfilter }}", true, 2, "no filter named 'nosuchfilter'"},
		{"unknown test", "{% if x is nosuchtest %}{% endif %}", true, 1, "no test named 'nosuchtest'"},
		{"unterminated string", "line1\n{{ 'abc }}", true, 2, "unexpected end of string literal"},
		{"unclosed print", "{{ x", true, 1, "expected end of print statement"},
		{"unclosed comment", "\n{# note", true, 2, "missing end of comment tag"},
		{"break outside loop", "{% break %}", true, 1, "'break' outside of a loop"},
		{"stray endfor", "x\n{% endfor %}", true, 2, "unknown tag 'endfor'"},
		{"raise in macro", "{% macro m() %}\n\n{{ raise_exception('boom') }}\n{% endmacro %}\n{{ m() }}", false, 3, "boom"},
		{"undefined on line 4", "{% for m in messages %}\n{{ m }}\n{% endfor %}\n{{ nothing.here }}", false, 4, "'nothing' is undefined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl, err := Parse(c.tmpl)
			if err == nil && !c.parse {
				_, err = tmpl.Render([]Message{{"role": "user", "content": "hi"}}, Options{})
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			if e.Line != c.line || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("got line %d %q, want line %d containing %q", e.Line, e.Msg, c.line, c.msg)
			}
		})
	}
}

// TestRenderOptions checks that Options reach the template as
// transformers' variables: tools and documents None unless given, Go maps
// walked in sorted key order, Extra overriding.
func TestRenderOptions(t *testing.T) {
	tmpl, err := Parse("{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|{{ documents is none }}|{{ messages[0] | tojson }}|{{ flag }}")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{"role": "user", "content": "hi", "extra": map[string]any{"z": 1, "a": []int{1, 2}}}}
	got, err := tmpl.Render(msgs, Options{BOSToken: "<s>", EOSToken: "</s>", AddGenerationPrompt: true,
		Tools: []any{map[string]any{"name": "f"}}, Extra: map[string]any{"flag": false}})
	if err != nil {
		t.Fatal(err)
	}
	want := `<s>|</s>|True|[{'name': 'f'}]|True|{"content": "hi", "extra": {"a": [1, 2], "z": 1}, "role": "user"}|False`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := tmpl.Render([]Message{{"role": "user", "content": make(chan int)}}, Options{}); err == nil {
		t.Error("a channel in a message rendered without error")
	}
}

// TestDecodeJSONOrder checks that objects keep file order (Python's
// json.loads order) through tojson, and that numbers keep int/float.
func TestDecodeJSONOrder(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"z": 1, "a": {"y": 2.0, "b": [3, 4.5e1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := toJSON(v, jsonOptions{itemSep: ", ", keySep: ": "})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"z": 1, "a": {"y": 2.0, "b": [3, 45.0]}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"[\n  {\"role\": \"user\",}\n]", "line 2, column 19"},
		{"[{\"role\": \"user\"}", "unexpected end of JSON input"},
		{`{"role": "user"}`, "want a JSON list of messages, got an object"},
		{`[{"role": "user"}, 3]`, "messages[1]: want an object, got a number"},
		{`[{"content": "x"}]`, "messages[0]: missing field role"},
		{`[{"role": null}]`, "messages[0]: field role: want a string, got null"},
		{`[] []`, "line 1, column 4"},
	}
	for _, c := range cases {
		_, err := DecodeMessages([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeMessages(%q) = %v, want error containing %q", c.in, err, c.want)
		}
	}
}

// TestStrftimeNow renders strftime_now with a fixed clock; the expected
// text is CPython's datetime(2024, 7, 26, 9, 5, 3).strftime of the same
// format.
func TestStrftimeNow(t *testing.T) {
	saved := now
	defer func() { now = saved }()
	now = func() time.Time { return time.Date(2024, 7, 26, 9, 5, 3, 0, time.UTC) }
	tmpl, err := Parse(`{{ strftime_now("%d %b %Y %H:%M:%S %A %j %I%p %-d %y %B %a %m %e %%") }}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "26 Jul 2024 09:05:03 Friday 208 09AM 26 24 July Fri 07 26 %"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestConcurrentRender renders one Template from several goroutines (run
// with -race to check that rendering shares no mutable state).
func TestConcurrentRender(t *testing.T) {
	tmpl, err := Parse(`{% set ns = namespace(n=0) %}{% macro m(x) %}<{{ x }}>{% endmacro %}{% for msg in messages | selectattr('role', 'equalto', 'user') %}{% set ns.n = ns.n + 1 %}{{ m(msg.content) }}{% endfor %}{{ ns.n }}`)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}}
	const want = "<a><c>2"
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				got, err := tmpl.Render(msgs, Options{})
				if err == nil && got != want {
					err = fmt.Errorf("got %q, want %q", got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
