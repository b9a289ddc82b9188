package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// requestCounter counts the messages that clients send to the server, by
// what they do, from a subscription to every subject of the account: the
// requests a mini-batch costs, whoever sends them.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	sub    *nats.Subscription
}

func countRequests(tb testing.TB, p *pipeline) *requestCounter {
	tb.Helper()
	nc, err := nats.Connect(p.b.srv.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	rc := &requestCounter{counts: map[string]int{}}
	rc.sub, err = nc.Subscribe(">", func(m *nats.Msg) {
		c := requestClass(m)
		if c == "" {
			return
		}
		rc.mu.Lock()
		rc.counts[c]++
		rc.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	return rc
}

// requestClass names what a message asks of the server ("" for a reply or
// for what no client sent).
func requestClass(m *nats.Msg) string {
	s := m.Subject
	kv := "$KV." + contracts.JobBucket + "."
	switch {
	case strings.HasPrefix(s, "_INBOX."), strings.HasPrefix(s, "$JS.EVENT."), strings.HasPrefix(m.Reply, "$JS.ACK."):
		// A reply, an advisory, or a message a consumer delivers (its reply
		// is where it is acked): the server's, not a client's.
		return ""
	case strings.HasPrefix(s, "prs.batch."):
		return "publish mini-batch"
	case strings.HasPrefix(s, "prs.count."):
		return "counter increment"
	case strings.HasPrefix(s, kv) && strings.Contains(s, ".deliveries."):
		return "kv write deliveries"
	case strings.HasPrefix(s, kv) && strings.Contains(s, ".batch."):
		return "kv write outcome"
	case strings.HasPrefix(s, kv):
		return "kv write other"
	case strings.HasPrefix(s, "$JS.ACK."):
		switch {
		case bytes.HasPrefix(m.Data, []byte("+ACK")):
			return "ack"
		case bytes.HasPrefix(m.Data, []byte("+WPI")):
			return "in progress"
		default:
			return "ack other"
		}
	case strings.HasPrefix(s, "$JS.API.CONSUMER.MSG.NEXT."):
		return "pull"
	case strings.HasPrefix(s, "$JS.API.DIRECT.GET.") && strings.Contains(s, ".batch."):
		return "read outcome"
	case strings.HasPrefix(s, "$JS.API.DIRECT.GET.") && strings.HasSuffix(s, ".state"):
		return "read state"
	case strings.HasPrefix(s, "$JS.API.DIRECT.GET."), strings.HasPrefix(s, "$JS.API.STREAM.MSG.GET."):
		return "read other"
	default:
		return "other"
	}
}

// wait waits until the counter has seen n messages of class c.
func (rc *requestCounter) wait(tb testing.TB, c string, n int) map[string]int {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc.mu.Lock()
		got := rc.counts[c]
		out := make(map[string]int, len(rc.counts))
		for k, v := range rc.counts {
			out[k] = v
		}
		rc.mu.Unlock()
		if got >= n {
			return out
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d messages %q, want %d; all: %v", got, c, n, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func formatCounts(counts map[string]int, n int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-22s %6d  %.2f per mini-batch", k, counts[k], float64(counts[k])/float64(n))
	}
	return b.String()
}

// TestRequestsPerMiniBatch counts what one job of one-file mini-batches
// asks of JetStream, by kind, and holds the worker's share of each
// mini-batch to what exactly-once needs: no note of a first delivery (a
// resume notes those it purges), one outcome written and then marked
// counted, one increment of the outcomes
// counter (its done count, items and failures at once), one ack,
// and no read of its own (the job is read once per worker, its state and
// counters not at all below its total); the finalisation reads each
// outcome once.
func TestRequestsPerMiniBatch(t *testing.T) {
	const n = 60
	// An AckWait far above a mini-batch's time: no delivery runs out of it.
	bn := newBundleAck(t, n, time.Minute)
	bn.worker(4, noop)
	p := &pipeline{b: bn, c: bn.config(1), n: n}
	p.job(t) // the worker learns the job's handler and folders on a first job
	rc := countRequests(t, p)
	p.job(t)
	got := rc.wait(t, "ack", n)
	t.Logf("requests for a job of %d mini-batches:%s", n, formatCounts(got, n))
	p.check(t)
	for c, want := range map[string]int{
		"publish mini-batch":  n,
		"kv write deliveries": 0,
		"kv write outcome":    2 * n,
		"counter increment":   n,
		"ack":                 n,
		"ack other":           0,
	} {
		if got[c] != want {
			t.Errorf("%d %q for %d mini-batches, want %d", got[c], c, n, want)
		}
	}
	// The finalisation reads each outcome once. The job's record, state
	// and counters are read a few times per job (the producer, the
	// worker's first mini-batch, the finalisation, the job's end), never
	// per mini-batch.
	if got["read outcome"] != n {
		t.Errorf("%d outcomes read for %d mini-batches, want %d (the finalisation's)", got["read outcome"], n, n)
	}
	if got["read other"]+got["read state"] >= n {
		t.Errorf("%d other reads for %d mini-batches, want a few per job", got["read other"]+got["read state"], n)
	}
}

// TestSealedWindowIsNotReadPerMiniBatch: a prs watch window is an open job,
// its total unknown until it is sealed, so a worker reads its state after
// each mini-batch to know whether it was the last; once the window is
// sealed, the worker learns the total from its watch of job states and
// reads the state no more below it.
func TestSealedWindowIsNotReadPerMiniBatch(t *testing.T) {
	const n = 40
	bn := newBundleAck(t, n, time.Minute)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	bn.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if bt.Index == 0 {
			once.Do(func() { close(started) })
			<-release
		}
		return noop.Run(ctx, bt)
	}))
	p := &pipeline{b: bn, c: bn.config(1), n: n}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmpl, err := bn.prod.Prepare(ctx, p.c)
	if err != nil {
		t.Fatal(err)
	}
	id := contracts.WindowJobID("roundtrips", 0)
	job, err := bn.prod.OpenWindow(ctx, tmpl, id, bn.output, "roundtrips", 0)
	if err != nil {
		t.Fatal(err)
	}
	states, err := bn.h.Jobs.Watch(ctx, contracts.StateKey(id))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = states.Stop() }()
	for i := range int64(n) {
		mb := contracts.MiniBatch{JobID: id, Index: i, Items: []contracts.Item{{Key: fmt.Sprintf("f%05d.txt", i), Size: 1}}}
		if err := bn.prod.PublishBatch(ctx, mb); err != nil {
			t.Fatal(err)
		}
		if err := bn.ledger.GrowJob(ctx, id, i+1, i+1); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	if _, err := bn.ledger.SealJob(ctx, job, n, n, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, states, func(st contracts.JobState) bool { return st.Sealed })
	rc := countRequests(t, p)
	close(release)
	waitState(t, states, func(st contracts.JobState) bool { return st.Terminal() })
	got := rc.wait(t, "ack", n)
	t.Logf("requests for a sealed window of %d mini-batches:%s", n, formatCounts(got, n))
	p.check(t)
	// The finalisation reads the state a few times; a read per mini-batch
	// would be n more.
	if got["read state"] >= n/4 {
		t.Errorf("%d reads of the job's state for %d mini-batches of a sealed window, want a few for its finalisation", got["read state"], n)
	}
}

// waitState waits for a state on a watch of one job's state key that ok
// accepts.
func waitState(t *testing.T, w jetstream.KeyWatcher, ok func(contracts.JobState) bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e := <-w.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st contracts.JobState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				t.Fatal(err)
			}
			if ok(st) {
				return
			}
		case <-deadline:
			t.Fatal("the job's state did not come")
		}
	}
}
