package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// readmePermissions is the nats-server configuration block of README's
// "NATS permissions" section, the one users paste.
func readmePermissions(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### NATS permissions\n")
	if !ok {
		t.Fatal("README has no NATS permissions section")
	}
	_, block, ok := strings.Cut(sec, "\n```conf\n")
	if !ok {
		t.Fatal("README's NATS permissions section has no conf block")
	}
	block, _, _ = strings.Cut(block, "\n```\n")
	return block
}

// TestNATSLeastPrivilege runs a fleet under README's permission block: an
// admin creates the streams, a worker and a producer holding only their
// permissions run, fail, cancel and inspect jobs without one refused
// subject; then the worker's and the producer's identities try more (delete
// or purge a stream, publish a mini-batch, rewrite a job's spec, pull work
// as a producer, ...) and the server refuses each.
func TestNATSLeastPrivilege(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(readmePermissions(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("README's configuration does not load: %v", err)
	}
	slog := &serverLog{}
	s := startAuthServer(t, opts, slog)
	url := s.ClientURL()
	as := func(user string) []string {
		return []string{"--nats", url, "--nats-user", "prs-" + user, "--nats-password", "change-me-" + user}
	}
	h := &harness{t: t, state: t.TempDir()}
	prsAs := func(user string, args ...string) (string, string, int) {
		t.Helper()
		i := slices.Index(args, "--")
		if i < 0 {
			i = len(args)
		}
		all := append(append(append([]string{}, args[:i]...), as(user)...), args[i:]...)
		return h.prs(2*time.Minute, all...)
	}

	if out, errOut, code := prsAs("admin", "status", "--ack-wait", "3s"); code != 0 {
		t.Fatalf("admin setup: exit %d\n%s%s", code, out, errOut)
	}
	startWorkerAs(t, h, as("worker"))
	in := t.TempDir()
	for i := 0; i < 6; i++ {
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("f%05d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	job := func(wait bool, flags ...string) []string {
		args := []string{"submit", "--input", in, "--output", t.TempDir(), "--entry-script", "testdata/score.py",
			"--mini-batch-size", "1", "--allow-reuse=false", fmt.Sprintf("--wait=%v", wait)}
		return append(append(args, flags...), "--", "--state", h.state)
	}

	out, errOut, code := prsAs("producer", job(true)...)
	if code != 0 || !strings.Contains(out, "Completed") || !strings.Contains(out, "items: 6 succeeded, 0 failed") {
		t.Fatalf("a job under least privilege: exit %d\n%s%s", code, out, errOut)
	}
	done := jobID(t, out)
	// A threshold: the worker fails the job and purges its mini-batches.
	out, errOut, code = prsAs("producer", append(job(true, "--allowed-failed-count", "0"), "--mode", "always-fail")...)
	if code != 1 || !strings.Contains(out, "Failed") || !strings.Contains(out, "allowed_failed_count") {
		t.Fatalf("a failing job: exit %d\n%s%s", code, out, errOut)
	}
	failedJob := jobID(t, out)
	// A cancel: the producer stops the job and purges its mini-batches.
	out, errOut, code = prsAs("producer", append(job(false), "--sleep", "0.5")...)
	if code != 0 {
		t.Fatalf("submit: exit %d\n%s%s", code, out, errOut)
	}
	cancelled := jobID(t, out)
	if out, errOut, code := prsAs("producer", "cancel", cancelled); code != 0 {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, errOut)
	}
	// A resume: the producer purges a running job's queued mini-batches,
	// noting the deliveries of those workers had taken, and publishes the
	// unfinished ones again.
	resumeOut := t.TempDir()
	resumeArgs := func(wait bool, flags ...string) []string {
		args := []string{"submit", "--input", in, "--output", resumeOut, "--entry-script", "testdata/score.py",
			"--mini-batch-size", "1", "--allow-reuse=false", fmt.Sprintf("--wait=%v", wait)}
		return append(append(args, flags...), "--", "--state", h.state, "--sleep", "0.3")
	}
	out, errOut, code = prsAs("producer", resumeArgs(false)...)
	if code != 0 {
		t.Fatalf("submit: exit %d\n%s%s", code, out, errOut)
	}
	resumed := jobID(t, out)
	out, errOut, code = prsAs("producer", resumeArgs(true, "--job-id", resumed)...)
	if code != 0 || !strings.Contains(out, "Completed") || !strings.Contains(out, "items: 6 succeeded, 0 failed") {
		t.Fatalf("resuming a job under least privilege: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"status"}, {"status", done}, {"status", "--json", cancelled}, {"logs", done}} {
		if out, errOut, code := prsAs("producer", args...); code != 0 {
			t.Fatalf("prs %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if v := slog.matching("Violation"); len(v) > 0 {
		t.Fatalf("prs hit subjects README's permissions refuse:\n%s", strings.Join(v, "\n"))
	}

	// The worker's identity may do no more than its list.
	refused(t, url, "prs-worker", "change-me-worker", map[string]func(context.Context, jetstream.JetStream, *nats.Conn) error{
		`Publish to "$JS.API.STREAM.DELETE.PRS_BATCHES"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			return js.DeleteStream(ctx, contracts.BatchStream)
		},
		`Publish to "$JS.API.STREAM.DELETE.KV_PRS_JOBS"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			return js.DeleteKeyValue(ctx, contracts.JobBucket)
		},
		`Publish to "$JS.API.STREAM.UPDATE.PRS_BATCHES"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			_, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: contracts.BatchStream, Subjects: []string{">"}})
			return err
		},
		`Publish to "$JS.API.STREAM.MSG.DELETE.PRS_COUNTERS"`: func(ctx context.Context, _ jetstream.JetStream, nc *nats.Conn) error {
			_, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE."+contracts.CounterStream, []byte(`{"seq":1}`))
			return err
		},
		`Publish to "prs.batch.` + done + `"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			_, err := js.Publish(ctx, contracts.BatchSubject(done), []byte(`{"job_id":"`+done+`"}`))
			return err
		},
		`Publish to "$KV.PRS_JOBS.` + contracts.JobKey(done) + `"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			kv, err := js.KeyValue(ctx, contracts.JobBucket)
			if err == nil {
				_, err = kv.Put(ctx, contracts.JobKey(done), []byte(`{"config":{"interpreter":"/bin/sh"}}`))
			}
			return err
		},
		`Publish to "$JS.API.CONSUMER.CREATE.PRS_BATCHES.thief"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			_, err := js.CreateConsumer(ctx, contracts.BatchStream, jetstream.ConsumerConfig{Name: "thief", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		},
		`Subscription to "prs.>"`: func(ctx context.Context, _ jetstream.JetStream, nc *nats.Conn) error {
			_, err := nc.SubscribeSync("prs.>")
			return err
		},
	})
	// The producer's identity cannot run mini-batches nor count.
	refused(t, url, "prs-producer", "change-me-producer", map[string]func(context.Context, jetstream.JetStream, *nats.Conn) error{
		`Publish to "$JS.API.CONSUMER.MSG.NEXT.PRS_BATCHES.prs-workers"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			c, err := js.Consumer(ctx, contracts.BatchStream, contracts.WorkerConsumer)
			if err == nil {
				_, err = c.Next(jetstream.FetchContext(ctx))
			}
			return err
		},
		`Publish to "prs.count.` + done + `.done"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			_, err := js.Publish(ctx, contracts.CounterSubject(done, contracts.CounterDone), nil)
			return err
		},
		`Publish to "$JS.API.STREAM.DELETE.PRS_COUNTERS"`: func(ctx context.Context, js jetstream.JetStream, _ *nats.Conn) error {
			return js.DeleteStream(ctx, contracts.CounterStream)
		},
	})

	// Nothing changed: prs's streams, bucket and consumer are all there,
	// and the done job's spec is the producer's.
	if out, errOut, code := prsAs("producer", "status", done); code != 0 || !strings.Contains(out, "Completed") {
		t.Fatalf("after the refused tries: exit %d\n%s%s", code, out, errOut)
	}
	acct, err := s.JszAccount(&server.JSzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Streams: true, Consumer: true})
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string]server.StreamDetail{}
	for _, sd := range acct.Streams {
		streams[sd.Name] = sd
	}
	for _, name := range []string{contracts.BatchStream, contracts.CounterStream, "KV_" + contracts.JobBucket} {
		if _, ok := streams[name]; !ok {
			t.Fatalf("stream %s is gone: %v", name, acct.Streams)
		}
	}
	var consumers []string
	for _, ci := range streams[contracts.BatchStream].Consumer {
		consumers = append(consumers, ci.Name)
	}
	if !slices.Equal(consumers, []string{contracts.WorkerConsumer}) {
		t.Fatalf("consumers of %s: %v", contracts.BatchStream, consumers)
	}
	if streams[contracts.CounterStream].State.Msgs == 0 {
		t.Fatal("the counters were purged")
	}

	// The retention sweep under the worker's permissions: a worker with a
	// short retention removes the ended jobs' per-batch records, and the
	// producer still lists and describes them.
	refusedSoFar := len(slog.matching("Violation")) // the tries above
	startWorkerAs(t, h, append(as("worker"), "--job-retention", "1s"))
	eventually(t, time.Minute, "the done job's records to expire", func() bool {
		out, _, code := prsAs("producer", "status", "--json", done)
		return code == 0 && strings.Contains(out, `"expired"`)
	})
	out, errOut, code = prsAs("producer", "status", done)
	if code != 0 || !strings.Contains(out, "Completed") || !strings.Contains(out, "6 succeeded") {
		t.Fatalf("status of an expired job: exit %d\n%s%s", code, out, errOut)
	}
	eventually(t, time.Minute, "the failed job's records to expire", func() bool {
		out, _, code := prsAs("producer", "status", failedJob)
		return code == 0 && strings.Contains(out, "Failed") && strings.Contains(out, "failed mini-batches: ") && strings.Contains(out, " (their records expired on ")
	})
	if v := slog.matching("Violation")[refusedSoFar:]; len(v) > 0 {
		t.Fatalf("the sweep hit subjects README's permissions refuse:\n%s", strings.Join(v, "\n"))
	}
}

// refused runs each try as user and waits for the server to refuse each
// with a permissions violation naming the subject (the key of tries).
func refused(t *testing.T, url, user, password string, tries map[string]func(context.Context, jetstream.JetStream, *nats.Conn) error) {
	t.Helper()
	var mu sync.Mutex
	var violations []string
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			mu.Lock()
			violations = append(violations, err.Error())
			mu.Unlock()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// A refused request has no answer: each try ends at its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, try := range tries {
		wg.Go(func() { _ = try(ctx, js, nc) })
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for want := range tries {
		for {
			mu.Lock()
			seen := slices.ContainsFunc(violations, func(v string) bool { return strings.Contains(v, want) })
			all := strings.Join(violations, "\n")
			mu.Unlock()
			if seen {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not refused %s; refusals:\n%s", user, want, all)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// startWorkerAs starts `prs worker` with flags (and no --ack-wait: a
// worker must not need to change the consumer) and returns the file of its
// output; it is stopped when the test ends.
func startWorkerAs(t *testing.T, h *harness, flags []string) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "worker.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prsBin, append([]string{"worker", "--slots", "2", "--drain-timeout", "5s"}, flags...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = h.env(), f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("worker log:\n%s", tail(string(b), 4000))
		}
	})
	return log
}
