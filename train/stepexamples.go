package train

// stepExamples returns, sorted, the indices of the training examples that
// the run's MaxSteps steps draw (the data order is fixed by the seed), or
// nil when MaxSteps is 0 or the steps draw every example: the reference
// log-probs are then computed only for these.
func (t *Trainer) stepExamples() []int {
	c := t.Cfg
	if c.MaxSteps == 0 {
		return nil
	}
	seen := make([]bool, len(t.train))
	n, epoch, pos := 0, 0, 0
	var order []int
	for b := 0; b < c.MaxSteps*c.GradAccum; b++ {
		for _, j := range t.drawBatch(&epoch, &pos, &order) {
			if !seen[j] {
				seen[j] = true
				n++
			}
		}
		if n == len(t.train) {
			return nil
		}
	}
	out := make([]int, 0, n)
	for j, s := range seen {
		if s {
			out = append(out, j)
		}
	}
	return out
}
