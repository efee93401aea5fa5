package data

import (
	"math/rand/v2"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var synthAnnotation = regexp.MustCompile(`(\d+) ([-+*/]) (\d+) = <<(\d+)([-+*/])(\d+)=(\d+)>>(\d+)`)

func TestSynthMath(t *testing.T) {
	probs := SynthMath(600, 42)
	if !reflect.DeepEqual(probs, SynthMath(600, 42)) {
		t.Fatal("not reproducible for a seed")
	}
	if reflect.DeepEqual(probs[:20], SynthMath(20, 43)) {
		t.Error("another seed gives the same problems")
	}
	steps := map[int]int{}
	chars := map[rune]bool{}
	for i, p := range probs {
		for _, r := range p.Question + p.Answer {
			chars[r] = true
		}
		lines := strings.Split(p.Answer, "\n")
		if got := lines[len(lines)-1]; got != "#### "+strconv.Itoa(p.Result) {
			t.Fatalf("problem %d: last line %q, want #### %d", i, got, p.Result)
		}
		if g, _ := GSM8KAnswer(p.Answer); g != strconv.Itoa(p.Result) {
			t.Fatalf("problem %d: GSM8K extraction %q", i, g)
		}
		ms := synthAnnotation.FindAllStringSubmatch(p.Answer, -1)
		if len(ms) != p.Steps || len(ms) != len(lines)-1 || p.Steps < 1 || p.Steps > 4 {
			t.Fatalf("problem %d: %d annotated steps, Steps %d, %d lines: %q", i, len(ms), p.Steps, len(lines), p.Answer)
		}
		last := 0
		for _, m := range ms {
			a, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[3])
			c, _ := strconv.Atoi(m[7])
			if m[1] != m[4] || m[2] != m[5] || m[3] != m[6] || m[7] != m[8] {
				t.Fatalf("problem %d: annotation disagrees with the text: %q", i, m[0])
			}
			want := map[string]int{"+": a + b, "-": a - b, "*": a * b, "/": a / b}[m[2]]
			if m[2] == "/" && a%b != 0 || c != want || c < 1 || c > 999 {
				t.Fatalf("problem %d: wrong or out-of-range step %q", i, m[0])
			}
			last = c
		}
		if last != p.Result || p.Result >= 1000 {
			t.Fatalf("problem %d: last step %d, result %d", i, last, p.Result)
		}
		steps[p.Steps]++
		// Problems with an intermediate calculation give a pair.
		if rej, reason := CorruptSolution(p.Answer, 1, rand.New(rand.NewPCG(1, uint64(i)))); p.Steps > 1 && len(rej) == 0 && reason != SkipOnlyFinal {
			t.Fatalf("problem %d: no pair (%s): %q", i, reason, p.Answer)
		} else if len(rej) > 0 {
			checkOneNumberChanged(t, p.Answer, rej[0])
		}
	}
	for s := 1; s <= 4; s++ {
		if steps[s] == 0 {
			t.Errorf("no problem with %d steps: %v", s, steps)
		}
	}
	if len(chars) > 70 {
		t.Errorf("%d distinct characters, want a small vocabulary (<= 70)", len(chars))
	}
	t.Logf("steps %v, %d distinct characters", steps, len(chars))
}
