package eval

import "math"

// PyRandom reproduces CPython's random.Random: the MT19937 generator seeded
// as random.seed(int) seeds it (init_by_array over the 32-bit words of |seed|),
// and the methods the harness and the contamination tool use — random(),
// getrandbits, _randbelow, shuffle and sample — drawing exactly the numbers
// CPython draws, so shuffles and samples come out identical.
type PyRandom struct {
	mt  [624]uint32
	idx int
}

// NewPyRandom returns a generator in the state random.Random(seed) starts in.
func NewPyRandom(seed int64) *PyRandom {
	r := &PyRandom{}
	r.Seed(seed)
	return r
}

// Seed resets the generator as random.seed(seed) does for an int seed.
func (r *PyRandom) Seed(seed int64) {
	u := uint64(seed)
	if seed < 0 {
		u = uint64(-seed) // abs(seed); math.MinInt64 wraps to 2^63, which is its abs.
	}
	key := []uint32{uint32(u)}
	if hi := uint32(u >> 32); hi != 0 {
		key = append(key, hi)
	}
	r.initByArray(key)
}

func (r *PyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = 624
}

func (r *PyRandom) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	k := max(624, len(key))
	for ; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = 623; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
}

// Uint32 returns the next 32-bit output of MT19937 (genrand_uint32).
func (r *PyRandom) Uint32() uint32 {
	const upper, lower = 0x80000000, 0x7fffffff
	if r.idx >= 624 {
		var kk int
		mag := [2]uint32{0, 0x9908b0df}
		for kk = 0; kk < 624-397; kk++ {
			y := (r.mt[kk] & upper) | (r.mt[kk+1] & lower)
			r.mt[kk] = r.mt[kk+397] ^ (y >> 1) ^ mag[y&1]
		}
		for ; kk < 623; kk++ {
			y := (r.mt[kk] & upper) | (r.mt[kk+1] & lower)
			r.mt[kk] = r.mt[kk+(397-624)] ^ (y >> 1) ^ mag[y&1]
		}
		y := (r.mt[623] & upper) | (r.mt[0] & lower)
		r.mt[623] = r.mt[396] ^ (y >> 1) ^ mag[y&1]
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Random returns a float64 in [0, 1) as random.random() does (53 bits from
// two outputs).
func (r *PyRandom) Random() float64 {
	a, b := r.Uint32()>>5, r.Uint32()>>6
	return (float64(a)*67108864.0 + float64(b)) * (1.0 / 9007199254740992.0)
}

// GetRandBits returns k random bits (0 ≤ k ≤ 64) as random.getrandbits(k)
// does: 32-bit words from least to most significant, the last one shifted
// down to the bits that remain.
func (r *PyRandom) GetRandBits(k int) uint64 {
	if k <= 0 {
		return 0
	}
	if k <= 32 {
		return uint64(r.Uint32() >> (32 - k))
	}
	lo := uint64(r.Uint32())
	hi := uint64(r.Uint32() >> (64 - k))
	return lo | hi<<32
}

// RandBelow returns an int in [0, n) as Random._randbelow does (rejection
// sampling over n.bit_length() random bits). n must be positive.
func (r *PyRandom) RandBelow(n int) int {
	k := 0
	for v := uint64(n); v != 0; v >>= 1 {
		k++
	}
	x := r.GetRandBits(k)
	for x >= uint64(n) {
		x = r.GetRandBits(k)
	}
	return int(x)
}

// Shuffle permutes a sequence of n elements in place as random.shuffle does;
// swap exchanges elements i and j.
func (r *PyRandom) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.RandBelow(i+1))
	}
}

// Sample returns the indices of k distinct elements of a population of n,
// in selection order, as random.sample(population, k) selects them (the
// pool method for small populations, set rejection for large ones). It
// panics unless 0 ≤ k ≤ n, as CPython raises.
func (r *PyRandom) Sample(n, k int) []int {
	if k < 0 || k > n {
		panic("eval: sample larger than population or is negative")
	}
	out := make([]int, k)
	setsize := 21
	if k > 5 {
		setsize += int(math.Pow(4, math.Ceil(math.Log(float64(k*3))/math.Log(4))))
	}
	if n <= setsize {
		pool := make([]int, n)
		for i := range pool {
			pool[i] = i
		}
		for i := 0; i < k; i++ {
			j := r.RandBelow(n - i)
			out[i] = pool[j]
			pool[j] = pool[n-i-1]
		}
		return out
	}
	selected := make(map[int]bool, k)
	for i := 0; i < k; i++ {
		j := r.RandBelow(n)
		for selected[j] {
			j = r.RandBelow(n)
		}
		selected[j] = true
		out[i] = j
	}
	return out
}
