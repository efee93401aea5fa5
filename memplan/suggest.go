package memplan

import (
	"fmt"
	"strings"
)

// Suggestion is a cheaper configuration and its estimate.
type Suggestion struct {
	// Change says what to change, in the terms of [Plan]'s fields.
	Change string
	// Plan is the changed plan and Estimate its estimate.
	Plan     Plan
	Estimate Estimate
	// Fits reports whether the estimate is within the available memory.
	Fits bool
}

// Suggestions returns the changes that lower the estimate, cheapest to the
// run's quality first, each alone and then combined, with their estimates:
// LoRA (rank 16, when training every parameter), frozen weights in
// bfloat16 (under LoRA or for a reference copy), cached reference
// log-probs, gradient checkpointing, and a smaller micro-batch (the same
// examples per step with more accumulation). Those that fit in avail come
// first; a change that would not lower the estimate is left out (LoRA
// adds activations of its own, more than it saves on a small model with
// long sequences). The entry that combines every change is there even
// when nothing fits, to show how far the run is from fitting.
func (p Plan) Suggestions(avail int64) []Suggestion {
	type change struct {
		what  string
		apply func(*Plan) bool // false: does not apply to this plan
	}
	changes := []change{
		{"LoRA (rank 16 on q, k, v and o projections) instead of full fine-tuning", func(q *Plan) bool {
			if q.LoRARank > 0 {
				return false
			}
			q.LoRARank, q.LoRATargets = 16, []string{"q_proj", "k_proj", "v_proj", "o_proj"}
			if q.Reference == RefFrozenCopy {
				q.Reference = RefCached
			}
			return true
		}},
		{"frozen weights in bfloat16", func(q *Plan) bool {
			if q.BaseBF16 || !(q.LoRARank > 0 || q.Reference == RefFrozenCopy) {
				return false
			}
			q.BaseBF16 = true
			return true
		}},
		{"cached reference log-probs", func(q *Plan) bool {
			if q.Reference != RefFrozenCopy && q.Reference != RefAdapterOff {
				return false
			}
			q.Reference = RefCached
			return true
		}},
		{"gradient checkpointing", func(q *Plan) bool {
			if q.GradientCheckpointing {
				return false
			}
			q.GradientCheckpointing = true
			return true
		}},
	}
	var fit, rest []Suggestion
	base := p.Estimate().Total()
	add := func(what string, q Plan) {
		e := q.Estimate()
		if e.Total() >= base {
			return // LoRA's adapter paths can cost more activations than they save
		}
		s := Suggestion{Change: what, Plan: q, Estimate: e, Fits: e.Total() <= avail}
		if s.Fits {
			fit = append(fit, s)
		} else {
			rest = append(rest, s)
		}
	}
	all := p
	var allWhat []string
	for _, c := range changes {
		q := p
		if c.apply(&q) {
			add(c.what, q)
		}
		if c.apply(&all) {
			allWhat = append(allWhat, c.what)
		}
	}
	// A smaller micro-batch: halve until it fits or holds one example.
	per := p.perSequence()
	for div := 2; p.Sequences/div >= per; div *= 2 {
		q := p.smallerBatch(div)
		if q.Estimate().Total() <= avail || q.Sequences/2 < per {
			add(fmt.Sprintf("micro-batch of %d sequences instead of %d, with %d× the gradient accumulation", q.Sequences, p.Sequences, div), q)
			break
		}
	}
	for div := 1; ; div *= 2 {
		q := all.smallerBatch(div)
		if q.Estimate().Total() <= avail || q.Sequences <= per {
			all = q
			break
		}
	}
	if all.Sequences < p.Sequences {
		allWhat = append(allWhat, fmt.Sprintf("micro-batch of %d sequences", all.Sequences))
	}
	if len(allWhat) > 1 {
		e := all.Estimate()
		s := Suggestion{Change: "all of: " + strings.Join(allWhat, " + "), Plan: all, Estimate: e, Fits: e.Total() <= avail}
		if s.Fits {
			fit = append(fit, s)
		} else {
			rest = append(rest, s)
		}
	}
	return append(fit, rest...)
}

// perSequence is the number of sequences of one example: the estimate
// cannot go below one example a micro-batch.
func (p Plan) perSequence() int { return max(p.PerExample, 1) }

// smallerBatch divides the micro-batch by div (whole examples).
func (p Plan) smallerBatch(div int) Plan {
	q := p
	per := p.perSequence()
	q.Sequences = max(per, p.Sequences/div/per*per)
	q.CompletionTokens = max(1, int(int64(p.CompletionTokens)*int64(q.Sequences)/int64(p.Sequences)))
	return q
}
