package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// A batch's deliveries add up across publishing generations (NumDelivered
// starts again with each), a delivery noted late or twice changes nothing,
// and hand-backs are counted apart, also when workers race.
func TestDeliveriesAddUpAcrossGenerations(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	note := func(gen, n int) contracts.BatchDeliveries {
		t.Helper()
		d, err := l.Delivered(ctx, "j", 7, gen, n)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := note(0, 1); d.Total() != 1 || d.HandedBack != 0 {
		t.Fatalf("first delivery: %+v", d)
	}
	note(0, 2)
	if err := l.HandedBack(ctx, "j", 7); err != nil {
		t.Fatal(err)
	}
	// The job is resumed: generation 1 starts again at 1.
	if d := note(1, 1); d.Total() != 3 || d.HandedBack != 1 {
		t.Fatalf("first delivery of generation 1: %+v, want 3 deliveries, 1 handed back", d)
	}
	// A late delivery of generation 0 (in flight at the resume), and the
	// same delivery noted twice.
	note(0, 2)
	if d := note(1, 1); d.Total() != 3 {
		t.Fatalf("a delivery noted twice: %+v", d)
	}
	// A first delivery is not written (a resume notes those of the
	// messages it purges): the record holds generation 0's.
	if d := note(0, 3); d.Total() != 3 || d.Delivered[0] != 3 || d.Delivered[1] != 0 {
		t.Fatalf("a later delivery of generation 0: %+v", d)
	}
	if d := note(1, 1); d.Total() != 4 || d.Delivered[1] != 1 {
		t.Fatalf("generation 1's first delivery after it: %+v", d)
	}
	// Another batch, noted by racing workers from its first delivery on.
	var wg sync.WaitGroup
	for n := 1; n <= 6; n++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := l.Delivered(ctx, "j", 8, 0, n); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := l.HandedBack(ctx, "j", 8); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	d, err := l.Delivered(ctx, "j", 8, 0, 6)
	if err != nil {
		t.Fatal(err)
	}
	if d.Total() != 6 || d.HandedBack != 6 {
		t.Fatalf("after racing workers: %+v, want 6 deliveries and 6 hand-backs", d)
	}
	// Deliveries reads the record as it is, and an empty one for a batch
	// never delivered, writing nothing.
	if r, err := l.Deliveries(ctx, "j", 8); err != nil || r.Total() != 6 || r.HandedBack != 6 {
		t.Fatalf("Deliveries of batch 8: %+v (%v)", r, err)
	}
	if r, err := l.Deliveries(ctx, "j", 9); err != nil || r.Total() != 0 || r.HandedBack != 0 {
		t.Fatalf("Deliveries of a batch never delivered: %+v (%v)", r, err)
	}
	if _, err := l.B.Jobs.Get(ctx, contracts.DeliveriesKey("j", 9)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Deliveries wrote a record: %v", err)
	}
}

// Outcomes reads every recorded outcome of a job, and only that job's, in
// mini-batch order.
func TestOutcomesListsAJobsOutcomesInOrder(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	if got, err := l.Outcomes(ctx, "j"); err != nil || len(got) != 0 {
		t.Fatalf("no outcomes yet: %v, %v", got, err)
	}
	for _, i := range []int64{12, 3, 0, 7} {
		if _, _, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: i, Attempt: 1, OK: true, Worker: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.Record(ctx, "jj", contracts.BatchOutcome{Index: 5, Attempt: 1, Worker: "w"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Delivered(ctx, "j", 1, 0, 1); err != nil {
		t.Fatal(err)
	}
	got, err := l.Outcomes(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(indexes(got)); s != "[0 3 7 12]" {
		t.Fatalf("outcomes of batches %s, want [0 3 7 12]", s)
	}
}

func indexes(os []contracts.BatchOutcome) []int64 {
	var out []int64
	for _, o := range os {
		out = append(out, o.Index)
	}
	return out
}
