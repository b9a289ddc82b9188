package contracts

import (
	"fmt"
	"testing"
)

// Thresholds measures each setting against what it counts: reaching a
// limit is tolerated, passing it is not, -1 (or 100 percent) tolerates
// everything, and the percentage is judged against the sealed total only.
func TestThresholds(t *testing.T) {
	t.Parallel()
	cfg := func(items, batches int, pct float64) *Config {
		c := DefaultConfig()
		c.ErrorThreshold, c.AllowedFailedCount, c.AllowedFailedPercent = items, batches, pct
		return &c
	}
	sealed := JobState{Sealed: true, TotalBatches: 10}
	for _, tc := range []struct {
		name string
		cfg  *Config
		c    Counters
		st   JobState
		want string // per threshold: set/known/now/exceeded
	}{
		{"defaults tolerate everything", cfg(-1, -1, 100), Counters{FailedBatches: 10, ItemsFailed: 99}, sealed,
			"false/true/99/false false/true/10/false false/true/100/false"},
		{"limits reached are tolerated", cfg(5, 2, 20), Counters{FailedBatches: 2, ItemsFailed: 5}, sealed,
			"true/true/5/false true/true/2/false true/true/20/false"},
		{"limits passed are exceeded", cfg(5, 2, 20), Counters{FailedBatches: 3, ItemsFailed: 6}, sealed,
			"true/true/6/true true/true/3/true true/true/30/true"},
		{"zero tolerates nothing", cfg(0, 0, 0), Counters{FailedBatches: 1, ItemsFailed: 1}, sealed,
			"true/true/1/true true/true/1/true true/true/10/true"},
		{"the percentage waits for the sealed total", cfg(-1, -1, 0), Counters{FailedBatches: 1, ItemsFailed: 1}, JobState{TotalBatches: 10},
			"false/true/1/false false/true/1/false true/false/10/false"},
		{"no total yet: nothing to measure the percentage by", cfg(-1, -1, 0), Counters{FailedBatches: 1}, JobState{Sealed: true},
			"false/true/0/false false/true/1/false true/false/0/false"},
	} {
		var got string
		ts := Thresholds(tc.cfg, tc.c, tc.st)
		for i, th := range ts {
			if i > 0 {
				got += " "
			}
			got += fmt.Sprintf("%v/%v/%v/%v", th.Set, th.Known, th.Now, th.Exceeded())
			if _, ok := LookupSetting(th.Key); !ok {
				t.Errorf("%s: %q is not a setting", tc.name, th.Key)
			}
		}
		if got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
		if ts[0].Key != "error_threshold" || ts[1].Key != "allowed_failed_count" || ts[2].Key != "allowed_failed_percent" {
			t.Errorf("%s: keys %q %q %q", tc.name, ts[0].Key, ts[1].Key, ts[2].Key)
		}
	}
}
