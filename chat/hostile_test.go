package chat

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestSandboxMemoryCap renders templates that build ever larger strings
// and lists with every kind of operation, under a 1 GiB soft memory limit:
// each must stop with a MemoryError (the 64 MiB cap on one value, or the
// 256 MiB cap on all values a render builds) instead of exhausting
// memory. Without the checks the doubling templates ask for 8 GiB at the
// 33rd doubling. The test also bounds what a render allocated in all.
func TestSandboxMemoryCap(t *testing.T) {
	// Each step doubles ns.s (the replace steps keep one "a" in it).
	double := func(step string) string {
		return `{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ` + step + ` %}{% endfor %}{{ ns.s | length }}`
	}
	cases := []struct{ name, tmpl, want string }{
		{"str.replace doubling", double(`ns.s.replace('a', ns.s)`), "MemoryError: template built a string or list larger than 67108864 bytes"},
		{"replace filter doubling", double(`ns.s | replace('a', ns.s)`), "larger than 67108864 bytes"},
		{"str.join doubling", double(`''.join([ns.s, ns.s])`), "larger than 67108864 bytes"},
		{"join filter doubling", double(`[ns.s, ns.s] | join`), "larger than 67108864 bytes"},
		{"concat doubling", double(`ns.s ~ ns.s`), "larger than 67108864 bytes"},
		{"plus doubling", double(`ns.s + ns.s`), "larger than 67108864 bytes"},
		{"times doubling", double(`ns.s * 2`), "larger than 67108864 bytes"},
		{"format doubling", double(`'%s%s' % (ns.s, ns.s)`), "larger than 67108864 bytes"},
		// One step asking for 1e12 bytes: only a check before building stops it.
		{"str.replace at once", `{{ ('x' * 1000000).replace('x', 'y' * 1000000) | length }}`, "larger than 67108864 bytes"},
		{"replace filter at once", `{{ ('x' * 1000000) | replace('x', 'y' * 1000000) | length }}`, "larger than 67108864 bytes"},
		{"str.join at once", `{{ ('x' * 10000000).join([''] * 100000) | length }}`, "larger than 67108864 bytes"},
		{"join filter at once", `{{ ([''] * 100000) | join('x' * 10000000) | length }}`, "larger than 67108864 bytes"},
		{"split into many items", `{{ ('a,' * 30000000).split(',') | length }}`, "larger than 67108864 bytes"},
		{"split on whitespace", `{{ ('a ' * 30000000).split() | length }}`, "larger than 67108864 bytes"},
		{"list filter of a long string", `{{ ('ab' * 30000000) | list | length }}`, "larger than 67108864 bytes"},
		{"loop over a long string", `{% for c in 'ab' * 30000000 %}{% endfor %}`, "larger than 67108864 bytes"},
		{"list times", `{{ ([1] * 5000000) | length }}`, "larger than 67108864 bytes"},
		{"list plus", `{% set l = [1] * 4000000 %}{{ (l + l) | length }}`, "larger than 67108864 bytes"},
		{"batch fill", `{{ range(1000) | batch(10000000, 0) | list | length }}`, "larger than 67108864 bytes"},
		{"sum of lists", `{{ ([[1] * 1000000] * 100) | sum(start=[]) | length }}`, "MemoryError"},
		{"tojson indent", `{{ [[[[1]]]] | tojson(indent='x' * 30000000) }}`, "larger than 67108864 bytes"},
		{"many large set blocks kept", `{% set big = 'x' * 40000000 %}{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set x %}{{ big }}{% endset %}{% set ns.l = ns.l + [x] %}{% endfor %}`,
			"MemoryError: template built more than 268435456 bytes of strings and lists in all"},
		{"many large strings kept", `{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = ns.l + [('x' * 40000000) ~ i] %}{% endfor %}`,
			"MemoryError: template built more than 268435456 bytes of strings and lists in all"},
	}
	old := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(old)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl, err := Parse(c.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, err := tmpl.Render(nil, Options{})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %d bytes of output and error %v, want an error containing %q", len(out), err, c.want)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 2<<30 {
				t.Errorf("render allocated %d bytes before failing, want under 2 GiB", a)
			}
		})
	}
}

