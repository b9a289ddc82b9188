package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// statusWindow is one window of prs status --watch --json.
type statusWindow struct {
	contracts.WindowRecord
	State    contracts.JobState `json:"state"`
	Counters contracts.Counters `json:"counters"`
}

// A watch that runs for months makes a job per window: past --job-retention
// the sweep of the watch's own worker removes each window job's per-batch
// records (outcomes, deliveries, counters) and staged rows, and prs status
// --watch still lists every window with its counts, from the summary its
// state keeps; the windows' final files stay.
func TestWatchWindowsExpireAndStayListed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &localWatchStore{t: t, in: filepath.Join(dir, "in"), out: filepath.Join(dir, "out")}
	if err := os.Mkdir(s.in, 0o755); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PRS_NATS_URL=") {
			env = append(env, e)
		}
	}
	p := startWatch(t, env, "--input", s.in, "--output", s.out, "--job-retention", "2s")
	url := p.natsURL(t)
	waitFor(t, 30*time.Second, "prs watch to lead", func() bool { return strings.Contains(p.logText(), "leading the new watch") })
	var want []string
	for i := range 7 { // --window-files 5: two windows at least
		s.put(fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("f%02d-v1", i))
		want = append(want, fmt.Sprintf("f%02d.txt,f%02d-v1", i, i))
	}
	var wins []statusWindow
	waitFor(t, 180*time.Second, "every window to complete and its records to expire", func() bool {
		var ok bool
		if wins, ok = statusWindows(t, env, url); !ok || len(wins) < 2 {
			return false
		}
		var items int64
		for _, w := range wins {
			if w.State.State != contracts.StateCompleted || w.State.Expired.IsZero() || w.State.Counts == nil {
				return false
			}
			items += w.Counters.ItemsSucceeded
		}
		return items == int64(len(want))
	})
	got := s.rows()
	slices.Sort(got)
	sameRows(t, got, want)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wins {
		if n := subjectMsgs(t, js, "KV_"+contracts.JobBucket, "$KV."+contracts.JobBucket+".job."+w.JobID+".>"); n != 2 {
			t.Errorf("window job %s keeps %d records in %s, want 2 (its record and state)", w.JobID, n, contracts.JobBucket)
		}
		if n := subjectMsgs(t, js, contracts.CounterStream, contracts.CounterSubject(w.JobID, ">")); n != 0 {
			t.Errorf("window job %s keeps %d counters", w.JobID, n)
		}
		if w.Counters.Done != w.State.TotalBatches || w.Counters.Done == 0 {
			t.Errorf("window job %s: counters %+v from its summary, %d mini-batches", w.JobID, w.Counters, w.State.TotalBatches)
		}
	}
	staged, _ := filepath.Glob(filepath.Join(s.out, "w", "*", ".prs", "*", "results"))
	if len(staged) > 0 {
		t.Errorf("staged rows stay after the windows ended: %q", staged)
	}

	// The table lists every window, its counts from the summary.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "status", "--nats", url, "--watch", "w")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prs status --watch w: %v\n%s", err, out)
	}
	for _, w := range wins {
		line := ""
		for l := range strings.Lines(string(out)) {
			if strings.Contains(l, w.JobID) {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) < 6 || f[2] != contracts.StateCompleted || f[5] != fmt.Sprint(w.Counters.ItemsSucceeded) {
			t.Fatalf("prs status --watch w lists window %s as %q:\n%s", w.JobID, line, out)
		}
	}
}

// statusWindows reads prs status --watch w --json from the server at url.
func statusWindows(t *testing.T, env []string, url string) ([]statusWindow, bool) {
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
	var wins []statusWindow
	if err := json.Unmarshal(out.Bytes(), &wins); err != nil {
		t.Fatalf("prs status --watch --json: %v: %s", err, out.String())
	}
	return wins, true
}

// subjectMsgs counts the messages of stream under subject.
func subjectMsgs(t *testing.T, js jetstream.JetStream, stream, subject string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
