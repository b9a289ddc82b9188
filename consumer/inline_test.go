package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// padded returns each file's base name followed by pad(batch index) x's.
func padded(pad func(index int64) int) consumer.HandlerFunc {
	return func(_ context.Context, b *consumer.Batch) (consumer.Result, error) {
		var r consumer.Result
		for _, p := range b.Paths {
			j, _ := json.Marshal(filepath.Base(p) + strings.Repeat("x", pad(b.Index)))
			r.Rows = append(r.Rows, j)
		}
		return r, nil
	}
}

// stagedRows lists the job's rows objects, relative to its staging root.
func (b *bundle) stagedRows(id string) []string {
	b.t.Helper()
	root := producer.StagingURI(b.output, id)
	var keys []string
	err := filepath.WalkDir(filepath.Join(root, "results"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.t.Fatal(err)
	}
	return keys
}

// TestSmallRowsRideInTheOutcome runs jobs of 10 mini-batches of 3 files
// whose rows are small (20 bytes) or large (3 x 40 KiB) by batch, and
// checks where each batch's rows went: small ones in the outcome, large
// ones (over inline_rows_max), all of them with inline_rows_max 0, and
// small ones whose outcome would not fit in the jobs bucket in an object
// that the outcome names; the final file has every row in order each time.
func TestSmallRowsRideInTheOutcome(t *testing.T) {
	t.Parallel()
	large := func(i int64) int {
		if i%2 == 0 {
			return 40 << 10
		}
		return 10
	}
	for _, tc := range []struct {
		name      string
		inlineMax int
		maxRecord int // the jobs bucket's largest value; 0 keeps the server's
		pad       func(int64) int
		inline    func(int64) bool // whether batch i's rows ride in its outcome
	}{
		{"default threshold", contracts.DefaultInlineRowsMax, 0, large, func(i int64) bool { return i%2 != 0 }},
		{"threshold 0", 0, 0, large, func(int64) bool { return false }},
		{"bucket smaller than the threshold", contracts.DefaultInlineRowsMax, 4 << 10, func(i int64) int { return int(i) * 300 },
			func(i int64) bool { return i < 3 }}, // 3 rows of i*300 bytes in base64, under 3 KiB with the outcome's fields
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, 30)
			if tc.maxRecord > 0 {
				b.h.MaxRecord = tc.maxRecord
			}
			b.worker(2, padded(tc.pad))
			c := b.config(3)
			c.InlineRowsMax = tc.inlineMax
			c.KeepStaging = true // the staged rows objects are checked below
			id, st, cs := b.run(c)
			if st.State != contracts.StateCompleted || cs.Done != 10 || cs.ItemsSucceeded != 30 {
				t.Fatalf("state %+v, counters %+v", st, cs)
			}
			var want, objects []string
			for i := int64(0); i < 10; i++ {
				for f := i * 3; f < i*3+3; f++ {
					want = append(want, expectedRows(30, nil)[f]+strings.Repeat("x", tc.pad(i)))
				}
				o, _, ok, err := b.ledger.Outcome(context.Background(), id, i)
				if err != nil || !ok {
					t.Fatalf("outcome %d: %v %v", i, ok, err)
				}
				switch {
				case tc.inline(i) && (len(o.Rows) == 0 || o.ResultKey != ""):
					t.Errorf("batch %d: rows %d bytes, key %q; want its rows in its outcome", i, len(o.Rows), o.ResultKey)
				case !tc.inline(i) && (len(o.Rows) != 0 || o.ResultKey == ""):
					t.Errorf("batch %d: rows %d bytes, key %q; want its rows in an object", i, len(o.Rows), o.ResultKey)
				}
				if o.ResultKey != "" {
					objects = append(objects, o.ResultKey)
				}
			}
			sameRows(t, b.rows(c.AppendRowFileName), want)
			if got := b.stagedRows(id); !slices.Equal(got, objects) {
				t.Fatalf("rows objects %v, want the outcomes' %v", got, objects)
			}
		})
	}
}

// TestOutcomeFitsABucketOfSmallValues: a mini-batch that fails with a long
// error message, in a jobs bucket whose values are small (an admin's
// max_value_size), is recorded with less of its message rather than handed
// back for ever, and the job ends.
func TestOutcomeFitsABucketOfSmallValues(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 6)
	b.h.MaxRecord = 2 << 10
	b.worker(2, consumer.HandlerFunc(func(_ context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if bt.Index == 1 {
			return consumer.Result{}, errors.New("bad input: " + strings.Repeat("é", 6<<10))
		}
		return padded(func(int64) int { return 0 })(context.Background(), bt)
	}))
	c := b.config(3)
	c.RunMaxTry, c.ErrorThreshold = 1, -1
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.Done != 2 || cs.FailedBatches != 1 {
		t.Fatalf("state %+v, counters %+v; want completed with 1 of 2 mini-batches failed", st, cs)
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 1)
	if err != nil || !ok || o.OK {
		t.Fatalf("outcome of the failed mini-batch: %+v, %v, %v", o, ok, err)
	}
	if !strings.HasPrefix(o.Error, "bad input: é") || !strings.Contains(o.Error, "more bytes of the message cut") || len(o.Error) > 2<<10 {
		t.Fatalf("the recorded error (%d bytes) is %.80q...; want its beginning, cut to fit 2 KiB", len(o.Error), o.Error)
	}
}
