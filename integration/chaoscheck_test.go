package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

// compare checks the chaos run against the calm one and logs the faults
// and the counts.
func (c *chaosJob) compare(calm, chaos *jobRun) {
	t := c.t
	t.Logf("calm run: %s in %s", c.summary(calm), calm.took.Round(time.Millisecond))
	t.Logf("chaos run: %s in %s", c.summary(chaos), chaos.took.Round(time.Millisecond))
	f := chaos.faults
	t.Logf("chaos faults: %d SIGKILLs of workers (each replaced), %d SIGSTOPs (worker %s with its scripts, for %s against an ack wait of %s, then SIGCONT), %d JetStream restarts, %d MinIO restarts",
		f.kills, f.stops, strings.Join(f.stoppedWorkers, ", "), 3*c.ackWait(), c.ackWait(), f.natsRestarts, f.minioRestarts)
	t.Logf("chaos effects: %s", c.effects(chaos))
	if f.kills == 0 || f.stops == 0 || f.natsRestarts == 0 || f.minioRestarts == 0 {
		t.Errorf("the job ended before every kind of fault was injected: %+v", f)
	}
	if chaos.st.State != calm.st.State {
		t.Fatalf("threshold decision: the chaos run ended %s (%s), the calm run %s (%s)", chaos.st.State, chaos.st.Reason, calm.st.State, calm.st.Reason)
	}
	if calm.st.State == contracts.StateFailed {
		want := fmt.Sprintf("exceed error_threshold %d", c.threshold)
		for _, r := range []*jobRun{calm, chaos} {
			if !strings.Contains(r.st.Reason, want) || r.c.ItemsFailed <= int64(c.threshold) {
				t.Errorf("%s run: reason %q, counters %+v; want %q", r.name, r.st.Reason, r.c, want)
			}
		}
		return
	}
	if chaos.st.Reason != calm.st.Reason {
		t.Errorf("reason: chaos %q, calm %q", chaos.st.Reason, calm.st.Reason)
	}
	c.exact(calm)
	c.exact(chaos)
	if chaos.c != calm.c {
		t.Errorf("counters: chaos %+v, calm %+v", chaos.c, calm.c)
	}
	for i := range calm.outcomes {
		a, b := calm.outcomes[i], chaos.outcomes[i]
		if a.OK != b.OK || a.Items != b.Items || a.Succeeded != b.Succeeded || a.Failed != b.Failed {
			t.Errorf("batch %d: chaos outcome %+v, calm %+v", i, b, a)
		}
	}
}

// exact checks a completed run against what the job must give: one row
// per successful item in order, none twice, none missing, and counters and
// outcomes that add up to exactly the items.
func (c *chaosJob) exact(r *jobRun) {
	t := c.t
	want := names(c.form.items, func(n string) bool { return strings.HasSuffix(n, chaosFailSuffix) })
	failing := c.form.items - len(want)
	seen := map[string]int{}
	for _, row := range r.rows {
		seen[row]++
	}
	dup, missing := 0, 0
	for row, n := range seen {
		if n > 1 {
			dup += n - 1
			if dup <= 5 {
				t.Errorf("%s run: row %q appears %d times", r.name, row, n)
			}
		}
	}
	for _, n := range want {
		if seen[n] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("%s run: row %q is missing", r.name, n)
			}
		}
	}
	if dup > 0 || missing > 0 {
		t.Fatalf("%s run: %d rows, %d duplicated, %d missing (want %d)", r.name, len(r.rows), dup, missing, len(want))
	}
	sameRows(t, r.rows, want)
	total := int64((c.form.items + c.form.batch - 1) / c.form.batch)
	if r.st.TotalBatches != total || r.c.Done != total || r.c.ItemsSucceeded != int64(len(want)) ||
		r.c.ItemsFailed != int64(failing) || r.c.FailedBatches != int64(failing) || r.c.Retried != 0 {
		t.Errorf("%s run: total %d, counters %+v; want %d done, %d items succeeded, %d failed in %d failed batches, none retried",
			r.name, r.st.TotalBatches, r.c, total, len(want), failing, failing)
	}
	var sum contracts.Counters
	for i, o := range r.outcomes {
		if o.Index != int64(i) {
			t.Errorf("%s run: batch %d has no outcome", r.name, i)
			continue
		}
		sum.Done++
		sum.ItemsSucceeded += int64(o.Succeeded)
		sum.ItemsFailed += int64(o.Failed)
		if !o.OK {
			sum.FailedBatches++
		}
	}
	sum.Retried = r.c.Retried
	if sum != r.c {
		t.Errorf("%s run: the outcomes add up to %+v, the counters say %+v", r.name, sum, r.c)
	}
}

