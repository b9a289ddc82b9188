package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/internal/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errSentinel = retry.Permanent(errors.New("sentinel that no retry fixes"))

func TestPermanentIsFoundThroughWraps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"marked", retry.Permanent(errors.New("x")), true},
		{"sentinel wrapped", fmt.Errorf("reading k: %w", errSentinel), true},
		{"sentinel twice wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", errSentinel)), true},
		{"joined", errors.Join(errors.New("x"), errSentinel), true},
		{"gave up on a transient one", &retry.GaveUpError{Err: errors.New("503")}, false},
		{"a missing local file", fmt.Errorf("side input: %w", &fs.PathError{Op: "stat", Path: "/x", Err: fs.ErrNotExist}), true},
		{"a forbidden local file", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrPermission}, true},
	} {
		if got := retry.IsPermanent(tc.err); got != tc.want {
			t.Errorf("%s: IsPermanent = %v, want %v", tc.name, got, tc.want)
		}
	}
	if retry.Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	if !errors.Is(fmt.Errorf("w: %w", errSentinel), errSentinel) || errSentinel.Error() != "sentinel that no retry fixes" {
		t.Error("a permanent sentinel lost its identity or its message")
	}
}

func TestDelayGrowsToItsMaximum(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		if got := p.Delay(n); got != want {
			t.Errorf("Delay(%d) = %s, want %s", n, got, want)
		}
	}
	p.Jitter = 0.2
	for i := 0; i < 100; i++ {
		if d := p.Delay(3); d < 320*time.Millisecond || d > 480*time.Millisecond {
			t.Fatalf("Delay(3) with ±20%% jitter = %s, want 400ms ±20%%", d)
		}
	}
}

func TestDoStopsAtSuccessAtPermanentAndAtWhatIsNotRetryable(t *testing.T) {
	t.Parallel()
	fast := retry.Policy{Initial: time.Millisecond, Max: time.Millisecond}
	transient := errors.New("transient")
	for _, tc := range []struct {
		name      string
		errs      []error // op's results in turn; the last repeats
		retryable func(error) bool
		calls     int
		want      error
	}{
		{"succeeds at once", []error{nil}, nil, 1, nil},
		{"succeeds on the third", []error{transient, transient, nil}, nil, 3, nil},
		{"permanent at once", []error{fmt.Errorf("x: %w", errSentinel)}, nil, 1, errSentinel},
		{"permanent after a transient", []error{transient, errSentinel}, nil, 2, errSentinel},
		{"not retryable", []error{transient}, func(error) bool { return false }, 1, transient},
		{"permanent though retryable says yes", []error{errSentinel}, func(error) bool { return true }, 1, errSentinel},
	} {
		calls := 0
		err := retry.Do(t.Context(), fast, retry.Options{Retryable: tc.retryable}, func(context.Context) error {
			e := tc.errs[min(calls, len(tc.errs)-1)]
			calls++
			return e
		})
		if calls != tc.calls || !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %d calls, err %v; want %d calls, err %v", tc.name, calls, err, tc.calls, tc.want)
		}
	}
}

func TestDoGivesUpAfterMaxElapsedAndTellsTheTries(t *testing.T) {
	t.Parallel()
	transient := errors.New("503 SlowDown")
	var notified []int
	calls := 0
	err := retry.Do(t.Context(), retry.Policy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, MaxElapsed: 150 * time.Millisecond},
		retry.Options{Notify: func(_ error, try int, _ time.Duration) { notified = append(notified, try) }},
		func(context.Context) error { calls++; return transient })
	var gu *retry.GaveUpError
	if !errors.As(err, &gu) || !errors.Is(err, transient) || gu.Tries != calls || calls < 3 || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if len(notified) != calls-1 || notified[0] != 1 {
		t.Fatalf("notified of tries %v for %d calls", notified, calls)
	}
}

func TestDoEndsWithItsContextAndGivesEachCallItsTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	transient := errors.New("connection refused")
	calls := 0
	// The loop is told of the failure, then waits an hour: the context,
	// cancelled meanwhile, must end the wait.
	opt := retry.Options{Timeout: time.Minute, Notify: func(error, int, time.Duration) { cancel() }}
	err := retry.Do(ctx, retry.Policy{Initial: time.Hour}, opt, func(c context.Context) error {
		calls++
		if dl, ok := c.Deadline(); !ok || time.Until(dl) > time.Minute {
			t.Errorf("call without its timeout (deadline %v, %v)", dl, ok)
		}
		return transient
	})
	if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, transient) {
		t.Fatalf("%d calls, err %v", calls, err)
	}
}
