package consumer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// tableRows is a handler that returns each row's id: from the CSV text of
// a CSV piece, or from the JSON records of other formats.
func tableRows(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
	var r consumer.Result
	if b.Table == nil {
		return r, fmt.Errorf("batch %d has no table", b.Index)
	}
	if b.Table.Format == "csv" {
		recs, err := csv.NewReader(bytes.NewReader(b.Table.CSV)).ReadAll()
		if err != nil {
			return r, err
		}
		for _, rec := range recs[1:] {
			j, _ := json.Marshal(rec[0])
			r.Rows = append(r.Rows, j)
		}
	} else {
		for _, rec := range b.Table.Records {
			var v struct {
				ID json.Number `json:"id"`
			}
			if err := json.Unmarshal(rec, &v); err != nil {
				return r, err
			}
			j, _ := json.Marshal(v.ID.String())
			r.Rows = append(r.Rows, j)
		}
	}
	if len(r.Rows) != b.Table.Rows {
		return r, fmt.Errorf("table of %d rows gave %d", b.Table.Rows, len(r.Rows))
	}
	return r, nil
}

func ids(n int, skip ...int) []string {
	var out []string
	for i := range n {
		if !containsInt(skip, i) {
			out = append(out, fmt.Sprint(i))
		}
	}
	return out
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// A tabular job resumed after its queued pieces were lost runs only the
// pieces without an outcome; the pieces are planned again identically, so
// the rows are exact and in order.
func TestTabularJobResumes(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	var sb strings.Builder
	sb.WriteString("id,text\n")
	for i := range 3000 {
		fmt.Fprintf(&sb, "%d,\"row %d, with a comma\nand a line break\"\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(b.input, "t.csv"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		time.Sleep(30 * time.Millisecond)
		return tableRows(ctx, bt)
	}))
	c := b.config(1)
	c.InputFormat, c.MiniBatchSize = "csv", "4KB"
	id := producer.NewJobID()
	sub, err := b.prod.Submit(ctx, id, c)
	if err != nil {
		t.Fatal(err)
	}
	total := sub.State.TotalBatches
	if total < 10 || sub.State.TotalItems != 3000 {
		t.Fatalf("planned %d pieces of %d rows; want at least 10 pieces of 3000 rows", total, sub.State.TotalItems)
	}
	for {
		cs, err := b.h.ReadCounters(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Done >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.h.Batches.Purge(ctx, jetstream.WithPurgeSubject(contracts.BatchSubject(id))); err != nil {
		t.Fatal(err)
	}
	before, _ := b.h.ReadCounters(ctx, id)
	if before.Done >= total {
		t.Fatal("every piece finished before the stop; the test needs a slower handler")
	}
	var n calls
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		n.add(bt.Index)
		return tableRows(ctx, bt)
	}))
	sub, err = b.prod.Submit(ctx, id, c)
	if err != nil || !sub.Resumed {
		t.Fatalf("resubmit: %+v %v", sub, err)
	}
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
	ran := 0
	for i := range total {
		ran += n.get(i)
	}
	if want := int(total - before.Done); ran != want {
		t.Fatalf("the resumed job ran %d pieces, want the %d unfinished ones", ran, want)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), ids(3000))
	if cs, _ := b.h.ReadCounters(ctx, id); cs.ItemsSucceeded != 3000 || cs.ItemsFailed != 0 {
		t.Fatalf("counters %+v", cs)
	}
}

// JSON Lines pieces have no row count until they are read: the job's total
// is unknown (-1), and each outcome counts the rows its worker read,
// malformed lines as failed items.
func TestJSONLinesRowsAreCountedWhenRead(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	var sb strings.Builder
	for i := range 500 {
		if i == 123 || i == 321 {
			sb.WriteString("{not json\n")
			continue
		}
		fmt.Fprintf(&sb, "{\"id\": %d}\n", i)
	}
	if err := os.WriteFile(filepath.Join(b.input, "t.jsonl"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.worker(2, consumer.HandlerFunc(tableRows))
	c := b.config(1)
	c.MiniBatchSize, c.InputFormat = "1KB", "auto"
	_, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || st.TotalItems != -1 {
		t.Fatalf("state %+v", st)
	}
	if cs.ItemsSucceeded != 498 || cs.ItemsFailed != 2 {
		t.Fatalf("counters %+v: want 498 succeeded, 2 failed", cs)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), ids(500, 123, 321))
}
