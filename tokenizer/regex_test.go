package tokenizer

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestFastMatcherAgreesWithRegexp2 compares the hand-written scanner with
// regexp2 (the reference backtracking engine) on random text drawn from an
// alphabet that exercises every alternative: letters (ASCII, accented,
// CJK), digits and other numbers, apostrophes and contractions, spaces,
// tabs, CR/LF, no-break space, punctuation, combining marks and emoji.
func TestFastMatcherAgreesWithRegexp2(t *testing.T) {
	alphabet := []string{"a", "Z", "é", "日", "ß", "0", "7", "½", "٣", "'", "'s", "'RE", "'ll", "'D", " ", " ", "  ",
		"\t", "\r", "\n", "\r\n", "\u00a0", "\u3000", "!", ".", "(", "#", "\u0301", "🦙", "😁", "_", "-"}
	rng := rand.New(rand.NewPCG(1, 2))
	for pat, fp := range fastPatterns {
		re, err := compileRegex(pat)
		if err != nil {
			t.Fatalf("compile %q: %v", pat, err)
		}
		ref := regexMatcher{re}
		for n := 0; n < 3000; n++ {
			var b strings.Builder
			for k := rng.IntN(12); k >= 0; k-- {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			s := b.String()
			if got, want := fp.spans(s), ref.spans(s); !reflect.DeepEqual(got, want) {
				t.Fatalf("pattern %q on %q:\n got %v\nwant %v", pat, s, got, want)
			}
		}
	}
}
