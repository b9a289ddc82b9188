package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

// watchStore is where a watch test puts its files and finds its rows.
type watchStore interface {
	put(key, content string)
	del(key string)
	// rows returns the rows of every window's final file.
	rows() []string
}

// localWatchStore is a local input folder and output folder.
type localWatchStore struct {
	t       *testing.T
	in, out string
}

func (s *localWatchStore) put(key, content string) {
	s.t.Helper()
	// Write then rename, as an upload lands: never a half-written file.
	tmp := filepath.Join(s.t.TempDir(), "f")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.in, key)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *localWatchStore) del(key string) {
	if err := os.Remove(filepath.Join(s.in, key)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *localWatchStore) rows() []string {
	files, _ := filepath.Glob(filepath.Join(s.out, "w", "*", "parallel_run_step.txt"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, splitRows(string(b))...)
	}
	return out
}

func splitRows(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// s3WatchStore is an input and an output in the test's bucket.
type s3WatchStore struct {
	h       *harness
	in, out objstore.Store
}

func newS3WatchStore(h *harness) *s3WatchStore {
	in, err := objstore.Open(context.Background(), h.s3("in"), h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := objstore.Open(context.Background(), h.s3("out/w"), h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	return &s3WatchStore{h: h, in: in, out: out}
}

func (s *s3WatchStore) put(key, content string) {
	s.h.t.Helper()
	if err := s.in.Put(context.Background(), key, strings.NewReader(content)); err != nil {
		s.h.t.Fatal(err)
	}
}

func (s *s3WatchStore) del(key string) {
	if err := s.in.Delete(context.Background(), key); err != nil {
		s.h.t.Fatal(err)
	}
}

func (s *s3WatchStore) rows() []string {
	ctx := context.Background()
	var keys []string
	_ = s.out.List(ctx, "", func(o objstore.ObjectInfo) error {
		if strings.HasSuffix(o.Key, "/parallel_run_step.txt") && !strings.Contains(o.Key, "/.prs/") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	var out []string
	for _, k := range keys {
		rc, err := s.out.Get(ctx, k)
		if err != nil {
			s.h.t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, splitRows(string(b))...)
	}
	return out
}

// watchProc is a running prs watch.
type watchProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startWatch starts prs watch with the watch tests' settings.
func startWatch(t testing.TB, env []string, args ...string) *watchProc {
	t.Helper()
	log := filepath.Join(t.TempDir(), "watch.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"watch", "--name", "w", "--entry-script", "testdata/content.py", "--mini-batch-size", "2",
		"--window", "1s", "--window-files", "5", "--lease", "2s", "--ack-wait", "2s", "--list-interval", "200ms",
		"--full-listing-every", "2", "--log-level", "DEBUG"}
	cmd := exec.Command(prsBin, append(base, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &watchProc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("prs watch log (%s):\n%s", log, tail(string(b), 6000))
		}
	})
	return p
}

func (p *watchProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *watchProc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

var natsLine = regexp.MustCompile(`watch w on nats (\S+)`)

// natsURL waits for the embedded server's URL in the watch's output.
func (p *watchProc) natsURL(t *testing.T) string {
	t.Helper()
	var url string
	waitFor(t, 30*time.Second, "prs watch to print its NATS URL", func() bool {
		m := natsLine.FindStringSubmatch(p.logText())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return url
}

// waitFor waits until cond holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchWindows reads prs status --watch w --json from the server at url.
func watchWindows(t *testing.T, env []string, url string) ([]contracts.JobState, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "status", "--nats", url, "--watch", "w", "--json")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return nil, false
	}
	var wins []struct {
		State contracts.JobState `json:"state"`
	}
	if err := json.Unmarshal(out.Bytes(), &wins); err != nil {
		t.Fatalf("prs status --watch --json: %v: %s", err, out.String())
	}
	var sts []contracts.JobState
	for _, w := range wins {
		sts = append(sts, w.State)
	}
	return sts, true
}

// watchScenario uploads files over time, some twice with the same
// content, some overwritten with new content, one deleted; prs watch is
// killed with SIGKILL mid-way and started again. Every version is scored
// exactly once: the rows of every window, one by one, are the versions.
// start starts prs watch; url tells where prs status finds it.
// outage, when not nil, runs after the restart with a put of its own.
// standbys replicas more run from the start: the killed leader's successor
// is one of them or the restarted one.
func watchScenario(t *testing.T, s watchStore, env []string, start func() *watchProc, url func(*watchProc) string, outage func(put func(key, c string)), standbys int) {
	var want []string
	content := map[string]string{}
	put := func(key, c string) {
		s.put(key, c)
		if content[key] != c {
			want = append(want, key+","+c)
		}
		content[key] = c
	}
	var missing []string
	covered := func() bool {
		got := map[string]bool{}
		for _, r := range s.rows() {
			got[r] = true
		}
		missing = missing[:0]
		for _, w := range want {
			if !got[w] {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rows missing: %q", missing)
		}
	})
	p := start()
	// A store only publishes the events of a bucket once it is subscribed.
	waitFor(t, 30*time.Second, "prs watch to lead", func() bool { return strings.Contains(p.logText(), "leading the new watch") })
	live := []*watchProc{}
	for range standbys {
		sb := start()
		waitFor(t, 30*time.Second, "a standby replica", func() bool { return strings.Contains(sb.logText(), "standing by") })
		live = append(live, sb)
	}
	for i := 0; i < 8; i++ {
		put(fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("f%02d-v1", i))
	}
	waitFor(t, 90*time.Second, "the first files' rows", covered)

	// The same content again, new content, a deletion and new files; the
	// watch is killed while they are taken.
	opened := strings.Count(p.logText(), "window opened")
	put("f00.txt", "f00-v1")
	put("f01.txt", "f01-v1")
	put("f02.txt", "f02-v2")
	put("f03.txt", "f03-v2")
	s.del("f04.txt")
	for i := 8; i < 14; i++ {
		put(fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("f%02d-v1", i))
	}
	waitFor(t, 60*time.Second, "a window to open after the first ones", func() bool {
		return strings.Count(p.logText(), "window opened") > opened
	})
	p.kill()

	p = start()
	live = append(live, p)
	waitFor(t, 60*time.Second, "another replica to lead", func() bool {
		for _, q := range live {
			if strings.Contains(q.logText(), "leading the watch") {
				return true
			}
		}
		return false
	})
	for i := 14; i < 18; i++ {
		put(fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("f%02d-v1", i))
	}
	put("f05.txt", "f05-v2")
	if outage != nil {
		// Every event so far delivered: what the store queues in the
		// outage is the outage's own.
		waitFor(t, 120*time.Second, "the rows before the outage", covered)
		outage(put)
	}
	waitFor(t, 120*time.Second, "every version's row", covered)
	// Every window ends (a duplicate would be a row in one of them).
	u := url(p)
	waitFor(t, 60*time.Second, "every window to complete", func() bool {
		sts, ok := watchWindows(t, env, u)
		if !ok || len(sts) == 0 {
			return false
		}
		for _, st := range sts {
			if st.State != contracts.StateCompleted || !st.Sealed {
				return false
			}
		}
		return covered()
	})
	got := s.rows()
	slices.Sort(got)
	slices.Sort(want)
	sameRows(t, got, want)
}

// prs watch on a local folder, with the embedded server and workers in
// its process (--state-dir keeps what it scored across the restart).
func TestWatchLocalFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &localWatchStore{t: t, in: filepath.Join(dir, "in"), out: filepath.Join(dir, "out")}
	if err := os.Mkdir(s.in, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PRS_NATS_URL=") {
			env = append(env, e)
		}
	}
	start := func() *watchProc {
		return startWatch(t, env, "--input", s.in, "--output", s.out, "--state-dir", state)
	}
	watchScenario(t, s, env, start, func(p *watchProc) string { return p.natsURL(t) }, nil, 0)
}

// prs watch listing an S3 input in MinIO (no notifications), with the
// test's NATS server and a worker process; a second replica stands by.
func TestWatchS3Listing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.worker(2)
	s := newS3WatchStore(h)
	s.put("README", "") // the bucket's input folder exists; include leaves it out
	start := func() *watchProc {
		return startWatch(t, h.env(), "--input", h.s3("in"), "--output", h.s3("out"), "--include", "*.txt")
	}
	watchScenario(t, s, h.env(), start, func(*watchProc) string { return h.url() }, nil, 1)
}

// prs watch taking the bucket notifications that MinIO publishes into the
// test's NATS server with JetStream (prs watch --setup subscribes the
// bucket). Besides the scenario's duplicates, overwrites, deletion and
// SIGKILL, NATS goes down while files are uploaded (MinIO queues their
// events on disk), MinIO is restarted with the events queued, and NATS
// comes back: MinIO delivers the queued events, each version is scored
// once.
func TestWatchMinIOEvents(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	qdir := t.TempDir()
	m := miniotest.StartEnv(t,
		"MINIO_NOTIFY_NATS_ENABLE_PRS=on",
		fmt.Sprintf("MINIO_NOTIFY_NATS_ADDRESS_PRS=127.0.0.1:%d", port),
		"MINIO_NOTIFY_NATS_SUBJECT_PRS=prs.events.w",
		"MINIO_NOTIFY_NATS_JETSTREAM_PRS=on",
		"MINIO_NOTIFY_NATS_QUEUE_DIR_PRS="+qdir,
	)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(m.LogPath())
			t.Logf("MinIO log:\n%s", tail(string(b), 4000))
		}
	})
	h := newHarnessOnPort(t, m, port)
	h.worker(2)
	s := newS3WatchStore(h)
	s.put("README", "") // the input folder exists; include leaves it out
	start := func() *watchProc {
		return startWatch(t, h.env(), "--input", h.s3("in"), "--output", h.s3("out"), "--include", "*.txt",
			"--source", "events", "--setup", "--setup-arn", "arn:minio:sqs::PRS:nats")
	}
	outage := func(put func(key, c string)) {
		h.srv.Shutdown()
		h.srv.WaitForShutdown()
		for i := 18; i < 22; i++ {
			put(fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("f%02d-v1", i))
		}
		put("f06.txt", "f06-v2")
		// MinIO queues an event on disk after the upload's answer (a file
		// made, then written): restart it once the five events are queued.
		waitFor(t, 30*time.Second, "MinIO to queue the events", func() bool {
			ents, _ := os.ReadDir(filepath.Join(qdir, "minio-nats-PRS"))
			n := 0
			for _, e := range ents {
				if fi, err := e.Info(); err == nil && fi.Size() > 0 {
					n++
				}
			}
			return n >= 5
		})
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
		h.startNATS()
	}
	watchScenario(t, s, h.env(), start, func(*watchProc) string { return h.url() }, outage, 0)
}
