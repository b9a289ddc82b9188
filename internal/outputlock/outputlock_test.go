package outputlock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/outputlock"
)

// states is a JetStream's view of jobs for the tests: a job absent from it
// is unknown.
type states struct {
	mu sync.Mutex
	m  map[string]time.Time // job -> finished (zero while running)
}

func (s *states) set(job string, finished time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]time.Time{}
	}
	s.m[job] = finished
}

func (s *states) state(_ context.Context, job string) (known, ended bool, finished time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.m[job]
	return ok, ok && !f.IsZero(), f, nil
}

func taker(job string, st *states) outputlock.Taker {
	return outputlock.Taker{Job: job, Owner: "owner-of-" + job, Lease: time.Minute, State: st.state}
}

func current(t *testing.T, out objstore.Store) *outputlock.Current {
	t.Helper()
	cur, _, err := outputlock.Read(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

// age rewrites the current record as if it was last renewed d ago.
func age(t *testing.T, out objstore.Store, d time.Duration) {
	t.Helper()
	cur := current(t, out)
	cur.Record.Renewed = cur.Record.Renewed.Add(-d)
	b, _ := json.Marshal(cur.Record)
	if err := out.Put(t.Context(), cur.Key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, open func(t *testing.T) objstore.Store) {
	for name, fn := range map[string]func(*testing.T, objstore.Store){
		"TakeRefuseTakeOver": testTakeRefuseTakeOver,
		"Concurrent":         testConcurrent,
		"RenewReleaseLost":   testRenewReleaseLost,
		"AbandonTidy":        testAbandonTidy,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

func TestLocal(t *testing.T) {
	run(t, func(t *testing.T) objstore.Store {
		s, err := objstore.Open(t.Context(), t.TempDir()+"/out", objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestS3(t *testing.T) {
	srv := miniotest.Start(t)
	run(t, func(t *testing.T) objstore.Store {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(transport.CloseIdleConnections)
		s, err := objstore.Open(context.Background(), "s3://"+srv.NewBucket(t)+"/out", objstore.Options{
			S3Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
			HTTPClient: &http.Client{Transport: transport}})
		if err != nil {
			t.Fatal(err)
		}
		return objstore.WithRetry(s, 10*time.Second)
	})
}

func testTakeRefuseTakeOver(t *testing.T, out objstore.Store) {
	ctx := t.Context()
	js := &states{} // the second taker's JetStream
	a, err := outputlock.Acquire(ctx, out, taker("job-a", &states{}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != outputlock.Key(1) || !a.Fresh || a.Previous != "" || a.Record.Job != "job-a" {
		t.Fatalf("first taking %+v", a)
	}

	// job-a is unknown to job-b's JetStream: the lease decides.
	_, err = outputlock.Acquire(ctx, out, taker("job-b", js))
	var busy *outputlock.BusyError
	if !errors.As(err, &busy) || !errors.Is(err, outputlock.ErrBusy) || busy.Running || busy.Holder.Job != "job-a" {
		t.Fatalf("second taking = %v, want busy with job-a", err)
	}
	for _, w := range []string{out.URI(""), "job-a", "owner-of-job-a", "1m0s", "loses it"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
	// Known and running: refused whatever the lease.
	js.set("job-a", time.Time{})
	age(t, out, time.Hour)
	if _, err := outputlock.Acquire(ctx, out, taker("job-b", js)); !errors.As(err, &busy) || !busy.Running || !strings.Contains(err.Error(), "prs cancel job-a") {
		t.Fatalf("taking from a running job = %v", err)
	}
	// Unknown and not renewed within its lease: taken over.
	b, err := outputlock.Acquire(ctx, out, taker("job-b", &states{}))
	if err != nil {
		t.Fatalf("taking over a stale holder: %v", err)
	}
	if b.Key != outputlock.Key(2) || !b.Fresh || b.Previous != "job-a" {
		t.Fatalf("takeover %+v", b)
	}
	// The same job, resumed (known to its JetStream), takes its record over.
	js.set("job-b", time.Time{})
	again, err := outputlock.Acquire(ctx, out, outputlock.Taker{Job: "job-b", Owner: "resumer", Lease: time.Minute, State: js.state})
	if err != nil || again.Key != b.Key || again.Fresh || again.Previous != "" || again.Record.Owner != "resumer" || !again.Record.Since.Equal(b.Record.Since) {
		t.Fatalf("resume: %+v, %v", again, err)
	}
	// job-b ended an hour ago (without releasing): free for job-c.
	js.set("job-b", time.Now().Add(-time.Hour))
	c, err := outputlock.Acquire(ctx, out, taker("job-c", js))
	if err != nil || c.Key != outputlock.Key(3) || c.Previous != "job-b" {
		t.Fatalf("taking from an ended job: %+v, %v", c, err)
	}
	// Released: free for anyone, at once.
	if err := outputlock.Release(ctx, out, "job-c"); err != nil {
		t.Fatal(err)
	}
	if d, err := outputlock.Acquire(ctx, out, taker("job-d", &states{})); err != nil || d.Key != outputlock.Key(4) || d.Previous != "job-c" {
		t.Fatalf("taking a released output: %+v, %v", d, err)
	}
}

// testConcurrent races takers for one free output: exactly one wins, the
// others are told who holds it.
func testConcurrent(t *testing.T, out objstore.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = outputlock.Acquire(t.Context(), out, taker(fmt.Sprintf("job-%d", i), &states{}))
		})
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, outputlock.ErrBusy):
			t.Fatalf("taker %d: %v", i, err)
		}
	}
	cur := current(t, out)
	if winners != 1 || cur.Epoch != 1 {
		t.Fatalf("%d winners, record epoch %d; want one, epoch 1", winners, cur.Epoch)
	}
	for i, err := range errs {
		if err != nil && !strings.Contains(err.Error(), cur.Record.Job) {
			t.Errorf("taker %d is not told the winner %s: %v", i, cur.Record.Job, err)
		}
	}
}

func testRenewReleaseLost(t *testing.T, out objstore.Store) {
	ctx := t.Context()
	a, err := outputlock.Acquire(ctx, out, taker("job-a", &states{}))
	if err != nil {
		t.Fatal(err)
	}
	// Fresh: nothing to write, and the next renewal in a quarter lease.
	next, err := outputlock.Renew(ctx, out, "job-a", "worker-1")
	if err != nil || next != 15*time.Second {
		t.Fatalf("Renew = %s, %v", next, err)
	}
	if got := current(t, out).Record.Renewed; !got.Equal(a.Record.Renewed) {
		t.Fatal("a fresh record was rewritten")
	}
	age(t, out, 30*time.Second)
	if _, err := outputlock.Renew(ctx, out, "job-a", "worker-1"); err != nil {
		t.Fatal(err)
	}
	if got := current(t, out).Record; time.Since(got.Renewed) > 10*time.Second || got.Owner != "owner-of-job-a" || got.Token != a.Record.Token {
		t.Fatalf("renewed record %+v", got)
	}
	// Another job's release changes nothing; the job's own marks it.
	if err := outputlock.Release(ctx, out, "job-x"); err != nil || current(t, out).Record.Released {
		t.Fatalf("released by another job (%v)", err)
	}
	if err := outputlock.Release(ctx, out, "job-a"); err != nil || !current(t, out).Record.Released {
		t.Fatalf("not released (%v)", err)
	}
	// A late renewal of the released job does not take it back.
	age(t, out, time.Hour)
	if _, err := outputlock.Renew(ctx, out, "job-a", "worker-2"); err != nil || !current(t, out).Record.Released {
		t.Fatalf("a late renewal took the output back (%v)", err)
	}
	// job-b takes it; job-a's side learns that it lost it, and its late
	// writes never touch job-b's record.
	if _, err := outputlock.Acquire(ctx, out, taker("job-b", &states{})); err != nil {
		t.Fatal(err)
	}
	_, err = outputlock.Renew(ctx, out, "job-a", "worker-1")
	var lost *outputlock.LostError
	if !errors.As(err, &lost) || !errors.Is(err, outputlock.ErrLost) || lost.By.Job != "job-b" {
		t.Fatalf("Renew after a takeover = %v, want lost to job-b", err)
	}
	if err := outputlock.Release(ctx, out, "job-a"); err != nil {
		t.Fatal(err)
	}
	if cur := current(t, out); cur.Record.Job != "job-b" || cur.Record.Released {
		t.Fatalf("job-b's record was changed: %+v", cur.Record)
	}
}

func testAbandonTidy(t *testing.T, out objstore.Store) {
	ctx := t.Context()
	a, err := outputlock.Acquire(ctx, out, taker("job-a", &states{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := outputlock.Release(ctx, out, "job-a"); err != nil {
		t.Fatal(err)
	}
	b, err := outputlock.Acquire(ctx, out, taker("job-b", &states{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Superseded) != 1 || b.Superseded[0] != a.Key {
		t.Fatalf("superseded %q", b.Superseded)
	}
	// A submit that fails gives the output back as it found it.
	if err := b.Abandon(ctx, out); err != nil {
		t.Fatal(err)
	}
	if cur := current(t, out); cur.Key != a.Key || !cur.Record.Released {
		t.Fatalf("after abandon the current record is %+v", cur)
	}
	c, err := outputlock.Acquire(ctx, out, taker("job-c", &states{}))
	if err != nil {
		t.Fatal(err)
	}
	c.Tidy(ctx, out)
	_, keys, err := outputlock.Read(ctx, out)
	if err != nil || len(keys) != 1 || keys[0] != c.Key {
		t.Fatalf("after Tidy: %q, %v", keys, err)
	}
}
