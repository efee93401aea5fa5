package tokenizer

// newGPT2Matcher returns a matcher for a split pattern.
func newGPT2Matcher(pat string) matcher {
	re, err := compileRegex(pat)
	if err != nil {
		panic(err)
	}
	return regexMatcher{re}
}
