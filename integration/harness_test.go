// Package integration runs prs end to end: the built binary as worker and
// producer processes, a real MinIO process for S3, and a JetStream server
// that the tests can restart.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	prsfleet "github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

var (
	prsBin string
	minio  *miniotest.Server
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "prs-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	prsBin = filepath.Join(dir, "prs")
	build := exec.Command("go", "build", "-o", prsBin, "../cmd/prs")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building prs:", err)
		return 1
	}
	srv, stop, err := miniotest.StartMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	minio = srv
	return m.Run()
}

// harness is one test's world: a restartable JetStream server, a bucket,
// worker processes, and a ledger to watch jobs with.
type harness struct {
	t        testing.TB
	storeDir string
	port     int
	srv      *server.Server
	nc       *nats.Conn
	h        *broker.Handles
	ledger   *ledger.Ledger
	bucket   string
	state    string // the script's marker files
	ackWait  string
	natsURLs string // a cluster's client URLs, comma-separated (cluster_test.go)
	mio      *miniotest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, minio)
}

// newHarnessOn is newHarness on a MinIO server of its own, such as one the
// test restarts.
func newHarnessOn(t *testing.T, mio *miniotest.Server) *harness {
	t.Helper()
	return newHarnessOnPort(t, mio, freePort(t))
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newHarnessOnPort is newHarnessOn with its NATS server on port (known
// before MinIO starts, to publish its bucket events there).
func newHarnessOnPort(t testing.TB, mio *miniotest.Server, port int) *harness {
	t.Helper()
	h := &harness{t: t, storeDir: t.TempDir(), port: port, bucket: mio.NewBucket(t), state: t.TempDir(), ackWait: "2s", mio: mio}
	h.startNATS()
	t.Cleanup(func() {
		if h.srv != nil {
			h.srv.Shutdown()
			h.srv.WaitForShutdown()
		}
	})
	h.connect(broker.SetupConfig{AckWait: 2 * time.Second})
	return h
}

// connect connects the test to JetStream, sets it up with cfg and opens
// the ledger it watches jobs with (prsfleet.Open).
func (h *harness) connect(cfg broker.SetupConfig) {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := prsfleet.Open(ctx, prsfleet.Config{
		Broker: broker.OpenConfig{Connect: broker.ConnectConfig{URL: h.url()}, Setup: cfg},
		Stores: h.s3Options(), Worker: "test", Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	h.nc, h.h, h.ledger = f.Conn, f.Handles, f.Ledger
}

// url is the NATS URL of prs processes: the harness's server, or the
// nodes of a cluster (natsURLs).
func (h *harness) url() string {
	if h.natsURLs != "" {
		return h.natsURLs
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", h.port)
}

func (h *harness) startNATS() {
	h.t.Helper()
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: h.storeDir, Port: h.port})
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv = srv
}

// restartNATS stops the JetStream server and starts it again on the same
// port and store after down.
func (h *harness) restartNATS(down time.Duration) {
	h.t.Helper()
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
	h.srv = nil
	time.Sleep(down)
	h.startNATS()
}

// s3srv is the harness's MinIO server: its own, or the one of the package.
func (h *harness) s3srv() *miniotest.Server {
	if h.mio != nil {
		return h.mio
	}
	return minio
}

func (h *harness) s3Options() objstore.Options {
	return objstore.Options{S3Endpoint: h.s3srv().Endpoint(), AccessKey: h.s3srv().AccessKey(), SecretKey: h.s3srv().SecretKey(), Logger: quiet()}
}

func (h *harness) s3(prefix string) string { return "s3://" + h.bucket + "/" + prefix }

// env is the environment of prs processes: S3 credentials and endpoint.
func (h *harness) env() []string {
	return append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+h.s3srv().AccessKey(), "AWS_SECRET_ACCESS_KEY="+h.s3srv().SecretKey(),
		"AWS_REGION=us-east-1", "PRS_S3_ENDPOINT="+h.s3srv().Endpoint(), "PRS_NATS_URL="+h.url(),
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// upload puts n small files under prefix; names are f00000.txt and on.
func (h *harness) upload(prefix string, n int) {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), h.s3(prefix), h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := s.Put(context.Background(), fmt.Sprintf("f%05d.txt", i), strings.NewReader(fmt.Sprint(i))); err != nil {
			h.t.Fatal(err)
		}
	}
}

// putFile uploads a local file to key in the test bucket.
func (h *harness) putFile(key, path string) {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), h.s3(""), h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if err := s.Put(context.Background(), key, f); err != nil {
		h.t.Fatal(err)
	}
}

// proc is a prs process.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// worker starts a `prs worker` process.
func (h *harness) worker(slots int) *proc {
	h.t.Helper()
	return h.workerArgs(slots)
}

// workerArgs starts a `prs worker` process with more flags.
func (h *harness) workerArgs(slots int, args ...string) *proc {
	h.t.Helper()
	log := filepath.Join(h.t.TempDir(), "worker.log")
	f, err := os.Create(log)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(prsBin, append([]string{"worker", "--slots", fmt.Sprint(slots), "--ack-wait", h.ackWait, "--drain-timeout", "5s"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = h.env(), f, f
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	h.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if h.t.Failed() {
			b, _ := os.ReadFile(log)
			h.t.Logf("worker log (%s):\n%s", log, tail(string(b), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// prs runs a prs command to its end and returns its output and exit code.
func (h *harness) prs(timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	return h.prsEnv(timeout, nil, args...)
}

// prsEnv is prs with extra environment variables.
func (h *harness) prsEnv(timeout time.Duration, env []string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, args...)
	cmd.Env = append(h.env(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code == -1 {
		h.t.Fatalf("prs %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String(), code
}

// submit publishes a job with the integration script and returns its id.
func (h *harness) submit(input, output string, flags []string, scriptArgs ...string) string {
	h.t.Helper()
	args := append([]string{"submit", "--ack-wait", h.ackWait, "--input", input, "--output", output,
		"--entry-script", "testdata/score.py", "--allow-reuse=false"}, flags...)
	args = append(args, "--")
	args = append(args, append([]string{"--state", h.state}, scriptArgs...)...)
	out, errOut, code := h.prs(60*time.Second, args...)
	if code != 0 {
		h.t.Fatalf("prs submit exited %d:\n%s%s", code, out, errOut)
	}
	return jobID(h.t, out)
}

func jobID(t testing.TB, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(line, "job "); ok && !strings.Contains(id, " ") {
			return id
		}
	}
	t.Fatalf("no job id in %q", out)
	return ""
}

// wait follows a job to its end.
func (h *harness) wait(id string, timeout time.Duration) (contracts.JobState, contracts.Counters) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := h.ledger.Follow(ctx, id, 50*time.Millisecond, nil)
	if err != nil {
		c, _ := h.h.ReadCounters(context.Background(), id)
		h.t.Fatalf("job %s did not end in %s: state %+v counters %+v", id, timeout, st, c)
	}
	var c contracts.Counters
	for i := 0; ; i++ {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second) // a request lost with a stopped server ends
		c, err = h.h.ReadCounters(rctx, id)
		rcancel()
		if err == nil || i == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return st, c
}

// read returns an object's content ("" and false when it is absent).
func (h *harness) read(uri, key string) (string, bool) {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), uri, h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		return "", false
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b), true
}

// rows reads the final file's lines.
func (h *harness) rows(output string) []string {
	h.t.Helper()
	s, ok := h.read(output, "parallel_run_step.txt")
	if !ok {
		h.t.Fatalf("no parallel_run_step.txt under %s", output)
	}
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// lines reads one of the script's marker logs.
func (h *harness) lines(name string) []string {
	b, err := os.ReadFile(filepath.Join(h.state, name))
	if err != nil {
		return nil
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func names(n int, skip func(string) bool) []string {
	var out []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%05d.txt", i)
		if skip == nil || !skip(name) {
			out = append(out, name)
		}
	}
	return out
}

func sameRows(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
}
