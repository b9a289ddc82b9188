package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// TestSecretsNeverShown runs a fleet whose NATS credentials come in every
// way prs takes them (a URL with a password, a password flag, the
// environment), at DEBUG in JSON and in text, against a server that
// requires them, a wrong password, an unreachable server and a URL that is
// not one; no secret appears in any output, in the job's logs and results
// under the output, or in the job's records in KV.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const (
		urlPassword  = "url-pw-Zq8xHn3v"
		flagPassword = "flag-pw-K2m9Lw"
		envPassword  = "env-pw-R5tY7u"
		wrong        = "wrong-pw-7QpA2s"
		token        = "tok-4RtB9wXe"
	)
	secrets := []string{urlPassword, flagPassword, envPassword, wrong, token, minio.SecretKey()}
	s := startAuthServer(t, &server.Options{Users: []*server.User{
		{Username: "by-url", Password: urlPassword},
		{Username: "by-flag", Password: flagPassword},
		{Username: "by-env", Password: envPassword},
	}}, nil)
	host := strings.TrimPrefix(s.ClientURL(), "nats://")
	h := newHarnessBucket(t)
	var shown strings.Builder // everything prs printed
	prs := func(env []string, args ...string) (string, int) {
		t.Helper()
		out, errOut, code := h.prsEnv(2*time.Minute, env, args...)
		shown.WriteString(out + errOut)
		return out + errOut, code
	}
	debugJSON := []string{"--log-level", "DEBUG", "--log-format", "json"}
	byURL := append([]string{"--nats", "nats://by-url:" + urlPassword + "@" + host}, debugJSON...)
	byFlag := []string{"--nats", "nats://" + host, "--nats-user", "by-flag", "--nats-password", flagPassword, "--log-level", "DEBUG"}
	byEnv := []string{"PRS_NATS_URL=nats://" + host, "PRS_NATS_USER=by-env", "PRS_NATS_PASSWORD=" + envPassword}

	if out, code := prs(nil, append([]string{"status", "--ack-wait", "3s"}, byURL...)...); code != 0 {
		t.Fatalf("setup: exit %d\n%s", code, out)
	}
	workerLog := startWorkerAs(t, h, byURL)
	h.upload("in", 6)
	output := h.s3("out")
	out, code := prs(nil, append(append([]string{"submit", "--wait", "--input", h.s3("in"), "--output", output,
		"--entry-script", "testdata/score.py", "--mini-batch-size", "2", "--allow-reuse=false"}, byFlag...),
		"--", "--mode", "fail-once", "--state", h.state)...)
	if code != 0 {
		t.Fatalf("submit: exit %d\n%s", code, out)
	}
	id := jobID(t, out)
	for _, args := range [][]string{{"status"}, {"status", id}, {"status", "--json", id}, {"logs", id}} {
		if out, code := prs(byEnv, append(args, "--log-level", "DEBUG")...); code != 0 {
			t.Fatalf("prs %v: exit %d\n%s", args, code, out)
		}
	}
	// prs run, its producer and worker in one process.
	local := t.TempDir()
	if out, code := prs(nil, append([]string{"run", "--input", h.s3("in"), "--output", local,
		"--entry-script", "testdata/score.py", "--allow-reuse=false"}, byURL...)...); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}

	// Failures: each exits 2 and names the place without its secret.
	closed := closedAddr(t)
	submit := func(flags ...string) []string {
		return append([]string{"submit", "--output", output, "--entry-script", "testdata/score.py"}, flags...)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		says string
	}{
		{nil, []string{"status", "--nats", "nats://by-url:" + wrong + "@" + host}, "nats://by-url:xxxxx@"},
		{nil, []string{"status", "--nats", "nats://by-flag@" + host, "--nats-user", "by-flag", "--nats-password", wrong}, "Authorization"},
		{nil, []string{"status", "--nats", "nats://by-url:" + urlPassword + "@" + closed}, "nats://by-url:xxxxx@" + closed},
		{nil, []string{"status", "--nats", "nats://" + token + "@" + closed}, "nats://xxxxx@" + closed},
		{nil, []string{"worker", "--nats", "nats://" + closed + ",nats://by-url:" + urlPassword + "@" + closed}, "by-url:xxxxx@"},
		{nil, submit("--nats", "nats://by-url:"+urlPassword+"%zz@"+host, "--input", h.s3("in")), "by-url:xxxxx@"},
		{[]string{"PRS_NATS_URL=nats://" + closed, "PRS_NATS_PASSWORD=" + envPassword, "PRS_NATS_USER=by-env"}, []string{"status"}, closed},
		{byEnv, submit("--input", "s3://key:"+wrong+"@"+h.bucket+"/in"), "credentials do not belong"},
		{byEnv, submit("--input", h.s3("in"), "--side-input", "labels=s3://key:"+wrong+"@"+h.bucket+"/x"), "side_inputs"},
		{byEnv, submit("--input", h.s3("in"), "--side-input", "s3://key:"+wrong+"@"+h.bucket+"/x"), "NAME=VALUE"},
	} {
		out, code := prs(tc.env, append(tc.args, debugJSON...)...)
		if code != exitUsageCode || !strings.Contains(out, tc.says) {
			t.Fatalf("prs %v: exit %d, want %d and %q\n%s", tc.args, code, exitUsageCode, tc.says, out)
		}
	}
	// Help and flag errors print the defaults, which come from the environment.
	for _, args := range [][]string{{"worker", "-h"}, {"submit", "--no-such-flag"}} {
		prs(append(byEnv, "PRS_NATS_TOKEN="+token, "PRS_NATS_URL=nats://by-url:"+urlPassword+"@"+host), args...)
	}

	b, err := os.ReadFile(workerLog)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{"prs's output": shown.String(), "the worker's output": string(b)}
	for name, content := range outputObjects(t, h, output) {
		places[output+"/"+name] = content
	}
	for name, content := range readTree(t, local) {
		places[local+"/"+name] = content
	}
	for key, value := range kvValues(t, "nats://by-url:"+urlPassword+"@"+host) {
		places["KV "+key] = value
	}
	if !strings.Contains(places["prs's output"], "xxxxx") || len(places) < 10 {
		t.Fatalf("the test saw too little: %d places\n%s", len(places), places["prs's output"])
	}
	for place, content := range places {
		for _, secret := range secrets {
			if strings.Contains(content, secret) {
				t.Errorf("%s shows the secret %q:\n%s", place, secret, tail(content, 2000))
			}
		}
	}
}

// newHarnessBucket is a harness with a bucket and no JetStream server of
// its own.
func newHarnessBucket(t *testing.T) *harness {
	return &harness{t: t, bucket: minio.NewBucket(t), state: t.TempDir()}
}

// closedAddr is "127.0.0.1:PORT" where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// outputObjects reads every object under an output URI.
func outputObjects(t *testing.T, h *harness, uri string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.Open(ctx, uri, h.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = st.List(ctx, "", func(o objstore.ObjectInfo) error {
		rc, err := st.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		out[o.Key] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readTree reads every file under dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, dir+"/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kvValues reads every key of the jobs bucket.
func kvValues(t *testing.T, url string) map[string]string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, contracts.JobBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Stop()
	out := map[string]string{}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(fmt.Errorf("%s: %w", k, err))
		}
		out[k] = string(e.Value())
	}
	return out
}