// TestIntegersAndFormatsFollowPython checks integer overflow and %
// formatting against Python: where a result fits in 64 bits it equals what
// jinja2 3.1.6 (ImmutableSandboxedEnvironment) renders, where it does not
// the sandbox raises instead of wrapping around.
func TestIntegersAndFormatsFollowPython(t *testing.T) {
	cases := []struct{ tmpl, want, err string }{
		// Outputs rendered by jinja2 3.1.6.
		{tmpl: `{{ '%f|%010f|%+E|%-6f|%F|% f|%8.2g' % ('inf'|float, '-inf'|float, 'inf'|float, 'nan'|float, 'nan'|float, 'inf'|float, 'inf'|float) }}`, want: `inf|-000000inf|+INF|nan   |NAN| inf|     inf`},
		{tmpl: `{{ '%#o %#x %d %.3d %05d' % (8, 255, 3.9, 5, -3) }}`, want: `0o10 0xff 3 005 -0003`},
		{tmpl: `{{ 9223372036854775807 - 1 }} {{ -9223372036854775807 - 1 }} {{ 3037000499 * 3037000499 }} {{ 2 ** 62 }} {{ (-2) ** 63 }}`, want: `9223372036854775806 -9223372036854775808 9223372030926249001 4611686018427387904 -9223372036854775808`},
		{tmpl: `{{ range(9223372036854775806, 9223372036854775807) | list }} {{ range(-9223372036854775807, -9223372036854775807 - 1, -1) | list }}`, want: `[9223372036854775806] [-9223372036854775807]`},
		{tmpl: `{{ '%x' % 3.5 }}`, err: `TypeError: %x format: an integer is required, not float`},
		// Python computes these exactly; the sandbox raises.
		{tmpl: `{{ 9223372036854775807 + 1 }}`, err: `OverflowError: integer addition overflows 64 bits`},
		{tmpl: `{{ -9223372036854775807 - 2 }}`, err: `OverflowError: integer subtraction overflows 64 bits`},
		{tmpl: `{{ 3037000500 * 3037000500 }}`, err: `OverflowError: integer multiplication overflows 64 bits`},
		{tmpl: `{{ 2 ** 64 }}`, err: `OverflowError: integer power overflows 64 bits`},
		{tmpl: `{{ -(-9223372036854775807 - 1) }}`, err: `OverflowError: integer subtraction overflows 64 bits`},
		{tmpl: `{{ (-9223372036854775807 - 1) // -1 }}`, err: `OverflowError: integer division overflows 64 bits`},
		{tmpl: `{{ (-9223372036854775807 - 1) | abs }}`, err: `OverflowError`},
		{tmpl: `{{ ([9223372036854775807, 1]) | sum }}`, err: `OverflowError: integer addition`},
		{tmpl: `{{ '1e30' | int }}`, err: `OverflowError: integer conversion of 1e+30 overflows 64 bits`},
		{tmpl: `{{ '99999999999999999999' | int }}`, err: `OverflowError: integer conversion of '99999999999999999999'`},
		{tmpl: `{{ '%d' % 1e300 }}`, err: `OverflowError: integer conversion of 1e+300`},
		{tmpl: `{{ '%d' % ('inf' | float) }}`, err: `OverflowError: cannot convert float infinity to integer`},
		{tmpl: `{{ 99999999999999999999 }}`, err: `integer 99999999999999999999 does not fit in 64 bits`},
		{tmpl: `{{ range(-9223372036854775807, 9223372036854775807) | length }}`, err: `OverflowError: Range too big`},
		{tmpl: `{{ '%99999999s' % 'a' }}`, err: `ValueError: % format width or precision 99999999 is larger than the sandbox allows`},
		{tmpl: `{{ '%.2000000f' % 1.5 }}`, err: `ValueError: % format width or precision 2000000`},
	}
	for _, c := range cases {
		tmpl, err := Parse(c.tmpl)
		var out string
		if err == nil {
			out, err = tmpl.Render(nil, Options{})
		}
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: got %q, %v; want error containing %q", c.tmpl, out, err, c.err)
		case c.err == "" && (err != nil || out != c.want):
			t.Errorf("%s: got %q, %v; want %q", c.tmpl, out, err, c.want)
		}
	}
}
