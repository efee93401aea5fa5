package tensor

import (
	"fmt"
	"math"
	"sync"

	"github.com/smaug-dev/smaug/kernels"
)

// RopeTable holds cos/sin of rotary position embeddings for one head size,
// computed as transformers does: inv_freq in float32, angle = float32
// position × inv_freq rounded to float32, then cos and sin of that angle. The
// table grows on demand and is safe for concurrent use.
type RopeTable struct {
	HeadDim int
	invFreq []float32
	mu      sync.RWMutex
	cos     []float32 // [positions, HeadDim/2]
	sin     []float32
}

// NewRopeTable makes a table for the given inverse frequencies (HeadDim/2 of
// them; see package model for the default, linear and llama3 formulas).
func NewRopeTable(headDim int, invFreq []float64) *RopeTable {
	if headDim%2 != 0 || len(invFreq) != headDim/2 {
		panic(fmt.Sprintf("tensor.NewRopeTable: head dim %d with %d frequencies", headDim, len(invFreq)))
	}
	t := &RopeTable{HeadDim: headDim, invFreq: make([]float32, len(invFreq))}
	for i, f := range invFreq {
		t.invFreq[i] = float32(f)
	}
	return t
}

// rows returns the cos and sin tables covering positions [0, n).
func (t *RopeTable) rows(n int) (cos, sin []float32) {
	half := t.HeadDim / 2
	t.mu.RLock()
	if len(t.cos) >= n*half {
		cos, sin = t.cos, t.sin
		t.mu.RUnlock()
		return
	}
	t.mu.RUnlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	have := len(t.cos) / half
	if have < n {
		m := max(n, 2*have, 64)
		c, s := make([]float32, m*half), make([]float32, m*half)
		copy(c, t.cos)
		copy(s, t.sin)
		for p := have; p < m; p++ {
			for i, f := range t.invFreq {
				a := float64(float32(p) * f)
				c[p*half+i] = float32(math.Cos(a))
				s[p*half+i] = float32(math.Sin(a))
			}
		}
		t.cos, t.sin = c, s
	}
	return t.cos, t.sin
}

// RoPE rotates each head of x [rows, heads·HeadDim] by the angle of its row's
// position pos[row], in transformers' rotate_half layout: for i < HeadDim/2,
// the pair (x_i, x_{i+HeadDim/2}) is rotated by pos·inv_freq_i.
//
// Backward applies the inverse rotation to the output gradient.
func RoPE(tp *Tape, x *Tensor, heads int, tbl *RopeTable, pos []int) *Tensor {
	hd, half := tbl.HeadDim, tbl.HeadDim/2
	rows := x.Rows()
	if x.Cols() != heads*hd || len(pos) != rows {
		panic(fmt.Sprintf("tensor.RoPE: x %v, %d heads of %d, %d positions", x.Shape, heads, hd, len(pos)))
	}
	maxPos := 0
	for _, p := range pos {
		maxPos = max(maxPos, p)
	}
	cos, sin := tbl.rows(maxPos + 1)
	grad := tp.needs(x)
	y := tp.outputRaw(grad, x.Shape...)
	rotate(x.Data, y.Data, rows, heads, hd, half, pos, cos, sin, 1)
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		// Inverse rotation (angle −θ), written or accumulated into x.Grad.
		unrotateInto(tp, x, y.Grad, rows, heads, hd, half, pos, cos, sin)
	})
	return y
}

// RoPEInPlace is RoPE computed in x's storage, for an x that nothing reads
// afterwards and whose value no backward needs (a projection's output):
// x must not be used after the call. Its backward rotates the output
// gradient in place when x has no gradient yet. The results are RoPE's,
// bit for bit.
func RoPEInPlace(tp *Tape, x *Tensor, heads int, tbl *RopeTable, pos []int) *Tensor {
	hd, half := tbl.HeadDim, tbl.HeadDim/2
	rows := x.Rows()
	if x.Cols() != heads*hd || len(pos) != rows {
		panic(fmt.Sprintf("tensor.RoPEInPlace: x %v, %d heads of %d, %d positions", x.Shape, heads, hd, len(pos)))
	}
	maxPos := 0
	for _, p := range pos {
		maxPos = max(maxPos, p)
	}
	cos, sin := tbl.rows(maxPos + 1)
	grad := tp.needs(x)
	rotate(x.Data, x.Data, rows, heads, hd, half, pos, cos, sin, 1)
	y := &Tensor{Shape: append([]int(nil), x.Shape...), Data: x.Data, RequiresGrad: grad}
	if !grad {
		return y
	}
	tp.record(func() {
		if y.Grad == nil {
			return
		}
		if x.Grad == nil && !x.param {
			x.Grad = y.Grad
			rotate(y.Grad, y.Grad, rows, heads, hd, half, pos, cos, sin, -1)
			return
		}
		unrotateInto(tp, x, y.Grad, rows, heads, hd, half, pos, cos, sin)
	})
	return y
}

// rotate writes the rotation of src by sign·θ into dst, which may be src.
func rotate(src, dst []float32, rows, heads, hd, half int, pos []int, cos, sin []float32, sign float32) {
	kernels.Parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c := cos[pos[r]*half : pos[r]*half+half]
			s := sin[pos[r]*half : pos[r]*half+half]
			for h := 0; h < heads; h++ {
				off := r*heads*hd + h*hd
				x1, x2 := src[off:off+half], src[off+half:off+hd]
				y1, y2 := dst[off:off+half], dst[off+half:off+hd]
				for i := 0; i < half; i++ {
					si, a, b := sign*s[i], x1[i], x2[i]
					y1[i] = a*c[i] - b*si
					y2[i] = b*c[i] + a*si
				}
			}
		}
	})
}

// unrotateInto applies the inverse rotation (angle −θ) to the output
// gradient g and writes it into x's gradient, or adds it there when x
// already has one: RoPE's backward.
func unrotateInto(tp *Tape, x *Tensor, g []float32, rows, heads, hd, half int, pos []int, cos, sin []float32) {
	gx, fresh := tp.gradRaw(x)
	if fresh {
		rotate(g, gx, rows, heads, hd, half, pos, cos, sin, -1)
		return
	}
	tmp := tp.allocRaw(len(g))
	rotate(g, tmp, rows, heads, hd, half, pos, cos, sin, -1)
	for i, v := range tmp {
		gx[i] += v
	}
}
