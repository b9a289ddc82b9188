package producer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/outputlock"
)

func TestSubmitHoldsTheOutput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, l := newProducer(t)
	in := inputDir(t, 5)
	out := filepath.Join(t.TempDir(), "out")
	store, err := objstore.Open(ctx, out, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(ctx, "job-a", config(in, out)); err != nil {
		t.Fatal(err)
	}
	cur, _, err := outputlock.Read(ctx, store)
	if err != nil || cur == nil || cur.Record.Job != "job-a" || cur.Record.Released || cur.Record.Owner != l.Worker {
		t.Fatalf("after the submit the lock is %+v (%v)", cur, err)
	}

	// Another job into the same output, while job-a runs: refused, and
	// told who holds it.
	_, err = p.Submit(ctx, "job-b", config(in, out))
	var fe *contracts.FieldError
	if !errors.Is(err, outputlock.ErrBusy) || !errors.As(err, &fe) || fe.Field != "output" ||
		!strings.Contains(err.Error(), "job-a") || !strings.Contains(err.Error(), out) {
		t.Fatalf("second job = %v, want the output busy with job-a", err)
	}
	// Resuming job-a is its own business.
	if sub, err := p.Submit(ctx, "job-a", config(in, out)); err != nil || !sub.Resumed {
		t.Fatalf("resume: %+v, %v", sub, err)
	}

	// A submit that fails after taking a new output gives it back as it
	// found it: the folder is not even there.
	fresh := filepath.Join(t.TempDir(), "fresh", "out")
	bad := config(in, fresh)
	bad.PartitionKeys, bad.PartitionFormat = []string{"user"}, "/{user}/{name}.txt"
	if _, err := p.Submit(ctx, "job-c", bad); err == nil {
		t.Fatal("a partition_format that matches no file was accepted")
	}
	if _, err := os.Stat(filepath.Dir(fresh)); !os.IsNotExist(err) {
		t.Fatalf("the failed submit left %s behind (%v)", filepath.Dir(fresh), err)
	}

	// Once job-a has ended and let the output go, job-b takes it.
	if _, err := l.Stop(ctx, "job-a", contracts.StateCancelled, "test"); err != nil {
		t.Fatal(err)
	}
	if err := outputlock.Release(ctx, store, "job-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(ctx, "job-b", config(in, out)); err != nil {
		t.Fatalf("after job-a ended: %v", err)
	}
	cur, keys, err := outputlock.Read(ctx, store)
	if err != nil || cur.Record.Job != "job-b" || len(keys) != 1 {
		t.Fatalf("after job-b took the output: %+v, records %q (%v)", cur, keys, err)
	}
}

// A resumed job keeps the logs its interrupted run wrote, also when that
// run wrote no overview (which names a job) before it stopped.
func TestResumeKeepsTheJobsOwnLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := newProducer(t)
	in := inputDir(t, 5)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := p.Submit(ctx, "job-a", config(in, out)); err != nil {
		t.Fatal(err)
	}
	records := filepath.Join(out, filepath.FromSlash(contracts.LogWorkerRecords("h", "w1")))
	if err := os.MkdirAll(filepath.Dir(records), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(records, []byte(`{"job":"job-a","index":0,"attempt":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if sub, err := p.Submit(ctx, "job-a", config(in, out)); err != nil || !sub.Resumed {
		t.Fatalf("resume: %+v, %v", sub, err)
	}
	if _, err := os.Stat(records); err != nil {
		t.Fatalf("the resume moved the job's own records away: %v", err)
	}
}
