package chat

import (
	"errors"
	"testing"
)

// TestJinjaSemantics renders small templates that exercise one feature
// each. The expected outputs and error messages were produced by Python's
// jinja2 3.1.6 configured as transformers configures it
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
// transformers' tojson and raise_exception).
func TestJinjaSemantics(t *testing.T) {
	cases := []struct {
		name, tmpl, vars, want, err string
	}{
		{name: `trim_blocks`, tmpl: "{% if true %}\nyes\n{% endif %}\nend\n", want: "yes\nend"},
		{name: `lstrip_blocks`, tmpl: "a\n    {% if true %}\n    b\n    {% endif %}\nc", want: "a\n    b\nc"},
		{name: `lstrip keeps text before tag`, tmpl: `x  {% if true %}y{% endif %}`, want: `x  y`},
		{name: `minus strips`, tmpl: "a  \n  {{- 'b' -}}  \n  c", want: `abc`},
		{name: `plus disables lstrip`, tmpl: "a\n  {%+ if true %}b{% endif %}", want: "a\n  b"},
		{name: `variable tags are not trimmed`, tmpl: "{{ 'a' }}\n{{ 'b' }}\n", want: "a\nb"},
		{name: `comment trimmed`, tmpl: "a\n  {# note #}\nb", want: "a\nb"},
		{name: `one trailing newline removed`, tmpl: "x\n\n", want: "x\n"},
		{name: `raw block`, tmpl: `{% raw %}{{ not rendered }}{% endraw %}`, want: `{{ not rendered }}`},
		{name: `str of values`, tmpl: `{{ none }} {{ true }} {{ 1.0 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 10 / 4 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}`, want: `None True 1.0 1e+20 0.30000000000000004 1e-05 2.5 3 -4 2 1024`},
		{name: `repr of containers`, tmpl: `{{ [1, 'a', none, true, 2.5] }} {{ {'k': 'it\'s', 'n': [1]} }} {{ (1,) }} {{ ('a', 'b') }}`, want: `[1, 'a', None, True, 2.5] {'k': "it's", 'n': [1]} (1,) ('a', 'b')`},
		{name: `string escapes`, tmpl: `{{ 'tab\there\n' ~ "q\"" ~ '\u00e9\x41' }}`, want: "tab\there\nq\"éA"},
		{name: `tojson`, tmpl: `{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é"\n' | tojson }}|{{ [1.0, none, true] | tojson }}|{{ d | tojson(sort_keys=true) }}`, vars: `{"d": {"b": 1, "a": [1, {"c": "x"}], "e": {}}}`, want: "{\"b\": 1, \"a\": [1, {\"c\": \"x\"}], \"e\": {}}|{\n  \"b\": 1,\n  \"a\": [\n    1,\n    {\n      \"c\": \"x\"\n    }\n  ],\n  \"e\": {}\n}|\"é\\\"\\n\"|[1.0, null, true]|{\"a\": [1, {\"c\": \"x\"}], \"b\": 1, \"e\": {}}"},
		{name: `tojson ensure_ascii`, tmpl: `{{ 'é😀' | tojson(ensure_ascii=true) }}`, want: `"\u00e9\ud83d\ude00"`},
		{name: `tojson separators`, tmpl: `{{ {'a': 1, 'b': 2} | tojson(separators=(',', ':')) }}`, want: `{"a":1,"b":2}`},
		{name: `loop vars`, tmpl: `{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{% if not loop.first %}{{ loop.previtem }}{% endif %}{% if not loop.last %}{{ loop.nextitem }}{% endif %};{% endfor %}`, want: `103TrueFalse3b;212FalseFalse3ac;321FalseTrue3b;`},
		{name: `loop break continue`, tmpl: `{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}`, want: `0134`},
		{name: `loop filter and else`, tmpl: `{% for i in range(6) if i is odd %}{{ i }}{{ loop.length }} {% else %}none{% endfor %}{% for i in [] %}x{% else %}empty{% endfor %}`, want: `13 33 53 empty`},
		{name: `loop scope`, tmpl: `{% set n = 0 %}{% for i in [1,2,3] %}{% set n = n + i %}{{ n }}{% endfor %}{{ n }}`, want: `1230`},
		{name: `namespace`, tmpl: `{% set ns = namespace(n=0, s='') %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}`, want: `6`},
		{name: `unpacking`, tmpl: `{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}{% for k in d %}{{ k }}{% endfor %}`, vars: `{"d": {"z": 1, "a": 2}}`, want: `z=1,a=2,zaza`},
		{name: `loop cycle`, tmpl: `{% for i in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}`, want: `ababa`},
		{name: `slices`, tmpl: `{{ m[1:] }}{{ m[:-1] }}{{ m[::-1] }}{{ m[-1] }}{{ 'hello'[1:3] }}{{ 'hello'[::2] }}{{ m[5] is defined }}`, vars: `{"m": [1, 2, 3]}`, want: `[2, 3][1, 2][3, 2, 1]3elhloFalse`},
		{name: `string methods`, tmpl: `{{ ' x '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ ' a  b '.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}|{{ 'hello world'.title() }}|{{ 'they\'re 3rd'.title() }}|{{ 'abc'.upper() }}|{{ 'ABC'.lower() }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aXbX'.replace('X', '-') }}|{{ 'abc'.find('c') }}|{{ 'hello'.capitalize() }}|{{ ' a\nb '.splitlines() }}|{{ '-'.join(['a','b']) }}|{{ 'abab'.count('ab') }}`, want: `x|hi|['a', 'b']|['a', 'b', '', 'c']|['a', 'b c']|['a b', 'c']|Hello World|They'Re 3Rd|ABC|abc|True|True|a-b-|2|Hello|[' a', 'b ']|a-b|2`},
		{name: `dict methods`, tmpl: `{{ d.get('a') }}{{ d.get('x') }}{{ d.get('x', 5) }}{{ d.keys() | list }}{{ d.values() | list }}{{ d['a'] }}{{ d.a }}`, vars: `{"d": {"a": 1, "b": 2}}`, want: `1None5['a', 'b'][1, 2]11`},
		{name: `attribute before item`, tmpl: `{{ d.items is defined }} {{ d['items'] }} {{ d.content }}`, vars: `{"d": {"items": "I", "content": "C"}}`, want: `True I C`},
		{name: `filters text`, tmpl: `{{ '  hi  ' | trim }}|{{ 'xhix' | trim('x') }}|{{ 'hello WORLD-foo (bar' | title }}|{{ 'hELLO' | capitalize }}|{{ 'ab' | upper }}|{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}|{{ 'x' | center(5) }}|{{ 'a<b>&"' | e }}|{{ 'one two  three' | wordcount }}|{{ 'aaa' | replace('a', 'b', 2) }}`, want: "hi|hi|Hello World-Foo (Bar|Hello|AB|a\n  b\n\n  c|  a\n  b|a\n  \n  b|  x  |a&lt;b&gt;&amp;&#34;|3|bba"},
		{name: `filters lists`, tmpl: `{{ l | length }}|{{ l | first }}|{{ l | last }}|{{ l | join('-') }}|{{ l | sort }}|{{ l | sort(reverse=true) }}|{{ l | unique | list }}|{{ l | min }}|{{ l | max }}|{{ l | sum }}|{{ l | reverse | list }}|{{ l | batch(2) | list }}|{{ l | select('odd') | list }}|{{ l | reject('odd') | list }}|{{ l | map('string') | join }}`, vars: `{"l": [3, 1, 2, 3]}`, want: `4|3|3|3-1-2-3|[1, 2, 3, 3]|[3, 3, 2, 1]|[3, 1, 2]|1|3|9|[3, 2, 1, 3]|[[3, 1], [2, 3]]|[3, 1, 3]|[2]|3123`},
		{name: `filters attrs`, tmpl: `{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ ms | rejectattr('role', 'equalto', 'user') | list | length }}|{{ ms | map(attribute='x', default='d') | list }}|{{ ms | sort(attribute='content') | map(attribute='content') | list }}|{{ ms | selectattr('tool') | list }}`, vars: `{"ms": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "c"}]}`, want: `b,c|1|['d', 'd', 'd']|['a', 'b', 'c']|[]`},
		{name: `filters numbers`, tmpl: `{{ '42' | int }}|{{ 'x' | int(7) }}|{{ '3.7' | int }}|{{ 3.7 | int }}|{{ '2.5' | float }}|{{ 2.567 | round(2) }}|{{ 2.5 | round }}|{{ -3 | abs }}|{{ 1 | string }}`, want: `42|7|3|3|2.5|2.57|2.0|3|1`},
		{name: `filters misc`, tmpl: `{{ x | default('d') }}|{{ '' | default('d', true) }}|{{ none | default('d') }}|{{ d | dictsort }}|{{ d | items | list }}|{{ [1, [2]] | list }}|{{ 'ab' | list }}|{{ '%s-%d' | format('a', 3) }}|{{ '%s and %s' % ('x', 'y') }}|{{ d | length }}`, vars: `{"d": {"b": 1, "a": 2}}`, want: `d|d|None|[('a', 2), ('b', 1)]|[('b', 1), ('a', 2)]|[1, [2]]|['a', 'b']|a-3|x and y|2`},
		{name: `filter block and block set`, tmpl: `{% filter upper %}abc{% endfilter %}{% set x %}  inner {{ 1 }}  {% endset %}[{{ x }}]{% set y | trim %}  t  {% endset %}[{{ y }}]`, want: `ABC[  inner 1  ][t]`},
		{name: `tests`, tmpl: `{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ [] is iterable }}{{ {} is mapping }}{{ 3 is odd }}{{ 4 is even }}{{ 6 is divisibleby 3 }}{{ 'ab' is lower }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 'a' is in 'abc' }}{{ true is true }}{{ false is boolean }}{{ x is not defined }}{{ 'upper' is filter }}{{ [] is sequence }}`, want: `FalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue`},
		{name: `operators`, tmpl: `{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' in 'abc' }} {{ 1 not in [1] }} {{ not 1 == 2 }} {{ 1 if false }}| {{ 'y' if 1 else 'n' }} {{ x or 'fallback' }} {{ 0 and 1 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ -2 ** 2 }} {{ 'a' + 'b' | upper }}`, want: `7 9 a1None abab [1, 2] True False True False True | y fallback 0 True True 4 aB`},
		{name: `macro`, tmpl: `{% macro greet(name, greeting='Hi') %}{{ greeting }} {{ name }}{% if varargs %}{{ varargs }}{% endif %}{{ kwargs | length }}{% endmacro %}{{ greet('a') }}|{{ greet('b', 'Yo') }}|{{ greet(greeting='Hey', name='c') }}|{{ greet('d', 'e', 'f', z=1) }}`, want: `Hi a0|Yo b0|Hey c0|e d('f',)1`},
		{name: `macro recursion and caller`, tmpl: `{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}in{% endcall %}`, want: `120<in>`},
		{name: `macro sees later globals`, tmpl: `{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}`, want: `2`},
		{name: `with`, tmpl: `{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}`, want: `3False`},
		{name: `content list parts`, tmpl: "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'text' %}{{ p.text }}{% else %}<{{ p.type }}>{% endif %}{% endfor %}{% endif %}\n{% endfor %}", vars: `{"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}, {"role": "assistant", "content": "A dragon."}]}`, want: `<image>What is this?A dragon.`},
		{name: `undefined prints empty`, tmpl: `[{{ missing }}][{{ d.missing }}][{{ missing | length }}][{{ missing | default('x') }}][{% for x in missing %}x{% endfor %}][{{ 'x' in missing }}][{{ missing == none }}]`, vars: `{"d": {}}`, want: `[][][0][x][][False][False]`},
		{name: `none attribute is undefined`, tmpl: `{{ n.attr is defined }}{{ n['k'] is defined }}`, vars: `{"n": null}`, want: `FalseFalse`},
		{name: `raise_exception`, tmpl: "{% if true %}\n{{ raise_exception('Roles must alternate') }}\n{% endif %}", err: `TemplateError: Roles must alternate`},
		{name: `undefined attribute error`, tmpl: `{{ missing.attr }}`, err: `UndefinedError: 'missing' is undefined`},
		{name: `undefined concat error`, tmpl: `{{ 'a' + missing }}`, err: `UndefinedError: 'missing' is undefined`},
		{name: `undefined dict attribute error`, tmpl: `{{ d.a.b }}`, vars: `{"d": {}}`, err: `UndefinedError: 'dict object' has no attribute 'a'`},
		{name: `none not iterable`, tmpl: `{% for t in n %}{% endfor %}`, vars: `{"n": null}`, err: `TypeError: 'NoneType' object is not iterable`},
		{name: `str plus int`, tmpl: `{{ 'a' + 1 }}`, err: `TypeError: can only concatenate str (not "int") to str`},
		{name: `order mismatch`, tmpl: `{{ 1 < 'a' }}`, err: `TypeError: '<' not supported between instances of 'int' and 'str'`},
		{name: `sandbox append`, tmpl: `{% set l = [] %}{{ l.append(1) }}`, err: `SecurityError: access to attribute 'append' of 'list' object is unsafe.`},
		{name: `division by zero`, tmpl: `{{ 1 / 0 }}`, err: `ZeroDivisionError: division by zero`},
		{name: `none length`, tmpl: `{{ n | length }}`, vars: `{"n": null}`, err: `TypeError: object of type 'NoneType' has no len()`},
		{name: `range limit`, tmpl: `{{ range(100001) | length }}`, err: `OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).`},
		{name: `tojson undefined`, tmpl: `{{ missing | tojson }}`, err: `TypeError: Object of type Undefined is not JSON serializable`},
		{name: `calling none`, tmpl: `{{ n() }}`, vars: `{"n": null}`, err: `TypeError: 'NoneType' object is not callable`},
		{name: `unpack error`, tmpl: `{% for a, b in [1] %}{% endfor %}`, err: `TypeError: cannot unpack non-iterable int object`},
		{name: `not enough values`, tmpl: `{% for a, b in [[1]] %}{% endfor %}`, err: `ValueError: not enough values to unpack (expected 2, got 1)`},
		{name: `namespace assignment`, tmpl: `{% set x = 1 %}{% set x.y = 2 %}`, err: `TemplateRuntimeError: cannot assign attribute on non-namespace object`},
		{name: `generator consumed once`, tmpl: `{% set g = [1,2,3] | select %}{{ g | list }}{{ g | list }}`, want: `[1, 2, 3][]`},
		{name: `generator is truthy`, tmpl: `{% if [] | select %}T{% endif %}{% if [] | list %}F{% endif %}`, want: `T`},
		{name: `generator has no len`, tmpl: `{{ [] | select | length }}`, err: `TypeError: object of type 'generator' has no len()`},
		{name: `generator not JSON`, tmpl: `{{ tools | map(attribute='function') | tojson }}`, vars: `{"tools": [{"function": {"name": "f"}}]}`, err: `TypeError: Object of type generator is not JSON serializable`},
		{name: `dict views`, tmpl: `{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}|{{ d.items() | length }}|{{ 'a' in d.keys() }}|{{ d.keys()[0] is defined }}`, vars: `{"d": {"a": 1, "b": 2}}`, want: `dict_items([('a', 1), ('b', 2)])|dict_keys(['a', 'b'])|dict_values([1, 2])|2|True|False`},
		{name: `dict view not JSON`, tmpl: `{{ d.items() | tojson }}`, vars: `{"d": {"a": 1}}`, err: `TypeError: Object of type dict_items is not JSON serializable`},
		{name: `range object`, tmpl: `{{ range(3) }}|{{ range(1, 9, 2) }}|{{ range(3)[1] }}|{{ range(3) is sequence }}|{{ range(3) | reverse | list }}|{{ 5 in range(6) }}`, want: `range(0, 3)|range(1, 9, 2)|1|True|[2, 1, 0]|True`},
		{name: `reverse iterators`, tmpl: `{{ d | reverse | list }}{{ d.items() | reverse | list }}{{ [1, 2] | select | first }}`, vars: `{"d": {"a": 1, "b": 2}}`, want: `['b', 'a'][('b', 2), ('a', 1)]1`},
		{name: `generator not reversible`, tmpl: `{{ [1, 2] | select | last }}`, err: `TypeError: 'generator' object is not reversible`},
		{name: `in consumes generator`, tmpl: `{% set g = [1, 2, 3] | select %}{{ 2 in g }}{{ g | list }}`, want: `True[3]`},
		{name: `nested braces in print`, tmpl: `{{ {'a': {'b': '}}'}} }}`, want: `{'a': {'b': '}}'}}`},
		{name: `markup filters`, tmpl: `{{ ("<"|safe + "<") }}|{{ "<"|e }}|{{ ("<"|e)|e }}|{{ "<a>"|safe|upper + "<" }}|{{ ("x"|safe ~ "<") + "<" }}|{{ ("a"|safe) is string }}|{{ ("%s"|safe)|format("<") }}|{{ "<"|safe|trim + "<" }}|{{ ("<"|safe|replace("<",">")) + "<" }}|{{ "<"|safe|title + "<" }}|{{ ["<"|safe]|join + "<" }}|{{ "<"|safe|string + "<" }}|{{ ("a"|safe)|tojson }}|{{ ("<"|safe) * 2 + "<" }}`, want: `<&lt;|&lt;|&lt;|<A>&lt;|x<<|True|&lt;|<&lt;|><|<<|<<|<&lt;|"a"|<<&lt;`},
		{name: `markup plus int`, tmpl: `{{ "<"|safe + 1 }}`, err: `TypeError: unsupported operand type(s) for +: 'Markup' and 'int'`},
		{name: `markup through filters`, tmpl: `{% macro m() %}<{% endmacro %}{{ m() + "<" }}|{{ "<"|safe|indent(2) + "<" }}|{{ "<"|safe|center(3) + "<" }}|{{ "<"|safe|capitalize + "<" }}|{{ "<"|safe|lower + "<" }}`, want: `<<|<&lt;| < &lt;|<&lt;|<&lt;`},
		{name: `markup methods`, tmpl: `{% set m = '<b>"'|safe %}{{ m + '"x"' }}|{{ '"y"' + m }}|{{ m * 2 }}|{{ ('%s|%d'|safe) % ('<', 3) }}|{{ m.strip('<') + '<' }}|{{ m.upper() + '<' }}|{{ m.split('b')[0] + '<' }}|{{ (','|safe).join(['<', '<'|safe]) }}|{{ m[0] + '<' }}|{{ m.replace('b', '<i>') }}|{{ m.startswith('<') }}|{{ m[1:] + '<' }}`, want: `<b>"&#34;x&#34;|&#34;y&#34;<b>"|<b>"<b>"|&lt;|3|b>"&lt;|<B>"&lt;|<&lt;|&lt;,<|<&lt;|<&lt;i&gt;>"|True|b>"&lt;`},
		{name: `markup tool description (functionary)`, tmpl: `{{ "Use '"|safe + t["name"] + "'\n"|safe + t | tojson }}`, vars: `{"t": {"name": "f<x>", "d": "a \"q\""}}`, want: "Use 'f&lt;x&gt;'\n{&#34;name&#34;: &#34;f&lt;x&gt;&#34;, &#34;d&#34;: &#34;a \\&#34;q\\&#34;&#34;}"},
		{name: `self-referencing namespace`, tmpl: `{% set ns = namespace(a=1) %}{% set ns.x = ns %}{{ ns }}|{% set ns.x = {"n": ns} %}{{ ns }}`, want: `<Namespace {'a': 1, 'x': <Namespace {...}>}>|<Namespace {'a': 1, 'x': {'n': <Namespace {...}>}}>`},
		{name: `lazy generator not consumed`, tmpl: `{{ not 0.1 | reject('none') }}|{% set g = 5 | select %}ok`, want: `False|ok`},
		{name: `lazy generator consumed`, tmpl: `{% set g = 5 | select %}ok{{ g | list }}`, err: `TypeError: 'int' object is not iterable`},
		{name: `round keeps ints`, tmpl: `{{ 3 | round }}|{{ true | round(1) }}|{{ 15 | round(-1) }}|{{ 2.5 | round }}|{{ 2.567 | round(1, 'floor') }}`, want: `3|1|20|2.0|2.5`},
		{name: `number filters on undefined`, tmpl: `{{ u | float }}`, err: `UndefinedError: 'u' is undefined`},
		{name: `reverse of a number`, tmpl: `{{ 5 | reverse }}`, err: `FilterArgumentError: argument must be iterable`},
		{name: `in a dict`, tmpl: `{{ u in d }}|{{ range(2) in d }}|{{ 'a' in d }}`, vars: `{"d": {"a": 1}}`, want: `False|False|True`},
		{name: `percent with a list`, tmpl: `{{ 'x' % [1] }}|{{ '%s' % [1] }}`, want: `x|[1]`},
		{name: `syntax error message`, tmpl: `{{ (1 2) }}`, err: `TemplateSyntaxError: expected token ')', got 'integer'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars := map[string]any{}
			if c.vars != "" {
				v, err := DecodeJSON([]byte(c.vars))
				if err != nil {
					t.Fatal(err)
				}
				d := v.(*Dict)
				for i, k := range d.keys {
					vars[k.(string)] = d.vals[i]
				}
			}
			var got string
			tmpl, err := Parse(c.tmpl)
			if err == nil {
				got, err = tmpl.render(vars)
			}
			if c.err != "" {
				var e *Error
				if !errors.As(err, &e) || e.Kind+": "+e.Msg != c.err {
					t.Fatalf("got %q, error %v; want error %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse or render: %v", err)
			}
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}
