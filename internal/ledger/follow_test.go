package ledger

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/broker/brokertest"
)

// TestFollowOutlivesALostRequest: a read of Follow whose request is lost
// with its connection (as in a NATS server restart) is given up at its own
// bound, not at the deadline of Follow's context, so Follow sees the job
// end soon after. Found by the chaos test: its follower waited out the
// whole job timeout after a JetStream restart.
func TestFollowOutlivesALostRequest(t *testing.T) {
	defer func(d time.Duration) { followReadTimeout = d }(followReadTimeout)
	followReadTimeout = time.Second
	s, h := brokertest.Start(t, broker.SetupConfig{})
	direct := New(h, &Stores{}, "w1", nil)
	job := addJob(t, direct, "j", 1, t.TempDir())

	// The follower reaches the server through a proxy that can swallow
	// what the client sends and then cut the connection.
	p := newCutProxy(t, s.Addr().String())
	nc, err := nats.Connect("nats://"+p.addr(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	fh, err := broker.Setup(sctx, js, broker.SetupConfig{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	follower := New(fh, &Stores{}, "follower", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	polled := make(chan struct{}, 1)
	ended := make(chan contracts.JobState, 1)
	go func() {
		st, _ := follower.Follow(ctx, job.ID, 10*time.Millisecond, func(contracts.JobState, contracts.Counters) {
			select {
			case polled <- struct{}{}:
			default:
			}
		})
		ended <- st
	}()
	<-polled
	p.swallow()
	waitFor(t, "a request to be swallowed", func() bool { return p.swallowed.Load() > 0 })
	p.cut()
	if _, err := direct.Stop(context.Background(), job.ID, contracts.StateCancelled, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-ended:
		if st.State != contracts.StateCancelled {
			t.Fatalf("Follow returned %+v", st)
		}
	case <-time.After(time.Minute):
		t.Fatal("Follow still waits on the request lost with its connection")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cutProxy forwards TCP connections to a server. swallow makes it drop
// what clients send from then on; cut closes every connection and forwards
// again.
type cutProxy struct {
	l         net.Listener
	target    string
	dropping  atomic.Bool
	swallowed atomic.Int64
	mu        sync.Mutex
	conns     []net.Conn
	wg        sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { l.Close(); p.closeAll(); p.wg.Wait() })
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.pipe(s, c, true) }()
		go func() { defer p.wg.Done(); p.pipe(c, s, false) }()
	}
}

// pipe copies src to dst; what a client sends is dropped while swallowing.
func (p *cutProxy) pipe(dst, src net.Conn, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && p.dropping.Load() {
				p.swallowed.Add(int64(n))
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) swallow() { p.dropping.Store(true) }

func (p *cutProxy) cut() {
	p.dropping.Store(false)
	p.closeAll()
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
