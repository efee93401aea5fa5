package model

import (
	"fmt"
	"math"
)

// Validate reports a sampling setting out of range: a negative or NaN
// temperature, a negative top-k, a top-p that is NaN or outside [0, 1]
// (0 and 1 both keep every token).
func (s Sampling) Validate() error {
	switch {
	case math.IsNaN(s.Temperature) || s.Temperature < 0 || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("temperature must be a finite number ≥ 0 (0 is greedy), got %v", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("top-k must be ≥ 0 (0 keeps every token), got %d", s.TopK)
	case math.IsNaN(s.TopP) || s.TopP < 0 || s.TopP > 1:
		return fmt.Errorf("top-p must be in [0, 1], got %v", s.TopP)
	}
	return nil
}

// finiteLogits refuses NaN or infinite logits for the token at position
// pos, which a model with non-finite weights produces (greedy decoding would
// otherwise pick token 0 every time).
func finiteLogits(logits []float32, pos int) error {
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("non-finite logit (%v for token %d) at position %d: the model's weights are not finite — was it trained with too high a learning rate?", v, i, pos)
		}
	}
	return nil
}
