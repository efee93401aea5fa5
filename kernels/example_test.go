package kernels_test

import (
	"fmt"

	"github.com/smaug-dev/smaug/kernels"
)

// A Linear layer's forward pass y = x·Wᵀ with W stored [out, in], as
// Hugging Face stores it: transB instead of an explicit transpose.
func ExampleSgemm() {
	x := []float32{ // 2 tokens × 3 inputs
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // 2 outputs × 3 inputs
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	y := make([]float32, 2*2)
	kernels.Sgemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [-2 3 -2 7.5]
}
