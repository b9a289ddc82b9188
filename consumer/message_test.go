package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// A work-queue message that is not a mini-batch a worker can run (not a
// JSON object, a job id that cannot name KV keys, a negative index or item
// count) is terminated at once: it neither goes back to the queue again
// and again nor holds the slot that jobs behind it need.
func TestHostileMessagesAreTerminated(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 20)
	b.worker(1, echo(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range []string{
		`not json`, `null`, `[]`, `{"job_id":"a b","index":0}`, `{"job_id":"x*","index":1}`, `{"job_id":"x>"}`,
		`{"job_id":"` + strings.Repeat("a", 65) + `"}`, `{"job_id":"ok","index":-1}`, `{"job_id":"ok","generation":-1}`, `{"job_id":"ok","items_key":"k","items_count":-2}`,
		`{"job_id":"ok","piece":{"key":"t.csv","format":"csv","object_size":9,"start":5,"end":1}}`,
	} {
		if _, err := b.h.JS.Publish(ctx, contracts.BatchSubject("hostile"), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	// The one slot gets to the job behind them.
	_, st, cs := b.run(b.config(5))
	if st.State != contracts.StateCompleted || cs.ItemsSucceeded != 20 {
		t.Fatalf("state %s (%s), counters %+v", st.State, st.Reason, cs)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(20, nil))
	// Nothing went back to the queue.
	for {
		info, err := b.h.Batches.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d messages still queued", info.State.Msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
