package tokenizer

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unicode/utf8"
)

// symbol is one node of the doubly linked list a word is merged on.
type symbol struct {
	id         int32 // token id
	prev, next int32
}

// candidate is a possible merge of the symbol at left with its successor.
// Smaller key merges first; ties go to the leftmost pair.
type candidate struct {
	key   float64 // rank, or -score
	left  int32
	right int32
	size  int32 // bytes (score-ordered) or new id (rank-ordered), to detect stale entries
}

// mergeHeap is a binary min-heap of merge candidates.
type mergeHeap []candidate

func (h mergeHeap) less(i, j int) bool {
	return h[i].key < h[j].key || (h[i].key == h[j].key && h[i].left < h[j].left)
}

func (h *mergeHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() candidate {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// merge is the result of merging a pair of ids.
type merge struct {
	rank  int32
	newID int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpe is the rank-ordered BPE model of tokenizer.json files and of GGUF
// "gpt2" vocabularies.
type bpe struct {
	vocab        map[string]int
	merges       map[uint64]merge
	unk          int // -1 when there is no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	contPrefix   string
	endSuffix    string
	byteIDs      [256]int // <0xXX> tokens for byte fallback, -1 when absent
	cache        *wordCache
	// byteInput: words arrive as raw bytes and are mapped to GPT-2
	// characters here, on a cache miss (see byteLevel.deferred).
	byteInput bool
	// metaSplit: no token has "▁" after a non-"▁" character, so no merge
	// crosses the start of a "▁" run and a long word can be encoded (and
	// cached) run by run with the same result.
	metaSplit bool
}

// canMetaSplit reports whether no vocabulary token contains "▁" right
// after a character other than "▁" (true of SentencePiece vocabularies).
func canMetaSplit(vocab map[string]int) bool {
	if _, ok := vocab["▁"]; !ok {
		return false
	}
	for tok := range vocab {
		for i := strings.Index(tok, "▁"); i >= 0 && i < len(tok); {
			if i > 0 && !strings.HasSuffix(tok[:i], "▁") {
				return false
			}
			j := strings.Index(tok[i+len("▁"):], "▁")
			if j < 0 {
				break
			}
			i += len("▁") + j
		}
	}
	return true
}

func (m *bpe) encodeWord(word string, out []int) []int {
	if m.metaSplit && len(word) > cacheMaxWord {
		start := 0
		for i := strings.Index(word, "▁"); i >= 0; {
			if i > start && !strings.HasSuffix(word[:i], "▁") {
				out = m.encodeCached(word[start:i], out)
				start = i
			}
			j := strings.Index(word[i+len("▁"):], "▁")
			if j < 0 {
				break
			}
			i += len("▁") + j
		}
		return m.encodeCached(word[start:], out)
	}
	return m.encodeCached(word, out)
}

func (m *bpe) encodeCached(word string, out []int) []int {
	if ids, ok := m.cache.get(word); ok {
		return append(out, ids...)
	}
	n := len(out)
	if m.byteInput {
		out = m.encodeUncached(byteEncode(word), out)
	} else {
		out = m.encodeUncached(word, out)
	}
	m.cache.put(word, out[n:])
	return out
}

func (m *bpe) encodeUncached(word string, out []int) []int {
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, id)
		}
	}
	syms := make([]symbol, 0, len(word))
	add := func(id int) {
		syms = append(syms, symbol{id: int32(id)})
	}
	unkID, unkPending := -1, false
	flushUnk := func() {
		if unkPending {
			add(unkID)
			unkPending = false
		}
	}
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+size]
		if i > 0 && m.contPrefix != "" {
			s = m.contPrefix + s
		}
		if i+size == len(word) && m.endSuffix != "" {
			s += m.endSuffix
		}
		i += size
		if id, ok := m.vocab[s]; ok {
			flushUnk()
			add(id)
			continue
		}
		if m.byteFallback {
			all := true
			for j := 0; j < len(s); j++ {
				if m.byteIDs[s[j]] < 0 {
					all = false
					break
				}
			}
			if all {
				// HF does not flush a pending unk here: it is emitted later.
				for j := 0; j < len(s); j++ {
					add(m.byteIDs[s[j]])
				}
				continue
			}
		}
		if m.unk < 0 {
			continue
		}
		if unkPending && !m.fuseUnk {
			add(unkID)
		}
		unkID, unkPending = m.unk, true
	}
	flushUnk()
	syms = m.mergeAll(syms)
	for _, s := range syms {
		out = append(out, int(s.id))
	}
	return out
}

