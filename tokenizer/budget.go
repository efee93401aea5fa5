package tokenizer

import (
	"fmt"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// regexTimeout is how long one search of a tokenizer file's own regular
// expression (a Split pre-tokenizer or Replace normalizer/decoder pattern)
// may run. regexp2 backtracks, so a hostile pattern such as (a+)+$ could
// otherwise run for hours on a line of text. Real patterns search a piece
// of text in microseconds. Tests lower it.
var regexTimeout = time.Second

// RegexTimeoutError reports a regular expression of a tokenizer file that
// ran past its time budget: it backtracks catastrophically.
type RegexTimeoutError struct {
	Pattern string        // the pattern as written in the file
	Budget  time.Duration // the time one search may take
	Input   int           // length in bytes of the text it was searching
}

func (e *RegexTimeoutError) Error() string {
	return fmt.Sprintf("regex %q ran past its %v time budget on %d bytes of text: the pattern backtracks catastrophically (nested repetition such as (a+)+); fix the tokenizer file's pattern", e.Pattern, e.Budget, e.Input)
}

// regexFailure carries a RegexTimeoutError from deep inside the encoding
// pipeline (whose stages return no errors) up to Encode or Decode, which
// recover it; it never leaves the package.
type regexFailure struct{ err *RegexTimeoutError }

// compileRegex compiles a tokenizer.json / llama.cpp pattern with
// Oniguruma-like semantics and the search time budget, and refuses a
// pattern that already runs past the budget on short runs of one character
// (the inputs that make nested repetitions explode).
func compileRegex(pat string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(pat)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = regexTimeout
	for _, c := range []string{"a", "A", "1", " ", "\n", ".", "é", "_", "'"} {
		for _, n := range []int{40, 2000} {
			for _, tail := range []string{"", "!", "\x00"} {
				s := strings.Repeat(c, n) + tail
				if _, err := re.FindAllStringIndex(s, -1); err != nil {
					return nil, fmt.Errorf("regex %q ran past its %v time budget on a run of %d %q characters: the pattern backtracks catastrophically (nested repetition such as (a+)+)", pat, regexTimeout, n, c)
				}
			}
		}
	}
	return re, nil
}

// findAll returns the match positions of re in s, panicking with a
// regexFailure when the search runs past its budget.
func findAll(re *regexp2.Regexp, s string) [][]int {
	idx, err := re.FindAllStringIndex(s, -1)
	if err != nil {
		panic(regexFailure{&RegexTimeoutError{Pattern: re.String(), Budget: re.MatchTimeout, Input: len(s)}})
	}
	return idx
}

// recoverRegex turns a regexFailure panic into the tokenizer's sticky
// error (see Err); any other panic goes on.
func (t *Tokenizer) recoverRegex() {
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(regexFailure)
	if !ok {
		panic(r)
	}
	t.failed.CompareAndSwap(nil, f.err)
}

// Err returns the first error met while encoding or decoding: a regular
// expression of the tokenizer file that ran past its time budget (see
// RegexTimeoutError). Encode and Decode return incomplete results when
// that happens, so a caller encoding untrusted text with an untrusted
// tokenizer checks Err after its batch of calls. It is nil otherwise;
// built-in patterns never fail.
func (t *Tokenizer) Err() error {
	if e := t.failed.Load(); e != nil {
		return e
	}
	return nil
}
