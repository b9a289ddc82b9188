package broker_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parallelrun/prs/internal/broker"
)

// syncBuffer is a log destination that the client's goroutines may write
// to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func debugLog(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// closedPort is a local port where nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestConnectNeverShowsCredentials(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	const secret = "Sup3r-secret"
	for _, tc := range []struct {
		name  string
		cfg   broker.ConnectConfig
		shown string
	}{
		{"password in the URL", broker.ConnectConfig{URL: fmt.Sprintf("nats://prs:%s@127.0.0.1:%d", secret, port)}, "nats://prs:xxxxx@127.0.0.1"},
		{"token in the URL", broker.ConnectConfig{URL: fmt.Sprintf("nats://%s@127.0.0.1:%d", secret, port)}, "nats://xxxxx@127.0.0.1"},
		{"one of a list", broker.ConnectConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d,nats://u:%s@127.0.0.1:%d", port, secret, port)}, "nats://u:xxxxx@127.0.0.1"},
		{"not a URL to net/url", broker.ConnectConfig{URL: fmt.Sprintf("nats://prs:%s%%zz@127.0.0.1:%d", secret, port)}, "nats://prs:xxxxx@127.0.0.1"},
		{"password flag", broker.ConnectConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), User: "prs", Password: secret}, "nats://127.0.0.1"},
		{"token flag", broker.ConnectConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Token: secret}, "nats://127.0.0.1"},
		{"password without a user", broker.ConnectConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Password: secret}, "a password needs a user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			tc.cfg.Logger, tc.cfg.Timeout = debugLog(&logs), time.Second
			nc, err := broker.Connect(tc.cfg)
			if err == nil {
				nc.Close()
				t.Fatal("connected to a closed port")
			}
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), tc.shown) {
				t.Fatalf("error %q: want %q and no secret", err, tc.shown)
			}
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("the log shows the secret:\n%s", logs.String())
			}
		})
	}
}

// TestReconnectLogNeverShowsAToken: nats.go's ConnectedUrlRedacted hides a
// password but not a token given in the URL; the reconnect line hides both.
func TestReconnectLogNeverShowsAToken(t *testing.T) {
	t.Parallel()
	const token = "t0ken-in-the-url"
	port := closedPort(t)
	start := func() *server.Server {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, Authorization: token})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("server not ready")
		}
		return s
	}
	s := start()
	var logs syncBuffer
	nc, err := broker.Connect(broker.ConnectConfig{URL: fmt.Sprintf("nats://%s@127.0.0.1:%d", token, port), Logger: debugLog(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s.Shutdown()
	s.WaitForShutdown()
	s = start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "reconnected to NATS") {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), "nats://xxxxx@127.0.0.1") {
		t.Fatalf("the log shows the token or not the server:\n%s", logs.String())
	}
}
