package data

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// MathProblem is one generated GSM8K-style word problem.
type MathProblem struct {
	// Question is the problem text.
	Question string
	// Answer is the step-by-step solution: one line per calculation,
	// written "a op b = <<a op b=c>>c", then "#### N".
	Answer string
	// Result is the final answer N.
	Result int
	// Steps is the number of calculations.
	Steps int
}

// SynthMath generates n arithmetic word problems with GSM8K's calculator
// annotations and "#### N" answers, reproducibly for a seed. It uses three
// templates (a possession story of 1–4 steps with + - * /, a shopping bill
// of 2–3 steps, a production rate of 1–3 steps), a small fixed vocabulary,
// whole numbers, and keeps every intermediate result and the answer
// between 1 and 999.
func SynthMath(n int, seed int64) []MathProblem {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	out := make([]MathProblem, 0, n)
	for len(out) < n {
		var p MathProblem
		var ok bool
		switch rng.IntN(3) {
		case 0:
			p, ok = synthPossession(rng)
		case 1:
			p, ok = synthShopping(rng)
		default:
			p, ok = synthRate(rng)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

type synthPerson struct{ name, he, his string }

var (
	synthPeople = []synthPerson{
		{"Tom", "he", "his"}, {"Sam", "he", "his"}, {"Ben", "he", "his"},
		{"Ann", "she", "her"}, {"Mia", "she", "her"}, {"Liz", "she", "her"},
	}
	synthItems  = []string{"apples", "pens", "cards", "books", "eggs", "shells"}
	synthGoods  = []struct{ many, one string }{{"pens", "bag"}, {"books", "lamp"}, {"cups", "tray"}, {"hats", "coat"}}
	synthMakers = []struct{ who, what string }{{"A baker", "loaves"}, {"A farmer", "boxes"}, {"A potter", "cups"}}
)

// synthCalc formats one annotated calculation and returns its result.
func synthCalc(a int, op byte, b int) (string, int) {
	var c int
	switch op {
	case '+':
		c = a + b
	case '-':
		c = a - b
	case '*':
		c = a * b
	case '/':
		c = a / b
	}
	return fmt.Sprintf("%d %c %d = <<%d%c%d=%d>>%d", a, op, b, a, op, b, c, c), c
}

func inRange(v int) bool { return v >= 1 && v <= 999 }

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func synthPossession(rng *rand.Rand) (MathProblem, bool) {
	who := synthPeople[rng.IntN(len(synthPeople))]
	friend := synthPeople[rng.IntN(len(synthPeople))]
	item := synthItems[rng.IntN(len(synthItems))]
	steps := 1 + rng.IntN(4)
	x := 2 + rng.IntN(60)
	q := []string{fmt.Sprintf("%s has %d %s.", who.name, x, item)}
	var a []string
	for range steps {
		var calc string
		var y int
		switch rng.IntN(4) {
		case 0:
			b := 1 + rng.IntN(40)
			q = append(q, fmt.Sprintf("%s buys %d more %s.", capitalize(who.he), b, item))
			calc, y = synthCalc(x, '+', b)
			a = append(a, fmt.Sprintf("After buying, %s has %s %s.", who.he, calc, item))
		case 1:
			if x < 2 {
				return MathProblem{}, false
			}
			b := 1 + rng.IntN(x-1)
			q = append(q, fmt.Sprintf("%s gives %d %s to %s.", capitalize(who.he), b, item, friend.name))
			calc, y = synthCalc(x, '-', b)
			a = append(a, fmt.Sprintf("After giving some away, %s has %s %s.", who.he, calc, item))
		case 2:
			k := 2 + rng.IntN(2)
			word := map[int]string{2: "doubles", 3: "triples"}[k]
			q = append(q, fmt.Sprintf("Then %s %s the number of %s %s has.", who.he, word, item, who.he))
			calc, y = synthCalc(x, '*', k)
			a = append(a, fmt.Sprintf("Then %s has %s %s.", who.he, calc, item))
		default:
			k := 2 + rng.IntN(4)
			if x%k != 0 {
				return MathProblem{}, false
			}
			q = append(q, fmt.Sprintf("%s puts the %s into %d equal boxes and keeps one box.", capitalize(who.he), item, k))
			calc, y = synthCalc(x, '/', k)
			a = append(a, fmt.Sprintf("One box holds %s %s.", calc, item))
		}
		if !inRange(y) {
			return MathProblem{}, false
		}
		x = y
	}
	q = append(q, fmt.Sprintf("How many %s does %s have now?", item, who.name))
	return synthProblem(q, a, x, steps), true
}

func synthShopping(rng *rand.Rand) (MathProblem, bool) {
	who := synthPeople[rng.IntN(len(synthPeople))]
	g := synthGoods[rng.IntN(len(synthGoods))]
	n, price, extra := 2+rng.IntN(9), 2+rng.IntN(30), 3+rng.IntN(50)
	cost, total := n*price, n*price+extra
	q := []string{fmt.Sprintf("%s buys %d %s that cost $%d each and a %s that costs $%d.", who.name, n, g.many, price, g.one, extra)}
	c1, _ := synthCalc(n, '*', price)
	c2, _ := synthCalc(cost, '+', extra)
	a := []string{
		fmt.Sprintf("The %s cost %s dollars.", g.many, c1),
		fmt.Sprintf("In all %s spends %s dollars.", who.he, c2),
	}
	if rng.IntN(2) == 0 {
		q = append(q, fmt.Sprintf("How much does %s spend in all?", who.he))
		return synthProblem(q, a, total, 2), inRange(total)
	}
	paid := (total/100 + 1) * 100
	c3, change := synthCalc(paid, '-', total)
	q = append(q, fmt.Sprintf("%s pays with $%d. How much change does %s get?", capitalize(who.he), paid, who.he))
	a = append(a, fmt.Sprintf("%s gets %s dollars back.", capitalize(who.he), c3))
	return synthProblem(q, a, change, 3), inRange(paid) && inRange(change)
}

func synthRate(rng *rand.Rand) (MathProblem, bool) {
	m := synthMakers[rng.IntN(len(synthMakers))]
	perHour, hours := 2+rng.IntN(20), 2+rng.IntN(8)
	c1, perDay := synthCalc(perHour, '*', hours)
	q := []string{fmt.Sprintf("%s makes %d %s each hour and works %d hours a day.", m.who, perHour, m.what, hours)}
	a := []string{fmt.Sprintf("In a day it makes %s %s.", c1, m.what)}
	steps := 1 + rng.IntN(3)
	if steps == 1 {
		q = append(q, fmt.Sprintf("How many %s are made in a day?", m.what))
		return synthProblem(q, a, perDay, 1), inRange(perDay)
	}
	days := 2 + rng.IntN(6)
	c2, total := synthCalc(perDay, '*', days)
	a = append(a, fmt.Sprintf("In %d days it makes %s %s.", days, c2, m.what))
	if steps == 2 {
		q = append(q, fmt.Sprintf("How many %s are made in %d days?", m.what, days))
		return synthProblem(q, a, total, 2), inRange(total)
	}
	if total < 2 {
		return MathProblem{}, false
	}
	kept := 1 + rng.IntN(total-1)
	c3, sold := synthCalc(total, '-', kept)
	q = append(q, fmt.Sprintf("After %d days all but %d of the %s are sold. How many are sold?", days, kept, m.what))
	a = append(a, fmt.Sprintf("So %s %s are sold.", c3, m.what))
	return synthProblem(q, a, sold, 3), inRange(total) && inRange(sold)
}

func synthProblem(q, a []string, result, steps int) MathProblem {
	return MathProblem{
		Question: strings.Join(q, " "),
		Answer:   strings.Join(a, "\n") + "\n#### " + strconv.Itoa(result),
		Result:   result,
		Steps:    steps,
	}
}
