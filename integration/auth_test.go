package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSCredentials: a server that asks for a user and password, or a
// token, is reached with the flags, and wrong credentials are a clear error.
func TestNATSCredentials(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      server.Options
		good, bad []string
	}{
		{"user and password", server.Options{Username: "prs", Password: "s3cret"},
			[]string{"--nats-user", "prs", "--nats-password", "s3cret"}, []string{"--nats-user", "prs", "--nats-password", "wrong"}},
		{"token", server.Options{Authorization: "t0ken"},
			[]string{"--nats-token", "t0ken"}, []string{"--nats-token", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.JetStream, o.StoreDir, o.Host, o.Port, o.NoSigs, o.NoLog = true, t.TempDir(), "127.0.0.1", -1, true, true
			s, err := server.NewServer(&o)
			if err != nil {
				t.Fatal(err)
			}
			go s.Start()
			if !s.ReadyForConnections(10 * time.Second) {
				t.Fatal("server not ready")
			}
			t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			h := &harness{t: t}
			url := s.ClientURL()
			out, errOut, code := h.prsEnv(30*time.Second, nil, append([]string{"status", "--nats", url}, tc.good...)...)
			if code != 0 || !strings.Contains(out, "JOB") {
				t.Fatalf("good credentials: exit %d\n%s%s", code, out, errOut)
			}
			out, errOut, code = h.prsEnv(30*time.Second, nil, append([]string{"status", "--nats", url}, tc.bad...)...)
			if code != 2 || !strings.Contains(strings.ToLower(errOut), "authorization") || !strings.Contains(errOut, url) {
				t.Fatalf("wrong credentials: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
