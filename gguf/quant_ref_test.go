package gguf

// Ports of ggml-quants.c's reference quantisers (quantize_row_*_ref), used
// to make the blocks the dequantisers are tested on.

import (
	"encoding/binary"
	"math"

	"github.com/smaug-dev/smaug/dtype"
)

func nearestInt(f float32) int {
	v := f + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func fp16(f float32) []byte {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, dtype.F32ToF16(f))
	return b
}

func rt16(f float32) float32 { return dtype.F16ToF32(dtype.F32ToF16(f)) }

func abs32(f float32) float32 { return float32(math.Abs(float64(f))) }

func refQ4_0(x []float32) []byte {
	var out []byte
	for b := 0; b < len(x)/32; b++ {
		blk := x[32*b : 32*b+32]
		var amax, mx float32
		for _, v := range blk {
			if amax < abs32(v) {
				amax, mx = abs32(v), v
			}
		}
		d := mx / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		out = append(out, fp16(d)...)
		for j := 0; j < 16; j++ {
			x0, x1 := blk[j]*id, blk[16+j]*id
			q0 := min(15, uint8(int8(x0+8.5)))
			q1 := min(15, uint8(int8(x1+8.5)))
			out = append(out, q0|q1<<4)
		}
	}
	return out
}

func makeQKX2(n, nmax int, x, weights []float32, L []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		mn = min(mn, x[i])
		mx = max(mx, x[i])
		sumW += weights[i]
		sumX += weights[i] * x[i]
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -mn
	}
	iscale := float32(nmax) / (mx - mn)
	scale = 1 / iscale
	var best float32
	for i := 0; i < n; i++ {
		l := max(0, min(nmax, nearestInt(iscale*(x[i]-mn))))
		L[i] = uint8(l)
		diff := scale*float32(L[i]) + mn - x[i]
		best += weights[i] * diff * diff
	}
	aux := make([]uint8, n)
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (mx - mn)
		var sl, sl2, sxl float32
		for i := 0; i < n; i++ {
			l := max(0, min(nmax, nearestInt(iscale*(x[i]-mn))))
			aux[i] = uint8(l)
			w := weights[i]
			sl += w * float32(l)
			sl2 += w * float32(l) * float32(l)
			sxl += w * float32(l) * x[i]
		}
		D := sumW*sl2 - sl*sl
		if D > 0 {
			ts := (sumW*sxl - sumX*sl) / D
			tm := (sl2*sumX - sl*sxl) / D
			if tm > 0 {
				tm = 0
				ts = sxl / sl2
			}
			var cur float32
			for i := 0; i < n; i++ {
				diff := ts*float32(aux[i]) + tm - x[i]
				cur += weights[i] * diff * diff
			}
			if cur < best {
				copy(L[:n], aux)
				best, scale, mn = cur, ts, tm
			}
		}
	}
	return scale, -mn
}