func (c *chaosJob) ackWait() time.Duration {
	d, _ := time.ParseDuration(c.h.ackWait)
	return d
}

// summary is a run's end in one line.
func (c *chaosJob) summary(r *jobRun) string {
	return fmt.Sprintf("job %s, %d items in %d mini-batches of %d, error_threshold %d: %s (%s); %d done, %d items succeeded, %d failed, %d failed mini-batches, %d retried; %d rows in the final file",
		r.id, c.form.items, r.st.TotalBatches, c.form.batch, c.threshold, r.st.State, r.st.Reason,
		r.c.Done, r.c.ItemsSucceeded, r.c.ItemsFailed, r.c.FailedBatches, r.c.Retried, len(r.rows))
}

// effects tells what the faults did: run() calls beyond one per batch,
// outcomes counted from a later try, attempts whose rows were superseded,
// and the late attempts of the stopped workers.
func (c *chaosJob) effects(r *jobRun) string {
	calls, batches := 0, map[int]int{}
	pidOf := map[string]string{}
	for pid, name := range r.workers {
		pidOf[name] = strconv.Itoa(pid)
	}
	stopped := map[string]string{} // pid -> name
	for _, name := range r.faults.stoppedWorkers {
		stopped[pidOf[name]] = name
	}
	late, lateCounted := 0, 0
	for _, line := range r.runs {
		fs := strings.Fields(line)
		if len(fs) != 3 || fs[0] != "start" {
			continue
		}
		calls++
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(fs[2], "f"), ".txt"))
		if err != nil {
			continue
		}
		i := n / c.form.batch
		batches[i]++
		if name, ok := stopped[fs[1]]; ok && i < len(r.outcomes) {
			if r.outcomes[i].Worker == name {
				lateCounted++
			} else {
				late++
			}
		}
	}
	laterTry, maxTry := 0, 0
	for _, o := range r.outcomes {
		if o.Attempt > 1 {
			laterTry++
		}
		maxTry = max(maxTry, o.Attempt)
	}
	superseded := c.superseded(r)
	return fmt.Sprintf("%d run() calls for %d mini-batches (%d runs of a redelivered batch), %d outcomes counted from a later delivery (highest try %d), %d attempts' rows left uncounted (another delivery's outcome won); run() calls of the stopped workers: %d late (their batch counted from another delivery), %d counted",
		calls, len(batches), calls-len(batches), laterTry, maxTry, superseded, late, lateCounted)
}

// superseded counts the rows objects of the job that no outcome names:
// attempts that a redelivery (or a late worker) lost the race for.
func (c *chaosJob) superseded(r *jobRun) int {
	ctx := context.Background()
	job, err := c.h.ledger.Job(ctx, r.id)
	if err != nil {
		c.t.Error(err)
		return -1
	}
	s, err := objstore.Open(ctx, job.Staging, c.h.s3Options())
	if err != nil {
		c.t.Error(err)
		return -1
	}
	counted := map[string]bool{}
	for _, o := range r.outcomes {
		counted[o.ResultKey] = true
	}
	n := 0
	err = s.List(ctx, "results/", func(o objstore.ObjectInfo) error {
		if !counted[o.Key] {
			n++
		}
		return nil
	})
	if err != nil {
		c.t.Error(err)
	}
	return n
}

// uploadMany puts n small files under prefix (names f00000.txt and on, each
// holding its number) in one request: a tar archive that MinIO unpacks
// (its Snowball auto-extract), far cheaper than n PUTs.
func (h *harness) uploadMany(prefix string, n int) {
	h.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range n {
		body := strconv.Itoa(i)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/f%05d.txt", prefix, i), Mode: 0o644, Size: int64(len(body))}); err != nil {
			h.t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		h.t.Fatal(err)
	}
	srv := h.s3srv()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.Endpoint()), UsePathStyle: true, Region: miniotest.Region,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey(), srv.SecretKey(), ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(h.bucket), Key: aws.String(prefix + ".tar"), Body: bytes.NewReader(buf.Bytes()),
		Metadata: map[string]string{"Snowball-Auto-Extract": "true", "Minio-Snowball-Ignore-Dirs": "true"},
	})
	if err != nil {
		h.t.Fatalf("uploading %d files as one archive: %v", n, err)
	}
	// Every file is there, as itself.
	s, err := objstore.Open(ctx, h.s3(prefix), h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	got := 0
	if err := s.List(ctx, "", func(objstore.ObjectInfo) error { got++; return nil }); err != nil {
		h.t.Fatal(err)
	}
	if body, _ := h.read(h.s3(prefix), fmt.Sprintf("f%05d.txt", n-1)); got != n || body != strconv.Itoa(n-1) {
		h.t.Fatalf("the archive gave %d objects (want %d); the last holds %q", got, n, body)
	}
}
