package consumer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// An exception message is the script's to choose: one of 9 MiB (more than
// the embedded server's largest message) is cut in the outcome and the
// records, which say so, and the mini-batch is still recorded as failed.
func TestHugeErrorMessageIsCut(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	huge := strings.Repeat("é", 9<<19) // 9 MiB of two-byte runes
	inner := echo(nil)
	b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if bt.Index == 1 {
			return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: huge}
		}
		return inner(ctx, bt)
	}))
	c := b.config(2)
	c.RunMaxTry = 1
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.FailedBatches != 1 || cs.ItemsFailed != 2 {
		t.Fatalf("state %+v, counters %+v", st, cs)
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 1)
	if err != nil || !ok || o.ErrorType != "ValueError" {
		t.Fatalf("outcome %+v ok=%v err=%v", o, ok, err)
	}
	if len(o.Error) > 17<<10 || !strings.HasPrefix(o.Error, "éé") || !strings.Contains(o.Error, "more bytes of the message cut)") || !strings.Contains(o.Error, "é...") {
		t.Fatalf("outcome's error of %d bytes: %.80q...%q", len(o.Error), o.Error, o.Error[max(0, len(o.Error)-80):])
	}
}