// packScalesK4 packs eight 6-bit scales and mins as quantize_row_q4_K_ref.
func packScalesK4(ls, lm [8]uint8) []byte {
	s := make([]byte, 12)
	for j := 0; j < 8; j++ {
		if j < 4 {
			s[j] = ls[j]
			s[j+4] = lm[j]
		} else {
			s[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			s[j-4] |= (ls[j] >> 4) << 6
			s[j] |= (lm[j] >> 4) << 6
		}
	}
	return s
}

// refK45 is quantize_row_q4_K_ref (nmax 15) and quantize_row_q5_K_ref
// (nmax 31).
func refK45(x []float32, nmax int) []byte {
	var out []byte
	for b := 0; b < len(x)/QK_K; b++ {
		xb := x[QK_K*b : QK_K*(b+1)]
		L := make([]uint8, QK_K)
		var scales, mins [8]float32
		var maxScale, maxMin float32
		weights := make([]float32, 32)
		for j := 0; j < 8; j++ {
			var sx2 float32
			for l := 0; l < 32; l++ {
				sx2 += xb[32*j+l] * xb[32*j+l]
			}
			av := float32(math.Sqrt(float64(sx2 / 32)))
			for l := 0; l < 32; l++ {
				weights[l] = av + abs32(xb[32*j+l])
			}
			if nmax == 15 {
				scales[j], mins[j] = makeQKX2(32, 15, xb[32*j:], weights, L[32*j:], -1, 0.1, 20)
			} else {
				scales[j], mins[j] = makeQKX2(32, 31, xb[32*j:], weights, L[32*j:], -0.5, 0.1, 15)
			}
			maxScale = max(maxScale, scales[j])
			maxMin = max(maxMin, mins[j])
		}
		var invS, invM float32
		if maxScale > 0 {
			invS = 63 / maxScale
		}
		if maxMin > 0 {
			invM = 63 / maxMin
		}
		var ls, lm [8]uint8
		for j := 0; j < 8; j++ {
			ls[j] = min(63, uint8(nearestInt(invS*scales[j])))
			lm[j] = min(63, uint8(nearestInt(invM*mins[j])))
		}
		sc := packScalesK4(ls, lm)
		d, dmin := maxScale/63, maxMin/63
		for j := 0; j < 8; j++ {
			s, m := scaleMinK4(j, sc)
			dd := rt16(d) * s
			if dd == 0 {
				continue
			}
			dm := rt16(dmin) * m
			for ii := 0; ii < 32; ii++ {
				L[32*j+ii] = uint8(max(0, min(nmax, nearestInt((xb[32*j+ii]+dm)/dd))))
			}
		}
		out = append(out, fp16(d)...)
		out = append(out, fp16(dmin)...)
		out = append(out, sc...)
		if nmax == 15 {
			for j := 0; j < QK_K; j += 64 {
				for l := 0; l < 32; l++ {
					out = append(out, L[j+l]|L[j+l+32]<<4)
				}
			}
			continue
		}
		qh := make([]byte, 32)
		ql := make([]byte, 0, 128)
		m1, m2 := byte(1), byte(2)
		for n := 0; n < QK_K; n += 64 {
			for j := 0; j < 32; j++ {
				l1, l2 := L[n+j], L[n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql = append(ql, l1|l2<<4)
			}
			m1 <<= 2
			m2 <<= 2
		}
		out = append(out, qh...)
		out = append(out, ql...)
	}
	return out
}

func makeQX(n, nmax int, x []float32, L []int8) float32 {
	var mx, amax float32
	for i := 0; i < n; i++ {
		if ax := abs32(x[i]); ax > amax {
			amax, mx = ax, x[i]
		}
	}
	if amax < 1e-15 {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0
	}
	iscale := -float32(nmax) / mx
	var sumlx, suml2 float32
	for i := 0; i < n; i++ {
		l := max(-nmax, min(nmax-1, nearestInt(iscale*x[i])))
		L[i] = int8(l + nmax)
		w := x[i] * x[i]
		sumlx += w * x[i] * float32(l)
		suml2 += w * float32(l) * float32(l)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + 0.1*float32(is)) / mx
		sumlx, suml2 = 0, 0
		for i := 0; i < n; i++ {
			l := max(-nmax, min(nmax-1, nearestInt(iscale*x[i])))
			w := x[i] * x[i]
			sumlx += w * x[i] * float32(l)
			suml2 += w * float32(l) * float32(l)
		}
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			for i := 0; i < n; i++ {
				L[i] = int8(nmax + max(-nmax, min(nmax-1, nearestInt(iscale*x[i]))))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

func refQ6_K(x []float32) []byte {
	var out []byte
	for b := 0; b < len(x)/QK_K; b++ {
		xb := x[QK_K*b : QK_K*(b+1)]
		L := make([]int8, QK_K)
		var scales [16]float32
		var maxScale, maxAbs float32
		for ib := 0; ib < 16; ib++ {
			s := makeQX(16, 32, xb[16*ib:], L[16*ib:])
			scales[ib] = s
			if abs32(s) > maxAbs {
				maxAbs, maxScale = abs32(s), s
			}
		}
		blk := make([]byte, 210)
		if maxAbs < 1e-15 {
			out = append(out, blk...)
			continue
		}
		iscale := -128 / maxScale
		copy(blk[208:], fp16(1/iscale))
		for ib := 0; ib < 16; ib++ {
			blk[192+ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		for j := 0; j < 16; j++ {
			d := rt16(1/iscale) * float32(int8(blk[192+j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := max(-32, min(31, nearestInt(xb[16*j+ii]/d)))
				L[16*j+ii] = int8(l + 32)
			}
		}
		ql, qh := blk[:128], blk[128:192]
		for j := 0; j < QK_K; j += 128 {
			for l := 0; l < 32; l++ {
				q1, q2, q3, q4 := uint8(L[j+l])&0xf, uint8(L[j+l+32])&0xf, uint8(L[j+l+64])&0xf, uint8(L[j+l+96])&0xf
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
		out = append(out, blk...)
	}
	return out
}
