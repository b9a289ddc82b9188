package ledger

import "context"

// defaultFinalWindow is how many mini-batches finalisation fetches ahead of
// the one it writes: their outcomes are read and their row objects opened
// concurrently, so that a job of n batches waits for about n/32 round trips
// of the store and of JetStream instead of 2n.
const defaultFinalWindow = 32

// inOrder calls fetch(i) for every i in [0, total), at most window of them
// at a time and ahead of use, and use(i, v) in the order of i. It returns
// the first error of fetch or use; every value fetched but not given to use
// is given to release (use owns the values it is given).
func inOrder[T any](ctx context.Context, total int64, window int,
	fetch func(context.Context, int64) (T, error), use func(int64, T) error, release func(T)) error {
	if window < 1 {
		window = 1
	}
	type result struct {
		v   T
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// pending holds one channel per index fetched or being fetched, in
	// order: with the one use waits for, at most window are fetched at once.
	pending := make(chan chan result, window-1)
	go func() {
		defer close(pending)
		for i := int64(0); i < total; i++ {
			c := make(chan result, 1)
			select {
			case pending <- c:
			case <-ctx.Done():
				return
			}
			go func() {
				v, err := fetch(ctx, i)
				c <- result{v, err}
			}()
		}
	}()
	var err error
	i := int64(0)
	for c := range pending {
		r := <-c
		switch {
		case r.err != nil:
			if err == nil {
				err = r.err
			}
		case err != nil:
			release(r.v)
		default:
			if err = use(i, r.v); err != nil {
				cancel()
			}
		}
		if r.err != nil {
			cancel()
		}
		i++
	}
	return err
}
