package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"hash"
	"os"
	"path/filepath"
	"sort"

	"github.com/smaug-dev/smaug/model"
)

// RefLogps are the reference model's sequence log-probs of each example's
// chosen and rejected completions.
type RefLogps [][2]float64

// scoreExamples computes the sequence log-probs of every example's chosen
// and rejected completion under m (no tape), batchSize examples at a time.
func scoreExamples(m *model.Model, exs []Example, batchSize int, progress func(int)) (RefLogps, error) {
	out := make(RefLogps, len(exs))
	for lo := 0; lo < len(exs); lo += batchSize {
		hi := min(lo+batchSize, len(exs))
		items, _ := PairItems(exs[lo:hi])
		s, err := m.LogProbs(nil, items)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(exs[lo]), err)
		}
		n := hi - lo
		for i := 0; i < n; i++ {
			out[lo+i] = [2]float64{float64(s.Seq.Data[i]), float64(s.Seq.Data[n+i])}
			for _, v := range out[lo+i] {
				if !isFinite(v) {
					return nil, fmt.Errorf("%s: the reference model gives a log-prob of %v: its weights are not finite (saved from a diverged run?)", where(exs[lo+i]), v)
				}
			}
		}
		if progress != nil {
			progress(n)
		}
	}
	return out, nil
}

// modelIdentity hashes what identifies a checkpoint folder without reading
// its weights: config.json and each weight file's name, size and
// modification time.
func modelIdentity(h hash.Hash, dir string) error {
	fmt.Fprintf(h, "model:%s\n", dir)
	names, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return err
	}
	names = append(names, filepath.Join(dir, "config.json"), filepath.Join(dir, "adapter_config.json"))
	sort.Strings(names)
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s %d %d\n", filepath.Base(n), st.Size(), st.ModTime().UnixNano())
	}
	return nil
}

// refCacheKey names the cached reference log-probs of a set of examples
// under a reference model.
func refCacheKey(refIdentity string, exs []Example) string {
	h := sha256.New()
	h.Write([]byte(refIdentity))
	var buf [8]byte
	put := func(ids []int) {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(ids)))
		h.Write(buf[:])
		for _, id := range ids {
			binary.LittleEndian.PutUint64(buf[:], uint64(id))
			h.Write(buf[:])
		}
	}
	for _, e := range exs {
		put(e.Prompt)
		put(e.Chosen)
		put(e.Rejected)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// refCache is the on-disk form of cached reference log-probs.
type refCache struct {
	Key   string   `json:"key"`
	Logps RefLogps `json:"logps"`
}

// cachedReference returns the reference log-probs stored under key in dir,
// or computes them with compute and stores them (atomically).
func cachedReference(dir, key string, n int, compute func() (RefLogps, error)) (RefLogps, bool, error) {
	path := filepath.Join(dir, "ref_logps-"+key+".json")
	if b, err := os.ReadFile(path); err == nil {
		var c refCache
		if json.Unmarshal(b, &c) == nil && c.Key == key && len(c.Logps) == n {
			return c.Logps, true, nil
		}
	}
	r, err := compute()
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(refCache{Key: key, Logps: r})
	if err != nil {
		return nil, false, err
	}
	return r, false, atomicfile.WriteFile(path, b)
}
