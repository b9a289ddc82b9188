package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/objstore"
)

// DefaultRetention is how long a finished job's per-batch records are kept
// when a worker is not told otherwise.
const DefaultRetention = 7 * 24 * time.Hour

// ErrExpired means a job's per-batch records were removed, its retention
// past: what needs them (writing its final file again) cannot be done.
var ErrExpired = errors.New("the job's per-batch records have expired")

// markEnded records that the job is ending, before the state change that
// ends it, so that the retention sweep finds it even when this process
// dies right after the change. A mark without an ended job is harmless:
// the sweep leaves it until the job ends.
func (l *Ledger) markEnded(ctx context.Context, id string) {
	if _, err := l.B.Jobs.PutString(ctx, contracts.EndedKey(id), time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		l.Log.Warn("marking the job ended for the retention sweep", "job", id, "err", err)
	}
}

// Counters returns a job's counters: the snapshot its state keeps once its
// per-batch records expired, else the counter stream's.
func (l *Ledger) Counters(ctx context.Context, id string, st contracts.JobState) (contracts.Counters, error) {
	if st.Counts != nil {
		return *st.Counts, nil
	}
	return l.B.ReadCounters(ctx, id)
}

// CleanStaging removes what the job staged under its .prs/<job>/ folder
// for the run alone (the rows of each attempt, the shipped source, model,
// labels and file lists), unless the job keeps it (keep_staging). It keeps
// logs/ (an earlier job's logs moved there). heartbeat, when not nil, is
// called every few seconds. Objects written after it (a late attempt)
// are removed by the retention sweep.
func (l *Ledger) CleanStaging(ctx context.Context, job *contracts.Job, heartbeat func()) (int, error) {
	if job.Config.KeepStaging || job.Staging == "" {
		return 0, nil
	}
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		return 0, err
	}
	var keys []string
	err = staging.List(ctx, "", func(o objstore.ObjectInfo) error {
		if !strings.HasPrefix(o.Key, "logs/") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cleaning the staging of job %s: %w", job.ID, err)
	}
	n, err := deleteAll(ctx, staging, keys, heartbeat)
	pruneLocalFolders(staging)
	if err != nil {
		return n, fmt.Errorf("cleaning the staging of job %s: %w", job.ID, err)
	}
	return n, nil
}

// cleanAfterEnd removes the staging of a job that has just ended, logging
// what it could not remove (the retention sweep tries again).
func (l *Ledger) cleanAfterEnd(ctx context.Context, job *contracts.Job, heartbeat func()) {
	n, err := l.CleanStaging(ctx, job, heartbeat)
	if err != nil {
		l.Log.Warn("removing the job's staged objects (the retention sweep tries again)", "job", job.ID, "err", err)
		return
	}
	if n > 0 {
		l.Log.Info("removed the job's staged objects", "job", job.ID, "objects", n, "staging", job.Staging)
	}
}

// deleteConcurrency bounds the deletes of a cleaning in flight.
const deleteConcurrency = 16

// deleteAll deletes keys with bounded concurrency and returns how many
// it deleted and the first error.
func deleteAll(ctx context.Context, s objstore.Store, keys []string, heartbeat func()) (int, error) {
	var (
		mu    sync.Mutex
		first error
		n     int
		wg    sync.WaitGroup
	)
	next := make(chan string)
	for range min(deleteConcurrency, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				err := s.Delete(ctx, k)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				} else if err == nil {
					n++
				}
				mu.Unlock()
			}
		}()
	}
	beat := time.Now()
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		next <- k
		if heartbeat != nil && time.Since(beat) > 2*time.Second {
			heartbeat()
			beat = time.Now()
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return n, first
}

// SweepStats says what a sweep did.
type SweepStats struct {
	// Expired counts the jobs whose per-batch records it removed.
	Expired int
	// Waiting counts the ended jobs still inside their retention.
	Waiting int
}

