package chat

import (
	"bufio"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smaug-dev/smaug/internal/fuzzlimit"
	"github.com/smaug-dev/smaug/internal/sharedtest"
)

// fuzzSeeds are small templates touching most of the grammar.
var fuzzSeeds = []string{
	"{% for m in messages %}{{ '<|' + m.role + '|>' + m.content | trim }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
	"{%- set ns = namespace(x=0) -%}{%- for i in range(3) if i is odd %}{% set ns.x = ns.x + i %}{% else %}{% endfor %}{{ ns.x }}",
	"{% macro m(a, b=2) %}{{ a ~ b }}{{ caller() if caller is defined }}{% endmacro %}{% call m(1) %}c{% endcall %}{{ m(*[1], **{'b': 3}) }}",
	"{{ messages[1:] | map(attribute='content') | join(', ') }}{{ tools | tojson(indent=2) }}{{ x[::-1] }}",
	"{% filter upper %}{% raw %}{{ raw }}{% endraw %}{% endfilter %}{% set b | trim %} x {% endset %}{{ b }}",
	"{{ 'a %s %d' % ('b', 3) }}{{ 10 // 3 ** 2 - -1 }}{{ d.items() | list }}{{ 'x'.split() }}{{ 1 if 2 else 3 }}",
	"{# comment #}{% with a = [1, 2] %}{{ a | sum }}{{ a | sort(reverse=true) | first }}{% endwith %}{{ raise_exception('e') }}",
	"{{ strftime_now('%d %b %Y') }}{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
}

// fuzzRender parses and renders src with a fixed conversation; only a
// panic or a hang is a failure, errors are expected for most inputs.
func fuzzRender(src string) {
	tmpl, err := Parse(src)
	if err != nil {
		return
	}
	msgs := []Message{
		{"role": "system", "content": "S"},
		{"role": "user", "content": []any{map[string]any{"type": "text", "text": "T"}}},
		{"role": "assistant", "content": "A", "tool_calls": []any{map[string]any{"function": map[string]any{"name": "f", "arguments": map[string]any{"x": 1}}}}},
	}
	tmpl.Render(msgs, Options{AddGenerationPrompt: true, BOSToken: "<s>", EOSToken: "</s>",
		Tools: []any{map[string]any{"type": "function"}}, Extra: map[string]any{"x": "xyz", "d": map[string]any{"k": 1.5}}})
}

// fuzzMaxAlloc is what one render may allocate in all before the fuzz
// targets call it a blow-up: four times the sandbox's per-render cap on
// built strings and lists (maxBuilt), leaving room for parsing and output.
const fuzzMaxAlloc = 4 * maxBuilt

func FuzzParseRender(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	fuzzlimit.Set(f)
	f.Fuzz(func(t *testing.T, src string) {
		fuzzlimit.Run(t, fuzzMaxAlloc, src, func() { fuzzRender(src) })
	})
}

// fragments are spliced into templates to reach unusual token sequences.
var fragments = []string{
	"{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "|", "(", ")", "[", "]", "{", "}", ",", ":", ".", "'", "\"", "\\",
	" is ", " not ", " in ", " and ", " or ", " if ", " else ", "loop.", "caller()", "range(", "99999", "-1", "0",
	"{% for x in y %}", "{% endfor %}", "{% if x %}", "{% endif %}", "{% macro q(a) %}", "{% endmacro %}",
	"{% set z = ", "{% break %}", "{{ q(q) }}", "* 1000", "** 99", "[::-2]", "|tojson", "|indent(3)", "\n", " ",
}

// TestRandomTemplatesDoNotPanic mutates the seeds and the fixture's real
// templates at random (fixed seed) for a couple of seconds and renders
// each result: no input may panic or hang.
func TestRandomTemplatesDoNotPanic(t *testing.T) {
	corpus := append([]string{}, fuzzSeeds...)
	if root := sharedtest.Root(); root != "" {
		corpus = append(corpus, fixtureTemplates(t)...)
	}
	fuzzlimit.Set(t)
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		src := corpus[rng.IntN(len(corpus))]
		for range 1 + rng.IntN(4) {
			src = mutate(rng, src)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic %v on template %q", p, src)
				}
			}()
			fuzzlimit.Run(t, fuzzMaxAlloc, src, func() { fuzzRender(src) })
		}()
	}
	t.Logf("%d random templates rendered without a panic", n)
}

// TestDeepNesting checks that absurd nesting is a syntax error, not a
// stack overflow.
func TestDeepNesting(t *testing.T) {
	n := 100000
	for name, src := range map[string]string{
		"parentheses": "{{ " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + " }}",
		"not":         "{{ " + strings.Repeat("not ", n) + "1 }}",
		"unary minus": "{{ " + strings.Repeat("-", n) + "1 }}",
		"lists":       "{{ " + strings.Repeat("[", n) + strings.Repeat("]", n) + " }}",
		"if blocks":   strings.Repeat("{% if 1 %}", n) + strings.Repeat("{% endif %}", n),
	} {
		_, err := Parse(src)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, "nested too deeply") {
			t.Errorf("%s: got %v, want a nesting error", name, err)
		}
	}
}

func mutate(rng *rand.Rand, s string) string {
	if len(s) == 0 {
		return fragments[rng.IntN(len(fragments))]
	}
	i := rng.IntN(len(s) + 1)
	switch rng.IntN(4) {
	case 0: // insert a fragment
		return s[:i] + fragments[rng.IntN(len(fragments))] + s[i:]
	case 1: // delete a span
		j := min(len(s), i+rng.IntN(8)+1)
		return s[:i] + s[j:]
	case 2: // duplicate a span
		j := min(len(s), i+rng.IntN(40)+1)
		return s[:j] + s[i:j] + s[j:]
	default: // insert a random byte
		return s[:i] + string(rune(rng.IntN(128))) + s[i:]
	}
}

// fixtureTemplates returns the distinct templates of the fixture file.
func fixtureTemplates(t *testing.T) []string {
	f, err := os.Open(sharedtest.Path(t, "fixtures/chat/renders.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var row struct{ Template string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		if !seen[row.Template] && strings.TrimSpace(row.Template) != "" {
			seen[row.Template] = true
			out = append(out, row.Template)
		}
	}
	return out
}
