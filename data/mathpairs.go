package data

import (
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
)

// Reasons a solution yields no pair, as reported in the statistics.
const (
	SkipNoFinalAnswer = "no final answer (#### N or The answer is: N)"
	SkipNoCalculation = "no calculation found"
	SkipOnlyFinal     = "no intermediate calculation (only the final answer is calculated)"
	SkipNoWrongNumber = "no plausible wrong number"
)

// WrongNumber returns a plausible wrong value for the number literal lit
// (as Calculation spans it: optional "-", digits, optional thousands
// separators and decimals, or a bare ".5"): the same sign, the same number of integer
// digits (a value below 1 stays below 1 and above 0), the same number of
// decimals and the same use of separators, different from lit, and near
// it: it moves by up to a quarter of its value (at least two steps) in
// steps of its last non-zero digit, so 24 may become 21 or 27 and 1,200
// may become 1,100 or 1,400. ok is false when lit is not such a literal.
func WrongNumber(lit string, rng *rand.Rand) (string, bool) {
	neg := strings.HasPrefix(lit, "-")
	body := strings.TrimPrefix(lit, "-")
	commas := strings.Contains(body, ",")
	intPart, frac, _ := strings.Cut(strings.ReplaceAll(body, ",", ""), ".")
	bare := intPart == "" // ".4": no digit before the point
	if bare {
		intPart = "0"
	}
	if (bare && frac == "") || len(intPart)+len(frac) > 17 {
		return "", false
	}
	u, err := strconv.ParseUint(intPart+frac, 10, 64)
	if err != nil {
		return "", false
	}
	d := len(frac)
	scale := pow10(d)
	k := len(strings.TrimLeft(intPart, "0")) // integer digits
	var lo, hi uint64
	if k == 0 {
		lo, hi = 1, scale-1 // 0.x stays in (0, 1)
		if d == 0 {
			lo, hi = 1, 9 // "0" becomes a one-digit number
		}
	} else {
		lo, hi = pow10(k-1)*scale, pow10(k)*scale-1
	}
	step := uint64(1)
	for u != 0 && u%(step*10) == 0 && step*10 <= u {
		step *= 10
	}
	reach := max(2, u/step/4)
	try := func(delta int64) (uint64, bool) {
		v := int64(u) + delta*int64(step)
		if v < int64(lo) || v > int64(hi) || v == int64(u) {
			return 0, false
		}
		return uint64(v), true
	}
	var v uint64
	found := false
	for range 32 {
		delta := int64(1 + rng.Uint64N(reach))
		if rng.IntN(2) == 0 {
			delta = -delta
		}
		if v, found = try(delta); found {
			break
		}
	}
	for delta := int64(1); !found && delta <= int64(reach); delta++ {
		if v, found = try(delta); !found {
			v, found = try(-delta)
		}
	}
	if !found {
		return "", false
	}
	ip := strconv.FormatUint(v/scale, 10)
	if commas {
		ip = groupThousands(ip)
	}
	out := ip
	if bare {
		out = ""
	}
	if d > 0 {
		f := strconv.FormatUint(v%scale, 10)
		out += "." + strings.Repeat("0", d-len(f)) + f
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	first := len(digits) % 3
	if first == 0 {
		first = 3
	}
	b.WriteString(digits[:first])
	for i := first; i < len(digits); i += 3 {
		b.WriteByte(',')
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// CorruptSolution returns up to k rejected versions of a step-by-step
// solution. Each replaces the result of one intermediate calculation (one
// whose value is not the final answer) with WrongNumber; the text before
// and after it, the final answer included, is unchanged. Different versions
// corrupt different calculations while there are enough of them, then
// reuse them with other wrong numbers. When it returns none, reason says
// why (one of the Skip constants).
func CorruptSolution(solution string, k int, rng *rand.Rand) (rejected []string, reason string) {
	marker, final, numeric := FinalAnswer(solution)
	if marker < 0 {
		return nil, SkipNoFinalAnswer
	}
	calcs := FindCalculations(solution)
	if len(calcs) == 0 {
		return nil, SkipNoCalculation
	}
	cands := calcs[:0:0]
	for _, c := range calcs {
		if !numeric || math.Abs(c.Value-final) > 1e-9*math.Max(1, math.Abs(final)) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil, SkipOnlyFinal
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	used := map[string]bool{}
	for j := 0; len(rejected) < k && j < 4*k; j++ {
		c := cands[j%len(cands)]
		lit := solution[c.Start:c.End]
		for range 8 {
			w, ok := WrongNumber(lit, rng)
			if !ok {
				break
			}
			key := strconv.Itoa(c.Start) + ":" + w
			if used[key] {
				continue
			}
			used[key] = true
			rejected = append(rejected, solution[:c.Start]+w+solution[c.End:])
			break
		}
	}
	if len(rejected) == 0 {
		return nil, SkipNoWrongNumber
	}
	return rejected, ""
}

// MathOptions tunes MathPairs.
type MathOptions struct {
	// Fields maps the canonical names query and response to the file's
	// columns; question and answer (GSM8K) are recognised as well.
	Fields FieldMap
	// PerExample is the number of pairs per solution (at least 1).
	PerExample int
	// Seed makes the corruption and the few-shot sample reproducible.
	Seed int64
	// Shots > 0 writes prompts in the lm-evaluation-harness GSM8K
	// few-shot layout: Shots examples drawn from FewShot (MathItem's
	// items; never the row itself), each GSM8KQuery + " " + its full
	// solution, joined by "\n\n", then "\n\n" + GSM8KQuery(query), and
	// completions " " + solution. Zero keeps the bare query and solution.
	Shots int
	// FewShot is the pool the examples come from (with Shots > 0).
	FewShot *FewShotPool
}

// mathRow reads a math row's query, solution and ID (the id field, else
// "file:line", as DecodeMC names items).
func mathRow(row Row, m FieldMap) (query, solution, id string, err error) {
	if query, err = getString(row, m, "query", "question"); err != nil {
		return "", "", "", err
	}
	if solution, err = getString(row, m, "response", "answer"); err != nil {
		return "", "", "", err
	}
	id, _ = row.Fields[m.Column("id")].(string)
	if id == "" {
		id = filepath.Base(row.Source) + ":" + strconv.Itoa(row.Line)
	}
	return query, solution, id, nil
}

// MathItem returns a math row (the layouts MathPairs reads) as a GSM8K
// few-shot example for a FewShotPool: one choice, context
// GSM8KQuery(query), target " " + the full solution.
func MathItem(row Row, fields FieldMap) (MCItem, error) {
	query, solution, id, err := mathRow(row, fields)
	if err != nil {
		return MCItem{}, err
	}
	return MCItem{
		ID: id, Source: row.Source, Line: row.Line,
		Contexts: []string{GSM8KQuery(query)},
		Targets:  []string{" " + solution},
	}, nil
}

// MathPairs builds the MetaMath-style pairs of one row: prompt = the query
// (MetaMathQA "query" or GSM8K "question"), chosen = the solution
// ("response" or "answer"), rejected = CorruptSolution's versions of it;
// with opts.Shots > 0, prompt and completions in the GSM8K few-shot
// layout (see MathOptions.Shots). The random choices depend only on the
// seed and the row's text (the few-shot sample on the seed and the row's
// ID), so a row gives the same pairs wherever it is in the file. When the
// row yields no pair, reason says why; err reports a missing or malformed
// field.
func MathPairs(row Row, opts MathOptions) (pairs []Pair, reason string, err error) {
	query, solution, id, err := mathRow(row, opts.Fields)
	if err != nil {
		return nil, "", err
	}
	h := fnv.New64a()
	io.WriteString(h, query)
	h.Write([]byte{0})
	io.WriteString(h, solution)
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), h.Sum64()))
	rejected, reason := CorruptSolution(solution, max(1, opts.PerExample), rng)
	prompt, lead := query, ""
	if opts.Shots > 0 && len(rejected) > 0 {
		it := MCItem{ID: id, Source: row.Source, Contexts: []string{GSM8KQuery(query)}, Targets: []string{" " + solution}}
		prompt, lead = opts.FewShot.Prefix(it, opts.Shots, opts.Seed)+it.Contexts[0], " "
	}
	for i, r := range rejected {
		pairs = append(pairs, Pair{
			Prompt: prompt, Chosen: lead + solution, Rejected: lead + r,
			Source: "metamath:" + filepath.Base(row.Source),
			ID:     id + "/" + strconv.Itoa(i),
			Line:   row.Line,
		})
	}
	return pairs, reason, nil
}