// Sweep removes the per-batch records of every job that ended more than
// retention ago: its outcomes, storage-error counts, isolation marks and
// finalize claim in the jobs bucket and its counters, each with one purge
// of the stream by subject (no delete marker is left), and what is left of
// its staging. The job's record and state stay, the state keeping a
// snapshot of the counters (Counts) and when they expired, so that prs
// status lists and describes it. It works from the ended marks, so a
// sweep reads only the jobs that still have records to remove, and the
// state of those alone whose mark is older than retention. A job it fails
// to sweep is tried again by the next sweep.
func (l *Ledger) Sweep(ctx context.Context, retention time.Duration) (SweepStats, error) {
	var stats SweepStats
	marks, err := l.endedMarks(ctx)
	if err != nil {
		return stats, err
	}
	var errs []error
	for id, marked := range marks {
		if time.Since(marked) < retention {
			stats.Waiting++ // it ended after its mark: its retention is not past
			continue
		}
		expired, err := l.expire(ctx, id, retention)
		switch {
		case err != nil:
			errs = append(errs, err)
		case expired:
			stats.Expired++
		default:
			stats.Waiting++
		}
	}
	return stats, errors.Join(errs...)
}

// endedMarks reads every ended mark (one pass of a watch over the marks
// alone) with the time it was written.
func (l *Ledger) endedMarks(ctx context.Context) (map[string]time.Time, error) {
	w, err := l.B.Jobs.Watch(ctx, contracts.EndedWatchPattern, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("retention sweep: reading the ended jobs: %w", err)
	}
	defer w.Stop()
	marks := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil { // every mark read
				return marks, nil
			}
			id := strings.TrimSuffix(strings.TrimPrefix(e.Key(), "job."), ".ended")
			t, err := time.Parse(time.RFC3339Nano, string(e.Value()))
			if err != nil {
				t = e.Created() // a mark of another form: when it was written
			}
			marks[id] = t
		}
	}
}

// expire removes one ended job's per-batch records when its retention is
// past, and reports whether it did. Its counters are kept in its state
// first; the job is marked Expired only once its records are gone, so that
// a sweep that cannot purge (a worker without the permissions) leaves the
// job as it was: rewritable, and not reported expired. Its ended mark goes
// last, so that a sweep cut short is done again by the next.
func (l *Ledger) expire(ctx context.Context, id string, retention time.Duration) (bool, error) {
	st, _, err := l.State(ctx, id)
	if err != nil && !errors.Is(err, broker.ErrNoJob) {
		return false, err
	}
	job := err == nil
	if job {
		ended := st.Finished
		if ended.IsZero() {
			ended = st.Updated
		}
		if !st.Terminal() || time.Since(ended) < retention {
			return false, nil
		}
		if err := l.keepCounts(ctx, id); err != nil {
			return false, err
		}
	}
	if err := l.purgeRecords(ctx, id); err != nil {
		return false, err
	}
	if job {
		if j, err := l.Job(ctx, id); err == nil {
			if _, err := l.CleanStaging(ctx, j, nil); err != nil {
				return false, err
			}
		}
		if err := l.markExpired(ctx, id); err != nil {
			return false, err
		}
	}
	if err := l.purge(ctx, l.jobsStream, "$KV."+contracts.JobBucket+"."+contracts.EndedKey(id), id); err != nil {
		return false, err
	}
	l.Log.Info("removed the per-batch records of a finished job, its retention past", "job", id, "retention", retention)
	return true, nil
}

// keepCounts keeps the job's counters in its state, once, before they are
// purged.
func (l *Ledger) keepCounts(ctx context.Context, id string) error {
	c, err := l.B.ReadCounters(ctx, id)
	if err != nil {
		return err
	}
	_, err = l.UpdateState(ctx, id, func(s *contracts.JobState) error {
		if s.Counts != nil {
			return ErrStateConflict // kept by an earlier sweep: the counters may be gone
		}
		s.Counts = &c
		return nil
	})
	if errors.Is(err, ErrStateConflict) {
		return nil
	}
	return err
}

