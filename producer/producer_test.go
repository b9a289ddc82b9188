package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/ledger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newProducer(t *testing.T) (*Producer, *ledger.Ledger) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := fleet.Open(context.Background(), fleet.Config{
		Broker: broker.OpenConfig{Embedded: &broker.EmbeddedConfig{StoreDir: t.TempDir()}},
		Worker: "p", Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	l := f.Ledger
	p, err := New(Config{Ledger: l, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return p, l
}

func inputDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func config(in, out string) contracts.Config {
	c := contracts.DefaultConfig()
	c.Handler, c.Input, c.Output, c.MiniBatchSize = "test", in, out, "4"
	return c
}

func TestSubmitPublishesDeterministicMiniBatchesAndSeals(t *testing.T) {
	t.Parallel()
	p, l := newProducer(t)
	in := inputDir(t, 10)
	c := config(in, filepath.Join(t.TempDir(), "out"))
	c.Include = []string{"f00*.txt"}
	sub, err := p.Submit(context.Background(), "job1", c)
	if err != nil {
		t.Fatal(err)
	}
	if !sub.State.Sealed || sub.State.TotalBatches != 3 || sub.State.TotalItems != 10 {
		t.Fatalf("state %+v", sub.State)
	}
	for i := 0; i < 3; i++ {
		m, err := l.B.Batches.GetMsg(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != fmt.Sprintf("job1.%d.0", i) {
			t.Fatalf("message %d has id %q", i, id)
		}
	}
	// Submitting the same id again resumes it: nothing is duplicated in KV.
	again, err := p.Submit(context.Background(), "job1", c)
	if err != nil || !again.Resumed || again.State.Generation != 1 || again.State.TotalBatches != 3 {
		t.Fatalf("resubmit: %+v, %v", again, err)
	}
}

func TestFingerprintFollowsInputAndSettingsButNotOutput(t *testing.T) {
	t.Parallel()
	p, l := newProducer(t)
	in := inputDir(t, 3)
	c := config(in, filepath.Join(t.TempDir(), "a"))
	fp := func(c contracts.Config) string {
		id := NewJobID()
		if c.Output == filepath.Join(filepath.Dir(c.Output), "a") {
			c.Output = filepath.Join(t.TempDir(), "a") // one job per output
		}
		if _, err := p.Submit(context.Background(), id, c); err != nil {
			t.Fatal(err)
		}
		j, err := l.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return j.Fingerprint
	}
	base := fp(c)
	other := c
	other.Output = filepath.Join(t.TempDir(), "b")
	if fp(other) != base {
		t.Fatal("the output changed the fingerprint")
	}
	other = c
	other.ErrorThreshold = 3
	if fp(other) == base {
		t.Fatal("a setting did not change the fingerprint")
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(in, "f001.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	if fp(c) == base {
		t.Fatal("a changed input file did not change the fingerprint")
	}
}

func TestSubmitRefusesEndedJobsAndEmptyInput(t *testing.T) {
	t.Parallel()
	p, l := newProducer(t)
	c := config(inputDir(t, 2), filepath.Join(t.TempDir(), "out"))
	if _, err := p.Submit(context.Background(), "j", c); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stop(context.Background(), "j", contracts.StateCancelled, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(context.Background(), "j", c); !errors.Is(err, ErrJobEnded) {
		t.Fatalf("resubmitting a cancelled job: %v", err)
	}
	empty := config(t.TempDir(), filepath.Join(t.TempDir(), "out"))
	if _, err := p.Submit(context.Background(), "", empty); !errors.Is(err, ErrEmptyInput) {
		t.Fatalf("empty input: %v", err)
	}
}

func TestStagingURI(t *testing.T) {
	t.Parallel()
	for out, want := range map[string]string{
		"s3://b/out/": "s3://b/out/.prs/j",
		"s3://b":      "s3://b/.prs/j",
		"/data/out":   "/data/out/.prs/j",
		"file:///x":   "/x/.prs/j",
	} {
		if got := StagingURI(out, "j"); got != want {
			t.Errorf("StagingURI(%q) = %q, want %q", out, got, want)
		}
	}
}

// A worker that died between recording a batch's outcome and counting it,
// and a queue that lost the message: resubmitting publishes the batch
// again, for a worker to count the recorded outcome (the producer counts
// nothing: it may not write counters); a batch whose outcome was counted
// is not published again.
func TestResumePublishesAnOutcomeLeftUncountedAgain(t *testing.T) {
	t.Parallel()
	p, l := newProducer(t)
	ctx := context.Background()
	c := config(inputDir(t, 3), filepath.Join(t.TempDir(), "out"))
	c.MiniBatchSize = "1"
	if _, err := p.Submit(ctx, "j", c); err != nil {
		t.Fatal(err)
	}
	job, err := l.Job(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(2) {
		held, rev, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: i, Items: 1, Succeeded: 1, OK: true})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if _, err := l.Count(ctx, job, held, rev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if o, _, _, err := l.Outcome(ctx, "j", 1); err != nil || !o.Counted {
		t.Fatalf("batch 1 not marked counted: %+v, %v", o, err)
	}
	if err := l.B.Batches.Purge(ctx, jetstream.WithPurgeSubject(contracts.BatchSubject("j"))); err != nil {
		t.Fatal(err)
	}
	sub, err := p.Submit(ctx, "j", c)
	if err != nil || !sub.Resumed {
		t.Fatalf("resubmitting: %+v, %v", sub, err)
	}
	var got []int64
	for seq := uint64(1); ; {
		m, err := l.B.Batches.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(contracts.BatchSubject("j")))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		mb, err := contracts.DecodeMiniBatch(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, mb.Index)
		seq = m.Sequence + 1
	}
	if !slices.Equal(got, []int64{0, 2}) {
		t.Fatalf("published again: batches %v, want [0 2] (0 recorded, not counted; 2 without an outcome)", got)
	}
	if cs, _ := l.B.ReadCounters(ctx, "j"); cs.Done != 1 || cs.ItemsSucceeded != 1 {
		t.Fatalf("counters %+v, want batch 1 counted alone", cs)
	}
}

func TestResumeRefusesAChangedInput(t *testing.T) {
	t.Parallel()
	p, _ := newProducer(t)
	in := inputDir(t, 3)
	c := config(in, filepath.Join(t.TempDir(), "out"))
	if _, err := p.Submit(context.Background(), "j", c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "new.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(context.Background(), "j", c); !errors.Is(err, ErrChanged) {
		t.Fatalf("resume over a changed input: %v", err)
	}
}
