package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSAuthenticationEndToEnd: a job runs through `prs run --nats`
// against a server that asks for each kind of credential prs takes (user
// and password as flags or in the URL, a token as a flag or in the URL, an
// nkey seed, a JWT creds file, TLS with a client certificate), and wrong
// credentials are a clear error that names the server and shows no secret.
func TestNATSAuthenticationEndToEnd(t *testing.T) {
	t.Parallel()
	c := newCerts(t)
	op := newOperator(t)
	otherOp := newOperator(t)
	nkeyPub, nkeySeed := nkeyUser(t)
	_, strangerSeed := nkeyUser(t)
	for _, tc := range []struct {
		name string
		opts *server.Options
		// good and bad flags; a URL in them holds "URL" for the server's.
		good, bad []string
		badSays   string
		secret    string // must not be shown by the bad try
	}{
		{"user and password", &server.Options{Username: "prs", Password: "s3cret-pw"},
			[]string{"--nats-user", "prs", "--nats-password", "s3cret-pw"}, []string{"--nats-user", "prs", "--nats-password", "wrong-pw"},
			"authorization", "wrong-pw"},
		{"user and password in the URL", &server.Options{Username: "prs", Password: "s3cret-pw"},
			[]string{"--nats", "nats://prs:s3cret-pw@HOSTPORT"}, []string{"--nats", "nats://prs:wrong-pw@HOSTPORT"},
			"authorization", "wrong-pw"},
		{"token", &server.Options{Authorization: "t0ken-value"},
			[]string{"--nats-token", "t0ken-value"}, []string{"--nats-token", "n0pe-value"}, "authorization", "n0pe-value"},
		{"token in the URL", &server.Options{Authorization: "t0ken-value"},
			[]string{"--nats", "nats://t0ken-value@HOSTPORT"}, []string{"--nats", "nats://n0pe-value@HOSTPORT"}, "authorization", "n0pe-value"},
		{"nkey", &server.Options{Nkeys: []*server.NkeyUser{{Nkey: nkeyPub}}},
			[]string{"--nats-nkey", nkeySeed}, []string{"--nats-nkey", strangerSeed}, "authorization", ""},
		{"creds", op.options(),
			[]string{"--nats-creds", op.creds(t)}, []string{"--nats-creds", otherOp.creds(t)}, "authorization", ""},
		{"TLS with a client certificate", tlsOptions(t, c),
			[]string{"--nats-tls-ca", c.ca, "--nats-tls-cert", c.clientCert, "--nats-tls-key", c.clientKey},
			// TLS 1.3 ends the handshake before the server refuses: the
			// client sees "certificate required" or a closed connection.
			[]string{"--nats-tls-ca", c.ca}, "tls", ""},
		{"TLS, an unknown CA", tlsOptions(t, c),
			[]string{"--nats-tls-ca", c.ca, "--nats-tls-cert", c.clientCert, "--nats-tls-key", c.clientKey},
			[]string{"--nats-tls-cert", c.clientCert, "--nats-tls-key", c.clientKey}, "certificate", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startAuthServer(t, tc.opts, nil)
			url := s.ClientURL()
			h := &harness{t: t}
			flags := func(fs []string) []string {
				out := []string{"--nats", url}
				for _, f := range fs {
					out = append(out, strings.ReplaceAll(f, "HOSTPORT", strings.TrimPrefix(url, "nats://")))
				}
				return out
			}
			runJobThrough(t, h, flags(tc.good))
			out, errOut, code := h.prs(30*time.Second, append([]string{"status"}, flags(tc.bad)...)...)
			if code != exitUsageCode || !strings.Contains(strings.ToLower(errOut), tc.badSays) || !strings.Contains(errOut, "127.0.0.1") {
				t.Fatalf("wrong credentials: exit %d, want %d and %q\n%s%s", code, exitUsageCode, tc.badSays, out, errOut)
			}
			if tc.secret != "" && strings.Contains(out+errOut, tc.secret) {
				t.Fatalf("the wrong secret is shown:\n%s%s", out, errOut)
			}
		})
	}
}

// exitUsageCode is prs's exit code for bad input, an unreachable server
// among it.
const exitUsageCode = 2

// runJobThrough runs a four-file job with `prs run` against the NATS
// server that flags name, from and to local folders, and checks its rows.
func runJobThrough(t *testing.T, h *harness, flags []string) {
	t.Helper()
	in, out := t.TempDir(), t.TempDir()
	for i := 0; i < 4; i++ {
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("f%05d.txt", i)), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"run", "--input", in, "--output", out, "--entry-script", "testdata/score.py",
		"--mini-batch-size", "2", "--allow-reuse=false"}, flags...)
	stdout, stderr, code := h.prs(2*time.Minute, args...)
	if code != 0 {
		t.Fatalf("prs run: exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), names(4, nil))
}
