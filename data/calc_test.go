package data

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFindCalculations(t *testing.T) {
	tests := []struct {
		name     string
		solution string
		want     []string // result literals, in order
	}{
		{"gsm8k annotations", "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", []string{"24", "72"}},
		{"money after annotation", "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n#### 10", []string{"0.2"}},
		{"bare decimal", "salt: 2 liters * 20% = <<2*20*.01=.4>>.4 liters\n#### 400", []string{".4"}},
		{"free text", "She has 5 + 3 = 8 apples.\nThe answer is: 8", []string{"8"}},
		{"chain of operands", "So 100 - 50 - 30 - 15 = 5 dollars remain.\n#### 5", []string{"5"}},
		{"chain of equals", "2 * 3 = 6 * 4 = 24, then 24 + 1 = 25.\n#### 25", []string{"6", "24", "25"}},
		{"percent literal", "value is 100% + 150% = 250% of x.\nThe answer is: 2", []string{"250"}},
		{"percent hundredths", "a tip of 20% * 50 = 10 dollars.\nThe answer is: 60", []string{"10"}},
		{"money and separators", "$50,000 + $20,000 = $70,000 in all.\nThe answer is: 70000", []string{"70,000"}},
		{"x as times", "Each costs 12.5 x 2 = 25 dollars.\n#### 25", []string{"25"}},
		{"latex times", "We get $3 \\times 4 = 12$ and $12 \\div 2 = 6$.\nThe answer is: 6", []string{"12", "6"}},
		{"parentheses", "(3 + 4) * 2 = 14 chairs.\n#### 14", []string{"14"}},
		{"rounded division", "10/3 = 3.33 per cup.\n#### 3.33", []string{"3.33"}},
		{"negative result", "The change is 5 - 8 = -3 degrees.\n#### -3", []string{"-3"}},
		{"wrong arithmetic is not a calculation", "2 + 2 = 5 is false.\n#### 4", nil},
		{"variables are not calculations", "4 * x + 600 = 10000, so x = 2350.\n#### 2350", nil},
		{"nothing after the final answer", "#### 7\nThe answer is: 3 + 4 = 7", nil},
		{"assignment is not a calculation", "Let y = 12 and z = 3.\n#### 4", nil},
		{"sentence dot is not a decimal", "It is 4 + 5 = 9. Then 9 * 2 = 18.\n#### 18", []string{"9", "18"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range FindCalculations(tt.solution) {
				got = append(got, tt.solution[c.Start:c.End])
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("results %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFinalAnswer(t *testing.T) {
	tests := []struct {
		solution string
		marker   int
		value    float64
		numeric  bool
	}{
		{"a\n#### 1,200", 2, 1200, true},
		{"x\nThe answer is: -3.5", 2, -3.5, true},
		{"The answer is 4. The answer is: \\frac{1}{2}", 17, 1, true},
		{"The answer is: \\pi", 0, 0, false},
		{"no marker 5", -1, 0, false},
	}
	for _, tt := range tests {
		m, v, ok := FinalAnswer(tt.solution)
		if m != tt.marker || v != tt.value || ok != tt.numeric {
			t.Errorf("FinalAnswer(%q) = %d, %v, %v; want %d, %v, %v", tt.solution, m, v, ok, tt.marker, tt.value, tt.numeric)
		}
	}
}

// numberShape describes how a literal is written: sign, integer digits,
// decimals and thousands separators.
func numberShape(lit string) (neg bool, intDigits, decimals int, commas, bare bool) {
	neg = strings.HasPrefix(lit, "-")
	body := strings.TrimPrefix(lit, "-")
	commas = strings.Contains(body, ",")
	ip, frac, _ := strings.Cut(strings.ReplaceAll(body, ",", ""), ".")
	bare = ip == ""
	return neg, len(strings.TrimLeft(ip, "0")), len(frac), commas, bare
}

func TestWrongNumber(t *testing.T) {
	tests := []struct {
		lit    string
		lo, hi float64 // the wrong value must lie in [lo, hi]
	}{
		// A quarter of the value (at least two steps of the last non-zero
		// digit) either way, within the same number of digits.
		{"24", 18, 30},
		{"5", 3, 7},
		{"72", 54, 90},
		{"0.2", 0.1, 0.4},
		{".4", 0.2, 0.6},
		{"2.50", 1.90, 3.10},
		{"1,200", 1000, 1500},
		{"1200", 1000, 1500},
		{"1000", 2000, 3000},
		{"10", 20, 30},
		{"0", 1, 2},
		{"-5", -7, -3},
		{"999", 750, 999},
		{"12,345.67", 10000, 12345.67 + 3086.41},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			neg, k, d, commas, bare := numberShape(tt.lit)
			if tt.lit == "0" {
				k = 1 // zero becomes a one-digit number
			}
			seen := map[string]bool{}
			for seed := range uint64(200) {
				w, ok := WrongNumber(tt.lit, rand.New(rand.NewPCG(seed, 1)))
				if !ok {
					t.Fatalf("seed %d: no wrong number", seed)
				}
				seen[w] = true
				if w == tt.lit {
					t.Fatalf("seed %d: %q unchanged", seed, w)
				}
				wn, wk, wd, wc, wb := numberShape(w)
				if wn != neg || wk != k || wd != d || (wc != commas && wk > 3) || wb != bare {
					t.Fatalf("seed %d: %q is not shaped like %q", seed, w, tt.lit)
				}
				_, _, v, ok2 := scanNumber(w, 0)
				if !ok2 || v < tt.lo-1e-9 || v > tt.hi+1e-9 {
					t.Fatalf("seed %d: %q outside [%v, %v]", seed, w, tt.lo, tt.hi)
				}
			}
			if len(seen) < 2 {
				t.Errorf("only %d distinct wrong numbers over 200 seeds: %v", len(seen), seen)
			}
		})
	}
	if _, ok := WrongNumber("abc", rand.New(rand.NewPCG(1, 1))); ok {
		t.Error("WrongNumber(abc) ok")
	}
}

func TestCorruptSolution(t *testing.T) {
	sol := "She buys 3 * 4 = <<3*4=12>>12 pens.\nShe has 12 + 5 = <<12+5=17>>17 pens.\nSo 17 * 2 = <<17*2=34>>34 pens.\n#### 34"
	tests := []struct {
		name     string
		solution string
		k        int
		pairs    int
		reason   string
	}{
		{"one pair", sol, 1, 1, ""},
		{"two calcs, two pairs", sol, 2, 2, ""},
		{"more pairs than calculations", sol, 5, 5, ""},
		{"no final answer", "3 * 4 = 12", 1, 0, SkipNoFinalAnswer},
		{"no calculation", "She has twelve.\n#### 12", 1, 0, SkipNoCalculation},
		{"only the final answer", "3 * 4 = <<3*4=12>>12\n#### 12", 1, 0, SkipOnlyFinal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej, reason := CorruptSolution(tt.solution, tt.k, rand.New(rand.NewPCG(7, 7)))
			if len(rej) != tt.pairs || reason != tt.reason {
				t.Fatalf("got %d versions, reason %q; want %d, %q", len(rej), reason, tt.pairs, tt.reason)
			}
			seen := map[string]bool{}
			for _, r := range rej {
				if seen[r] {
					t.Errorf("duplicate version %q", r)
				}
				seen[r] = true
				checkOneNumberChanged(t, tt.solution, r)
			}
		})
	}
}

// checkOneNumberChanged is an independent check of a corruption: the two
// texts differ in one maximal run of digit characters (with "." and ","),
// that run is a calculation result (after "=" or ">>", spaces and "$"
// aside), and the final "####" or "The answer is" line is the same.
func checkOneNumberChanged(t *testing.T, chosen, rejected string) {
	t.Helper()
	isNum := func(c byte) bool { return c >= '0' && c <= '9' || c == '.' || c == ',' }
	i := 0
	for i < len(chosen) && i < len(rejected) && chosen[i] == rejected[i] {
		i++
	}
	if i == len(chosen) && i == len(rejected) {
		t.Fatalf("rejected equals chosen: %q", chosen)
	}
	for i > 0 && isNum(chosen[i-1]) {
		i--
	}
	ec, er := i, i
	for ec < len(chosen) && isNum(chosen[ec]) {
		ec++
	}
	for er < len(rejected) && isNum(rejected[er]) {
		er++
	}
	if chosen[ec:] != rejected[er:] {
		t.Fatalf("texts differ after the changed number:\n%q\n%q", chosen, rejected)
	}
	if ec == i || er == i {
		t.Fatalf("change at %d is not a number:\n%q\n%q", i, chosen, rejected)
	}
	before := strings.TrimRight(chosen[:i], " $-")
	if !strings.HasSuffix(before, "=") && !strings.HasSuffix(before, ">>") {
		t.Fatalf("changed number %q -> %q is not after = or >>: %q", chosen[i:ec], rejected[i:er], chosen)
	}
	lastLine := func(s string) string { return s[strings.LastIndex(s, "\n")+1:] }
	if lastLine(chosen) != lastLine(rejected) {
		t.Fatalf("final line changed: %q vs %q", lastLine(chosen), lastLine(rejected))
	}
	m, _, _ := FinalAnswer(chosen)
	if m >= 0 && i >= m {
		t.Fatalf("change at %d is in the final answer (marker at %d)", i, m)
	}
}
