package main

import (
	"fmt"

	"github.com/smaug-dev/smaug/dtype"
	"github.com/smaug-dev/smaug/model"
)

// dtypeUsage is the help of --dtype, the weights' storage for commands that
// only run a model (no training).
const dtypeUsage = "how the weights are held: F32, or BF16 for half the memory (the same results for a BF16 checkpoint; rounded otherwise)"

// computeDTypeUsage is the help of --compute-dtype for commands that score.
const computeDTypeUsage = "precision of the matrix products (projections, output layer): F32, or BF16 as torch autocast — bfloat16 operands, float32 sums (sequence log-probs moved by up to 0.5% relative on the fixtures; see the README)"

// loadInference loads a model for scoring or generation, its weights held
// as --dtype says (a name dtype.Parse reads; F32 or BF16).
func loadInference(dir, name string) (*model.Model, error) {
	d, err := dtype.Parse(name)
	if err != nil || d == dtype.F16 {
		return nil, fmt.Errorf("--dtype %q: want F32 or BF16", name)
	}
	return model.LoadFrozen(dir, d == dtype.BF16)
}
