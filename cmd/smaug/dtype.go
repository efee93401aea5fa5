package main

import (
	"fmt"
	"strings"

	"github.com/smaug-dev/smaug/model"
)

// dtypeUsage is the help of --dtype, the weights' storage for commands that
// only run a model (no training).
const dtypeUsage = "how the weights are held: F32, or BF16 for half the memory (the same results for a BF16 checkpoint; rounded otherwise)"

// loadInference loads a model for scoring or generation, its weights held
// as --dtype says.
func loadInference(dir, dtype string) (*model.Model, error) {
	switch strings.ToUpper(dtype) {
	case "F32":
		return model.LoadFrozen(dir, false)
	case "BF16":
		return model.LoadFrozen(dir, true)
	}
	return nil, fmt.Errorf("--dtype %q: want F32 or BF16", dtype)
}
