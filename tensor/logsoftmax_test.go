package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLinearLogSoftmaxGatherReference compares the fused output layer, in
// chunks of 1, 3, 7 and all rows, with a float64 transcription (logits,
// log-softmax, the gradient dy·(onehot − softmax) pushed through the
// projection by hand): log-probs and means within 1e-5 absolute, gradients
// of x and W within 1e-5 relative. A bfloat16 W must give the same as a
// float32 W holding the same values. Chunk −1 stands for the unfused layer:
// Linear over every row of x, then LogSoftmaxGather.
func TestLinearLogSoftmaxGatherReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const n, hid, vocab = 6, 8, 37
	x0 := randTensor(r, 1, n, hid)
	w0 := randTensor(r, 0.7, vocab, hid)
	// Round W to bfloat16 values so the bf16 run holds the same numbers.
	bits := ToBF16(w0.Data)
	widenBF16(w0.Data, bits)
	rows := []int{5, 0, 2, 2, 4, 1, 3, 0, 5}
	targets := []int{0, 36, 4, 4, 17, 9, 3, 2, 30}
	dy := make([]float64, len(rows))
	for i := range dy {
		dy[i] = r.NormFloat64()
	}
	// float64 reference.
	wantLogp, wantMean := make([]float64, len(rows)), make([]float64, len(rows))
	wantGX, wantGW := make([]float64, n*hid), make([]float64, vocab*hid)
	for k, row := range rows {
		lg := make([]float64, vocab)
		m := math.Inf(-1)
		for v := range lg {
			for c := 0; c < hid; c++ {
				lg[v] += float64(x0.Data[row*hid+c]) * float64(w0.Data[v*hid+c])
			}
			m = math.Max(m, lg[v])
			wantMean[k] += lg[v] / vocab
		}
		var z float64
		for _, v := range lg {
			z += math.Exp(v - m)
		}
		lse := m + math.Log(z)
		wantLogp[k] = lg[targets[k]] - lse
		for v := range lg {
			g := -dy[k] * math.Exp(lg[v]-lse)
			if v == targets[k] {
				g += dy[k]
			}
			for c := 0; c < hid; c++ {
				wantGX[row*hid+c] += g * float64(w0.Data[v*hid+c])
				wantGW[v*hid+c] += g * float64(x0.Data[row*hid+c])
			}
		}
	}
	rel := func(got []float32, want []float64) float64 {
		var d2, n2 float64
		for i, w := range want {
			d := float64(got[i]) - w
			d2 += d * d
			n2 += w * w
		}
		return math.Sqrt(d2 / n2)
	}
	seed := make([]float32, len(dy))
	for i, v := range dy {
		seed[i] = float32(v)
	}
	var worstLogp, worstGrad float64
	defer func() { t.Logf("worst: log-prob/mean %.1e absolute, gradient %.1e relative", worstLogp, worstGrad) }()
	for _, chunk := range []int{1, 3, 7, 0, -1} {
		for _, bf16 := range []bool{false, true} {
			x := &Tensor{Shape: x0.Shape, Data: x0.Data, RequiresGrad: true}
			w := NewParam(append([]float32(nil), w0.Data...), vocab, hid)
			if bf16 {
				w = FromBF16(bits, vocab, hid)
			}
			tp := NewTape()
			var y *Tensor
			var mean []float32
			if chunk < 0 {
				y, mean = LogSoftmaxGather(tp, Linear(tp, x, w, nil), rows, targets)
			} else {
				y, mean = LinearLogSoftmaxGather(tp, x, w, rows, targets, chunk)
			}
			for k := range rows {
				worstLogp = max(worstLogp, math.Abs(float64(y.Data[k])-wantLogp[k]), math.Abs(float64(mean[k])-wantMean[k]))
				if math.Abs(float64(y.Data[k])-wantLogp[k]) > 1e-5 || math.Abs(float64(mean[k])-wantMean[k]) > 1e-5 {
					t.Errorf("chunk %d bf16 %v: row %d: logp %v mean %v, want %v %v", chunk, bf16, k, y.Data[k], mean[k], wantLogp[k], wantMean[k])
				}
			}
			tp.Backward(y, seed)
			worstGrad = max(worstGrad, rel(x.Grad, wantGX))
			if e := rel(x.Grad, wantGX); e > 1e-5 {
				t.Errorf("chunk %d bf16 %v: dX relative error %.2e > 1e-5", chunk, bf16, e)
			}
			if !bf16 {
				worstGrad = max(worstGrad, rel(w.Grad, wantGW))
				if e := rel(w.Grad, wantGW); e > 1e-5 {
					t.Errorf("chunk %d: dW relative error %.2e > 1e-5", chunk, e)
				}
			}
		}
	}
}
