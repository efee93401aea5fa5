package chat

import (
	"fmt"
	"math"
)

// Python's integers have no size limit; the sandbox's are int64. An
// operation whose exact result does not fit raises OverflowError instead
// of wrapping around silently.

// overflow is the error for an integer result beyond int64.
func overflow(op string) error {
	return &Error{Kind: "OverflowError", Msg: fmt.Sprintf("integer %s overflows 64 bits (the template sandbox's integers are 64-bit; Python's are unbounded)", op)}
}

func addInt(a, b int64) (int64, error) {
	c := a + b
	if (c > a) != (b > 0) {
		return 0, overflow("addition")
	}
	return c, nil
}

func subInt(a, b int64) (int64, error) {
	c := a - b
	if (c < a) != (b > 0) {
		return 0, overflow("subtraction")
	}
	return c, nil
}

func mulInt(a, b int64) (int64, error) {
	if a == 0 || b == 0 {
		return 0, nil
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, overflow("multiplication")
	}
	return c, nil
}

// powInt is a ** e for e >= 0.
func powInt(a, e int64) (int64, error) {
	result, base := int64(1), a
	for ; e > 0; e >>= 1 {
		var err error
		if e&1 == 1 {
			if result, err = mulInt(result, base); err != nil {
				return 0, overflow("power")
			}
		}
		if e > 1 {
			if base, err = mulInt(base, base); err != nil {
				return 0, overflow("power")
			}
		}
	}
	return result, nil
}

// floatToInt is Python's int(f) for a float: NaN and infinities raise
// ValueError and OverflowError as in Python, and so does a value beyond
// int64.
func floatToInt(f float64) (int64, error) {
	switch {
	case math.IsNaN(f):
		return 0, &Error{Kind: "ValueError", Msg: "cannot convert float NaN to integer"}
	case math.IsInf(f, 0):
		return 0, &Error{Kind: "OverflowError", Msg: "cannot convert float infinity to integer"}
	case f >= 0x1p63 || f < -0x1p63:
		return 0, overflow("conversion of " + formatFloat(f, false))
	}
	return int64(f), nil
}
