package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fetchCounter fetches index i as i after a random pause, counting the
// fetches at once and the values fetched and released.
type fetchCounter struct {
	now, most, fetched, released atomic.Int64
	failAt                       int64
}

func (c *fetchCounter) fetch(ctx context.Context, i int64) (int64, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	select {
	case <-time.After(time.Duration(rand.IntN(300)) * time.Microsecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if i == c.failAt {
		return 0, errors.New("fetch failed")
	}
	c.fetched.Add(1)
	return i, nil
}

func (c *fetchCounter) release(int64) { c.released.Add(1) }

func TestInOrderKeepsOrderWithinItsWindow(t *testing.T) {
	t.Parallel()
	for _, window := range []int{1, 3, 32} {
		c := &fetchCounter{failAt: -1}
		var got []int64
		err := inOrder(t.Context(), 500, window, c.fetch, func(i, v int64) error {
			if i != v {
				t.Errorf("use(%d) was given the value of %d", i, v)
			}
			got = append(got, v)
			return nil
		}, c.release)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 500 {
			t.Fatalf("window %d: used %d values of 500", window, len(got))
		}
		for i, v := range got {
			if v != int64(i) {
				t.Fatalf("window %d: value %d used at place %d", window, v, i)
			}
		}
		if m := c.most.Load(); m > int64(window) {
			t.Errorf("window %d: %d fetches at once", window, m)
		}
		if window > 1 && c.most.Load() < 2 {
			t.Errorf("window %d: never more than one fetch at once", window)
		}
		if c.released.Load() != 0 {
			t.Errorf("window %d: %d values released in a run without errors", window, c.released.Load())
		}
	}
}

func TestInOrderStopsAtTheFirstErrorAndReleasesTheRest(t *testing.T) {
	t.Parallel()
	useErr := errors.New("use failed")
	for _, tc := range []struct {
		name           string
		failFetch, bad int64 // the index whose fetch, or use, fails
	}{
		{"fetch", 70, -1},
		{"use", -1, 40},
		{"first fetch", 0, -1},
	} {
		c := &fetchCounter{failAt: tc.failFetch}
		var used int64
		var mu sync.Mutex
		err := inOrder(t.Context(), 1000, 16, c.fetch, func(i, v int64) error {
			mu.Lock()
			defer mu.Unlock()
			used++
			if i == tc.bad {
				return useErr
			}
			return nil
		}, c.release)
		want := tc.failFetch
		if tc.bad >= 0 {
			want = tc.bad + 1
			if !errors.Is(err, useErr) {
				t.Fatalf("%s: err = %v, want the use error", tc.name, err)
			}
		} else if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err = %v, want the fetch error", tc.name, err)
		}
		if used != want {
			t.Errorf("%s: used %d values, want %d", tc.name, used, want)
		}
		if f, r := c.fetched.Load(), c.released.Load(); f != used+r {
			t.Errorf("%s: %d values fetched, %d used and %d released", tc.name, f, used, r)
		}
		if f := c.fetched.Load(); f > want+16 {
			t.Errorf("%s: %d values fetched past the error", tc.name, f-want)
		}
	}
}

func TestInOrderEmpty(t *testing.T) {
	t.Parallel()
	err := inOrder(t.Context(), 0, 4, func(context.Context, int64) (int, error) {
		t.Error("fetch called for an empty range")
		return 0, nil
	}, func(int64, int) error { return nil }, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
}