// mergeAll applies merges lowest rank first (leftmost on ties) and returns
// the surviving symbols in order.
func (m *bpe) mergeAll(syms []symbol) []symbol {
	if len(syms) < 2 {
		return syms
	}
	for i := range syms {
		syms[i].prev, syms[i].next = int32(i-1), int32(i+1)
	}
	syms[len(syms)-1].next = -1
	h := make(mergeHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(candidate{key: float64(mg.rank), left: int32(i), right: int32(i + 1), size: mg.newID})
		}
	}
	dead := make([]bool, len(syms))
	for len(h) > 0 {
		c := h.pop()
		l := c.left
		if dead[l] || syms[l].next < 0 {
			continue
		}
		r := syms[l].next
		mg, ok := m.merges[pairKey(syms[l].id, syms[r].id)]
		if !ok || mg.newID != c.size {
			continue
		}
		syms[l].id = mg.newID
		dead[r] = true
		syms[l].next = syms[r].next
		if nx := syms[r].next; nx >= 0 {
			syms[nx].prev = l
		}
		if p := syms[l].prev; p >= 0 {
			if mg, ok := m.merges[pairKey(syms[p].id, syms[l].id)]; ok {
				h.push(candidate{key: float64(mg.rank), left: p, size: mg.newID})
			}
		}
		if nx := syms[l].next; nx >= 0 {
			if mg, ok := m.merges[pairKey(syms[l].id, syms[nx].id)]; ok {
				h.push(candidate{key: float64(mg.rank), left: l, size: mg.newID})
			}
		}
	}
	out := syms[:0]
	for i := range syms {
		if !dead[i] {
			out = append(out, syms[i])
		}
	}
	return out
}

// addMerge registers the merge of tokens a and b at the given rank.
func (m *bpe) addMerge(a, b string, rank int) error {
	ia, ok := m.vocab[a]
	if !ok {
		return fmt.Errorf("merge %d (%q %q): token %q is not in the vocabulary", rank, a, b, a)
	}
	ib, ok := m.vocab[b]
	if !ok {
		return fmt.Errorf("merge %d (%q %q): token %q is not in the vocabulary", rank, a, b, b)
	}
	nb := b
	if m.contPrefix != "" && len(b) >= len(m.contPrefix) && b[:len(m.contPrefix)] == m.contPrefix {
		nb = b[len(m.contPrefix):]
	}
	in, ok := m.vocab[a+nb]
	if !ok {
		return fmt.Errorf("merge %d (%q %q): merged token %q is not in the vocabulary", rank, a, b, a+nb)
	}
	k := pairKey(int32(ia), int32(ib))
	if _, dup := m.merges[k]; !dup {
		m.merges[k] = merge{rank: int32(rank), newID: int32(in)}
	}
	return nil
}

// wordCache remembers the ids of recently encoded pre-tokens. It is sharded
// to keep lock contention low when many goroutines encode at once, and stops
// growing at a fixed size.
type wordCache struct {
	seed   maphash.Seed
	shards [64]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int
}

const (
	cacheMaxWord    = 256   // bytes; longer pre-tokens are not cached
	cacheShardLimit = 10000 // entries per shard
)

func newWordCache() *wordCache {
	c := &wordCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]int)
	}
	return c
}

func (c *wordCache) shard(w string) *cacheShard {
	return &c.shards[maphash.String(c.seed, w)&63]
}

func (c *wordCache) get(w string) ([]int, bool) {
	if c == nil || len(w) > cacheMaxWord {
		return nil, false
	}
	s := c.shard(w)
	s.mu.RLock()
	ids, ok := s.m[w]
	s.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int) {
	if c == nil || len(w) > cacheMaxWord {
		return
	}
	s := c.shard(w)
	s.mu.Lock()
	if len(s.m) < cacheShardLimit {
		s.m[w] = append([]int(nil), ids...)
	}
	s.mu.Unlock()
}