// markExpired notes in the job's state when its records were removed.
func (l *Ledger) markExpired(ctx context.Context, id string) error {
	_, err := l.UpdateState(ctx, id, func(s *contracts.JobState) error {
		if !s.Expired.IsZero() {
			return ErrStateConflict
		}
		s.Expired = time.Now().UTC()
		return nil
	})
	if errors.Is(err, ErrStateConflict) {
		return nil
	}
	return err
}

// jobsStream is the KV bucket's stream of jobs.
func (l *Ledger) jobsStream(ctx context.Context) (jetstream.Stream, error) {
	return l.B.JS.Stream(ctx, "KV_"+contracts.JobBucket)
}

// purgeRecords purges the job's per-batch keys (job.ID.*.*), its finalize
// claim and its counters.
func (l *Ledger) purgeRecords(ctx context.Context, id string) error {
	pre := "$KV." + contracts.JobBucket + "."
	counters := func(context.Context) (jetstream.Stream, error) { return l.B.Counters, nil }
	for _, p := range []struct {
		stream  func(context.Context) (jetstream.Stream, error)
		subject string
	}{
		{l.jobsStream, pre + "job." + id + ".*.*"},
		{l.jobsStream, pre + contracts.FinalizeKey(id)},
		{counters, contracts.CounterSubject(id, ">")},
	} {
		if err := l.purge(ctx, p.stream, p.subject, id); err != nil {
			return err
		}
	}
	return nil
}

// purge removes the messages of one subject from a stream.
func (l *Ledger) purge(ctx context.Context, stream func(context.Context) (jetstream.Stream, error), subject, id string) error {
	s, err := stream(ctx)
	if err != nil {
		return fmt.Errorf("retention sweep of job %s: %w", id, err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("retention sweep of job %s: purging %s: %w", id, subject, err)
	}
	return nil
}

// pruneLocalFolders removes the folders a cleaning left empty under a
// local staging root (S3 has no folders); the root itself stays.
func pruneLocalFolders(s objstore.Store) {
	lp, ok := s.(objstore.LocalPather)
	if !ok {
		return
	}
	p, ok := lp.LocalPath("x")
	if !ok {
		return
	}
	root := filepath.Dir(p)
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path != root {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, as it should, on a folder that is not empty
	}
}

// MarkEndedJobs marks the ended jobs that have no mark and whose records
// have not expired: jobs that ended before prs marked them (an older
// version), so that the sweep finds them too. Each mark holds the job's
// end, from which its retention counts. It reads every job's state once;
// a worker calls it when it starts. It returns how many it marked.
func (l *Ledger) MarkEndedJobs(ctx context.Context) (int, error) {
	marks, err := l.endedMarks(ctx)
	if err != nil {
		return 0, err
	}
	w, err := l.B.Jobs.Watch(ctx, contracts.StateWatchPattern, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("marking the ended jobs: %w", err)
	}
	defer w.Stop()
	n := 0
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case e = <-w.Updates():
		}
		if e == nil { // every state read
			return n, nil
		}
		id := strings.TrimSuffix(strings.TrimPrefix(e.Key(), "job."), ".state")
		var st contracts.JobState
		if json.Unmarshal(e.Value(), &st) != nil || !st.Terminal() || !st.Expired.IsZero() || st.ReusedFrom != "" {
			continue
		}
		if _, ok := marks[id]; ok {
			continue
		}
		ended := st.Finished
		if ended.IsZero() {
			ended = st.Updated
		}
		_, err := l.B.Jobs.Create(ctx, contracts.EndedKey(id), []byte(ended.UTC().Format(time.RFC3339Nano)))
		if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return n, fmt.Errorf("marking job %s ended: %w", id, err)
		}
		if err == nil {
			n++
		}
	}
}
