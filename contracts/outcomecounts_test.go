package contracts

import (
	"strings"
	"testing"
)

func TestOutcomeCountsPackRoundTrip(t *testing.T) {
	for _, c := range []OutcomeCounts{
		{},
		{Done: 1, ItemsSucceeded: 1},
		{Done: 1, FailedBatches: 1, ItemsFailed: 7, ItemsSucceeded: 3},
		{Done: maxOutcomeCount, FailedBatches: maxOutcomeCount, ItemsFailed: maxOutcomeCount, ItemsSucceeded: maxOutcomeCount},
	} {
		v, err := c.Pack()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnpackOutcomeCounts(v.String())
		if err != nil || got != c {
			t.Errorf("%+v: packed %s, unpacked %+v, %v", c, v, got, err)
		}
	}
	// Increments add up field by field: the sum of packed values is the
	// packing of the sums.
	a, b := OutcomeCounts{Done: 1, ItemsSucceeded: 5}, OutcomeCounts{Done: 1, FailedBatches: 1, ItemsFailed: 2, ItemsSucceeded: 3}
	pa, _ := a.Pack()
	pb, _ := b.Pack()
	got, err := UnpackOutcomeCounts(pa.Add(pa, pb).String())
	if want := a.Add(b); err != nil || got != want {
		t.Errorf("sum %+v, %v, want %+v", got, err, want)
	}
	if v, _ := (OutcomeCounts{Done: 1, ItemsSucceeded: 2}).Pack(); v.String() != "2"+strings.Repeat("0", 44)+"1" {
		t.Errorf("packed %s: want succeeded items 45 digits up, done in the units", v)
	}
}

func TestOutcomeCountsRefused(t *testing.T) {
	for _, c := range []OutcomeCounts{{Done: -1}, {ItemsFailed: maxOutcomeCount + 1}} {
		if _, err := c.Pack(); err == nil {
			t.Errorf("%+v packed", c)
		}
	}
	for _, s := range []string{"", "x", "-1", "1" + strings.Repeat("0", 60)} {
		if _, err := UnpackOutcomeCounts(s); err == nil {
			t.Errorf("%q unpacked", s)
		}
	}
}
