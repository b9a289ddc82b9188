package consumer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	before := b.stopAndLoseQueue(ctx, id, w, 3)
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

// failInit is a handler whose init always fails.
type failInit struct{}

func (failInit) Init(context.Context) error { return errors.New("init is broken") }
func (failInit) Run(context.Context, *consumer.Batch) (consumer.Result, error) {
	return consumer.Result{}, errors.New("run without init")
}
func (failInit) Close() error { return nil }

// A JSON Lines piece that fails before it is read still counts a failed
// item, so error_threshold 0 stops the job instead of losing its rows.
func TestJSONLinesPieceFailingBeforeItIsReadCounts(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	if err := os.WriteFile(filepath.Join(b.input, "t.jsonl"), []byte("{\"id\": 1}\n{\"id\": 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.worker(1, failInit{})
	c := b.config(1)
	c.MiniBatchSize, c.InputFormat, c.RunMaxTry, c.ErrorThreshold = "1KB", "jsonl", 1, 0
	_, st, cs := b.run(c)
	if st.State != contracts.StateFailed || cs.ItemsFailed < 1 {
		t.Fatalf("state %+v counters %+v: want the job failed with a failed item", st, cs)
	}
}

// A partition_keys group of files whose list is too large for one message
// is staged apart and still reaches run() as one mini-batch.
func TestLargeFolderGroupIsOneMiniBatch(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	long := strings.Repeat("x", 100)
	for g, n := range map[string]int{"big": 3000, "small": 3} {
		dir := filepath.Join(b.input, g)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%05d.txt", long, i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		mu    sync.Mutex
		sizes = map[string]int{}
	)
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		mu.Lock()
		var group string
		_ = json.Unmarshal(bt.Partition[0].Value, &group)
		sizes[group] += len(bt.Paths)
		mu.Unlock()
		return echo(nil)(ctx, bt)
	}))
	c := b.config(10)
	c.PartitionKeys, c.PartitionFormat = []string{"group"}, "/{group}/{name}.txt"
	_, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || st.TotalBatches != 2 || cs.ItemsSucceeded != 3003 {
		t.Fatalf("state %+v counters %+v: want 2 mini-batches, 3003 items", st, cs)
	}
	if sizes["big"] != 3000 || sizes["small"] != 3 {
		t.Fatalf("run() got %v files per group", sizes)
	}
}

// A piece without a well-formed row does not call the handler; its
// malformed rows are failed items and the mini-batch does not fail.
func TestPieceWithoutGoodRowsSkipsTheHandler(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	var sb strings.Builder
	for sb.Len() < 2000 {
		sb.WriteString("{this is not json}\n")
	}
	bad := strings.Count(sb.String(), "\n")
	for i := range 100 {
		fmt.Fprintf(&sb, "{\"id\": %d}\n", i)
	}
	if err := os.WriteFile(filepath.Join(b.input, "t.jsonl"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var n calls
	b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		n.add(bt.Index)
		if bt.Table.Rows == 0 {
			t.Errorf("mini-batch %d reached the handler without a row", bt.Index)
		}
		return tableRows(ctx, bt)
	}))
	c := b.config(1)
	c.MiniBatchSize, c.InputFormat = "1KB", "jsonl"
	_, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.ItemsSucceeded != 100 || cs.ItemsFailed != int64(bad) || cs.FailedBatches != 0 {
		t.Fatalf("state %+v counters %+v: want 100 succeeded, %d failed, no failed mini-batch", st, cs, bad)
	}
	if n.get(0) != 0 {
		t.Fatal("the first piece, all malformed, called the handler")
	}
	sameRows(t, b.rows("parallel_run_step.txt"), ids(100))
}

// Malformed rows stay failed items even when run() returns more rows than
// it was given.
func TestMalformedRowsFailWhateverRunReturns(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	body := "{\"id\": 0}\nbad\n{\"id\": 1}\nworse\n{\"id\": 2}\n"
	if err := os.WriteFile(filepath.Join(b.input, "t.jsonl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		r, err := tableRows(ctx, bt)
		r.Rows = append(r.Rows, []byte(`"extra"`), []byte(`"extra"`))
		return r, err
	}))
	c := b.config(1)
	c.InputFormat = "jsonl"
	_, _, cs := b.run(c)
	if cs.ItemsFailed != 2 || cs.ItemsSucceeded != 3 {
		t.Fatalf("counters %+v: want the 2 malformed rows failed and the 3 others succeeded, whatever the extra rows", cs)
	}
}

// A damaged staged file list fails its mini-batch at once (PrepareError),
// without retrying as if storage were down.
func TestDamagedStagedFileListFailsTheMiniBatch(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	long := strings.Repeat("y", 120)
	dir := filepath.Join(b.input, "big")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2500 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%05d.txt", long, i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := b.config(10)
	c.PartitionKeys, c.PartitionFormat, c.RunMaxTry = []string{"group"}, "/{group}/{name}.txt", 1
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := producer.NewJobID()
	if _, err := b.prod.Submit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(producer.StagingURI(b.output, id), "partitions", "files-000000.json")
	if err := os.WriteFile(list, []byte("[not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.worker(1, echo(nil))
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, _, _, _ := b.ledger.Outcome(ctx, id, 0)
	// The job's one mini-batch failed: every item failed, so the job did.
	if st.State != contracts.StateFailed || !strings.Contains(st.Reason, "every item failed") ||
		o.OK || o.ErrorType != "PrepareError" || !strings.Contains(o.Error, "staged file list is damaged") || o.Failed != 2500 {
		t.Fatalf("state %+v outcome %+v: want a PrepareError naming the damaged list, 2500 failed items", st, o)
	}
}

// A CSV row whose one field is empty reaches the handler as a row: the
// table's CSV text writes it `""`, not as a blank line that readers skip.
func TestOneEmptyFieldRowIsKept(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	if err := os.WriteFile(filepath.Join(b.input, "t.csv"), []byte("id\n1\n\"\"\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var csvText []byte
	b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		csvText = bytes.Clone(bt.Table.CSV)
		return tableRows(ctx, bt)
	}))
	c := b.config(1)
	c.InputFormat, c.MiniBatchSize = "csv", "1KB"
	_, _, cs := b.run(c)
	if cs.ItemsSucceeded != 3 || string(csvText) != "id\n1\n\"\"\n3\n" {
		t.Fatalf("counters %+v, table text %q: want 3 rows, the empty one quoted", cs, csvText)
	}
}
