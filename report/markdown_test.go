package report

import (
	"strings"
	"testing"
)

func TestMarkdownHTML(t *testing.T) {
	tests := []struct {
		name, md, want string
	}{
		{"headings", "# Title\n## Results ##\n###### six\n#not a heading",
			"<h1>Title</h1>\n<h2>Results</h2>\n<h6>six</h6>\n<p>#not a heading</p>\n"},
		{"paragraphs", "First line\nsecond line.\n\nNext <b>&</b>.",
			"<p>First line\nsecond line.</p>\n<p>Next &lt;b&gt;&amp;&lt;/b&gt;.</p>\n"},
		{"fenced code", "```bash\nsmaug train --loss dpop\n  x < y && z\n```\ntext",
			"<pre><code class=\"language-bash\">smaug train --loss dpop\n  x &lt; y &amp;&amp; z\n</code></pre>\n<p>text</p>\n"},
		{"tilde fence with backticks inside, unclosed", "~~~\n```\n# not a heading",
			"<pre><code>```\n# not a heading\n</code></pre>\n"},
		{"longer closing fence", "````\na\n```\n`````\nb",
			"<pre><code>a\n```\n</code></pre>\n<p>b</p>\n"},
		{"pipe table with alignment",
			"| model | ARC | GSM8K |\n|:------|----:|:-----:|\n| DPO | 72.1 | 40.0 |\n| DPOP | **76.02** | `n/a` |\n\nafter",
			"<table>\n<thead>\n<tr><th style=\"text-align:left\">model</th><th style=\"text-align:right\">ARC</th><th style=\"text-align:center\">GSM8K</th></tr>\n</thead>\n" +
				"<tbody>\n<tr><td style=\"text-align:left\">DPO</td><td style=\"text-align:right\">72.1</td><td style=\"text-align:center\">40.0</td></tr>\n" +
				"<tr><td style=\"text-align:left\">DPOP</td><td style=\"text-align:right\"><strong>76.02</strong></td><td style=\"text-align:center\"><code>n/a</code></td></tr>\n</tbody>\n</table>\n<p>after</p>\n"},
		{"table without outer pipes, short and long rows, escaped pipe",
			"a | b\n--- | ---\n1\n2 | x \\| y | extra",
			"<table>\n<thead>\n<tr><th>a</th><th>b</th></tr>\n</thead>\n<tbody>\n<tr><td>1</td><td></td></tr>\n<tr><td>2</td><td>x | y</td></tr>\n</tbody>\n</table>\n"},
		{"header-only table", "| a |\n|---|",
			"<table>\n<thead>\n<tr><th>a</th></tr>\n</thead>\n</table>\n"},
		{"not a table: delimiter width differs", "a | b\n---\n",
			"<p>a | b</p>\n<hr>\n"},
		{"bullet list with continuation", "- loss: *dpop*\n  with λ = 50\n* second\n\nend",
			"<ul>\n<li>loss: <em>dpop</em>\nwith λ = 50</li>\n<li>second</li>\n</ul>\n<p>end</p>\n"},
		{"ordered list from 3", "3. three\n4) four",
			"<ol start=\"3\">\n<li>three</li>\n<li>four</li>\n</ol>\n"},
		{"block quote", "> **Note:** beta\n> second", "<blockquote>\n<p><strong>Note:</strong> beta\nsecond</p>\n</blockquote>\n"},
		{"rules", "***\n- - -\n___", "<hr>\n<hr>\n<hr>\n"},
		{"inline code keeps markup literal", "use `a*b* <c>` and ``x ` y``",
			"<p>use <code>a*b* &lt;c&gt;</code> and <code>x ` y</code></p>\n"},
		{"snake_case is not emphasis", "rewards_chosen and eval_rewards_margins, _em_ but not 2 * 3 * 4",
			"<p>rewards_chosen and eval_rewards_margins, <em>em</em> but not 2 * 3 * 4</p>\n"},
		{"strong and emphasis", "__a__ **b *c* d** *e*", "<p><strong>a</strong> <strong>b <em>c</em> d</strong> <em>e</em></p>\n"},
		{"unmatched delimiters stay", "a ** b and * c and `d", "<p>a ** b and * c and `d</p>\n"},
		{"links and escapes", `see [the *paper*](https://arxiv.org/abs/2402.13228 "Smaug") \*not em\* [x](javascript:alert(1))`,
			"<p>see <a href=\"https://arxiv.org/abs/2402.13228\">the <em>paper</em></a> *not em* <a href=\"#\">x</a>)</p>\n"},
		{"brackets without a link", "[1] and [a]b", "<p>[1] and [a]b</p>\n"},
		{"image", `![loss curve](loss.png) ![web](http://x/y.png)`,
			"<p><img src=\"data:LOSS\" alt=\"loss curve\"> <img src=\"http://x/y.png\" alt=\"web\"></p>\n"},
		{"CRLF", "# T\r\n\r\ntext\r\n", "<h1>T</h1>\n<p>text</p>\n"},
	}
	src := func(s string) string {
		if s == "loss.png" {
			return "data:LOSS"
		}
		return s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := markdownHTML(tt.md, src); got != tt.want {
				t.Errorf("markdownHTML(%q)\n got: %q\nwant: %q", tt.md, got, tt.want)
			}
		})
	}
}

func TestSplitRow(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"| a | b |", []string{"a", "b"}},
		{"a|b", []string{"a", "b"}},
		{`| a \| b | c \|`, []string{"a | b", "c |"}},
		{"|  |", []string{""}},
	}
	for _, tt := range tests {
		if got := splitRow(tt.line); strings.Join(got, "¦") != strings.Join(tt.want, "¦") || len(got) != len(tt.want) {
			t.Errorf("splitRow(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}
