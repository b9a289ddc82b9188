package contracts

import (
	"fmt"
	"math/big"
)

// CounterOutcomes is the counter that counts recorded outcomes: one
// increment per mini-batch adds its done count, failed batch, failed items
// and succeeded items at once (OutcomeCounts), so that counting an outcome
// is one message, and a job's counts never show a batch half counted. Its
// value packs the four counts as decimal fields of OutcomeCountsField
// digits each (a counter stream's values are integers of any size).
const CounterOutcomes = "outcomes"

// OutcomeCountsField is the width of a packed count in CounterOutcomes's
// value: 10^15 (a thousand million million), more than any job counts.
const OutcomeCountsField = 15

// OutcomeCounts is what outcomes add to a job's counters.
type OutcomeCounts struct {
	Done, FailedBatches, ItemsFailed, ItemsSucceeded int64
}

var outcomeCountsBase = new(big.Int).Exp(big.NewInt(10), big.NewInt(OutcomeCountsField), nil)

// maxOutcomeCount is the largest count a packed field holds.
var maxOutcomeCount = new(big.Int).Sub(outcomeCountsBase, big.NewInt(1)).Int64()

// Pack returns the counts as one increment of CounterOutcomes: done, then
// failed batches, failed items and succeeded items, each OutcomeCountsField
// decimal digits further up. A count that is negative or does not fit is
// an error.
func (c OutcomeCounts) Pack() (*big.Int, error) {
	v := new(big.Int)
	fields := c.fields()
	for i := len(fields) - 1; i >= 0; i-- {
		if fields[i] < 0 || fields[i] > maxOutcomeCount {
			return nil, fmt.Errorf("outcome count %d does not fit a packed counter field (0 to %d)", fields[i], maxOutcomeCount)
		}
		v.Mul(v, outcomeCountsBase)
		v.Add(v, big.NewInt(fields[i]))
	}
	return v, nil
}

func (c OutcomeCounts) fields() [4]int64 {
	return [4]int64{c.Done, c.FailedBatches, c.ItemsFailed, c.ItemsSucceeded}
}

// UnpackOutcomeCounts reads a CounterOutcomes value (decimal).
func UnpackOutcomeCounts(s string) (OutcomeCounts, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 {
		return OutcomeCounts{}, fmt.Errorf("packed outcome counts %q: not a non-negative integer", s)
	}
	var f [4]int64
	r := new(big.Int)
	for i := range f {
		v.QuoRem(v, outcomeCountsBase, r)
		f[i] = r.Int64()
	}
	if v.Sign() != 0 {
		return OutcomeCounts{}, fmt.Errorf("packed outcome counts %q: more fields than four", s)
	}
	return OutcomeCounts{Done: f[0], FailedBatches: f[1], ItemsFailed: f[2], ItemsSucceeded: f[3]}, nil
}

// Add returns the sum of c and d.
func (c OutcomeCounts) Add(d OutcomeCounts) OutcomeCounts {
	return OutcomeCounts{c.Done + d.Done, c.FailedBatches + d.FailedBatches, c.ItemsFailed + d.ItemsFailed, c.ItemsSucceeded + d.ItemsSucceeded}
}
