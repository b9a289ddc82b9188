package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
)

// jsCluster is a three-node JetStream cluster in the test process.
type jsCluster struct {
	t     *testing.T
	nodes []*server.Server
	opts  []*server.Options
}

// startCluster starts three JetStream servers routed to each other and
// waits for their meta leader.
func startCluster(t *testing.T) *jsCluster {
	t.Helper()
	c := &jsCluster{t: t}
	var routes []string
	cports := make([]int, 3)
	for i := range cports {
		cports[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cports[i]))
	}
	for i := range cports {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), JetStream: true, StoreDir: t.TempDir(),
			Host: "127.0.0.1", Port: freePort(t), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "prs", Host: "127.0.0.1", Port: cports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		c.nodes, c.opts = append(c.nodes, s), append(c.opts, o)
	}
	t.Cleanup(func() {
		for _, s := range c.nodes {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	for _, s := range c.nodes {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %s did not start", s.Name())
		}
	}
	eventually(t, 30*time.Second, "the JetStream meta leader of three peers", func() bool {
		for _, s := range c.nodes {
			if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == 3 {
				return true
			}
		}
		return false
	})
	return c
}

// urls are the nodes' client URLs, comma-separated.
func (c *jsCluster) urls() string {
	var u []string
	for _, o := range c.opts {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(u, ",")
}

// stop shuts the node named name down.
func (c *jsCluster) stop(name string) {
	c.t.Helper()
	for _, s := range c.nodes {
		if s.Name() == name {
			s.Shutdown()
			s.WaitForShutdown()
			return
		}
	}
	c.t.Fatalf("no node %q", name)
}

// A job on a three-node JetStream cluster with --replicas 3: the streams,
// the bucket and the consumer prs makes have three replicas; a node is
// stopped mid-job (the leader of the work stream, of the workers' consumer,
// or of the jobs bucket); nothing is lost and the job completes with exact
// output.
func TestReplicatedJetStreamLosesNothingWhenANodeStops(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leader func(ctx context.Context, h *harness) (string, error)
	}{
		{"work stream leader", func(ctx context.Context, h *harness) (string, error) {
			info, err := h.h.Batches.Info(ctx)
			if err != nil {
				return "", err
			}
			return info.Cluster.Leader, nil
		}},
		{"consumer leader", func(ctx context.Context, h *harness) (string, error) {
			info, err := h.h.Consumer.Info(ctx)
			if err != nil {
				return "", err
			}
			return info.Cluster.Leader, nil
		}},
		{"jobs bucket leader", func(ctx context.Context, h *harness) (string, error) {
			s, err := h.h.JS.Stream(ctx, "KV_"+contracts.JobBucket)
			if err != nil {
				return "", err
			}
			return s.CachedInfo().Cluster.Leader, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := startCluster(t)
			h := &harness{t: t, bucket: minio.NewBucket(t), state: t.TempDir(), ackWait: "2s", natsURLs: cl.urls()}
			h.upload("in", 200)
			// prs makes the streams, the bucket and the consumer with --replicas 3.
			id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "5", "--replicas", "3"}, "--sleep", "0.1")
			h.connect(broker.SetupConfig{})
			ctx := context.Background()
			for _, name := range []string{contracts.BatchStream, contracts.CounterStream, "KV_" + contracts.JobBucket} {
				s, err := h.h.JS.Stream(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if r := s.CachedInfo().Config.Replicas; r != 3 {
					t.Fatalf("stream %s has %d replicas, want 3", name, r)
				}
				// Reads go to the leader: a follower that is behind must
				// not answer them (broker.consistentReads).
				if s.CachedInfo().Config.AllowDirect {
					t.Fatalf("stream %s answers direct gets from every replica", name)
				}
			}
			if r := h.h.Consumer.CachedInfo().Config.Replicas; r != 3 {
				t.Fatalf("consumer %s has %d replicas, want 3", contracts.WorkerConsumer, r)
			}
			h.workerArgs(2, "--replicas", "3")
			h.workerArgs(2, "--replicas", "3")
			eventually(t, time.Minute, "10 batches done", func() bool {
				c, _ := h.h.ReadCounters(ctx, id)
				return c.Done >= 10
			})
			leader, err := tc.leader(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			cl.stop(leader)
			st, c := h.wait(id, 2*time.Minute)
			if st.State != contracts.StateCompleted || c.Done != 40 || c.ItemsSucceeded != 200 || c.ItemsFailed != 0 {
				t.Fatalf("state %+v counters %+v", st, c)
			}
			sameRows(t, h.rows(h.s3("out")), names(200, nil))
			t.Logf("stopped node %s mid-job; the job completed with %d retries", leader, c.Retried)
		})
	}
}
