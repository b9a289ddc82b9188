package producer

import (
	"context"
	"errors"
	"fmt"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/outputlock"
)

// ErrOutputGone means a completed job's final file is gone or is no longer
// the job's, and cannot be written again.
var ErrOutputGone = errors.New("the job's output is gone")

// checkResume verifies that resubmitting an existing job gets what it
// promises. A job whose output, script, settings or input listing changed
// is refused with what changed. A completed job returns its output only
// when its final file is there and still its own; a final file that was
// deleted is written again from the recorded outcomes when the staged rows
// are still there (keep_staging, or rows left by an older prs) and the
// outcomes have not expired; otherwise the resubmission is refused with
// ErrOutputGone and a new job id runs the job again. It returns the result
// for a completed job, and nil, nil for a job that may resume.
func (p *Producer) checkResume(ctx context.Context, job *contracts.Job, st contracts.JobState, c *contracts.Config, fp string, items int64, output objstore.Store) (*Submitted, error) {
	if was, now := inputlist.Place(job.Config.Output), inputlist.Place(c.Output); was != now {
		return nil, fmt.Errorf("job %s: %w: its output was %s, now %s; resume it with its output, or submit the new work with a new job id",
			job.ID, ErrChanged, job.Config.Output, c.Output)
	}
	if job.Fingerprint != fp {
		return nil, fmt.Errorf("job %s: %w: %s; submit the new work with a new job id",
			job.ID, ErrChanged, changed(job, st, c, items))
	}
	if st.State != contracts.StateCompleted {
		return nil, nil
	}
	done := &Submitted{Job: job, State: st, Resumed: true}
	if job.Config.OutputAction != contracts.OutputAppendRow {
		return done, nil
	}
	if by := takenBy(ctx, output, job.ID, job.ID); by != "" {
		return nil, fmt.Errorf("job %s: %w: its output %s has since been taken by job %s, whose results replace it; submit the job again with a new job id",
			job.ID, ErrOutputGone, output.URI(""), by)
	}
	name := job.Config.AppendRowFileName
	_, err := output.Stat(ctx, name)
	if err == nil {
		return done, nil
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("job %s: checking its final file: %w", job.ID, err)
	}
	return p.refinalize(ctx, job, done, output)
}

// refinalize writes a completed job's deleted final file again.
func (p *Producer) refinalize(ctx context.Context, job *contracts.Job, done *Submitted, output objstore.Store) (*Submitted, error) {
	hold, err := p.holdOutput(ctx, job.ID, output)
	if err != nil {
		return nil, err
	}
	defer hold.end(ctx)
	final, err := p.cfg.Ledger.RewriteFinal(ctx, job)
	switch {
	case errors.Is(err, objstore.ErrNotFound) && !job.Config.KeepStaging:
		return nil, fmt.Errorf("job %s: %w: it completed, but its final file %s was deleted, and the rows it staged under %s were removed when it ended (keep_staging: true keeps them); submit the job again with a new job id, which runs it again",
			job.ID, ErrOutputGone, output.URI(job.Config.AppendRowFileName), job.Staging)
	case errors.Is(err, objstore.ErrNotFound):
		return nil, fmt.Errorf("job %s: %w: it completed, but its final file %s was deleted and so were the rows staged under %s; submit the job again with a new job id, which runs it again",
			job.ID, ErrOutputGone, output.URI(job.Config.AppendRowFileName), job.Staging)
	case errors.Is(err, ledger.ErrExpired):
		return nil, fmt.Errorf("job %s: %w: it completed, but its final file %s was deleted, and its per-batch records expired after the fleet's job retention: %w; submit the job again with a new job id, which runs it again",
			job.ID, ErrOutputGone, output.URI(job.Config.AppendRowFileName), err)
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: writing its deleted final file again: %w", job.ID, err)
	}
	hold.keep(ctx)
	hold.release(ctx)
	p.cfg.Logger.Warn("the completed job's final file was deleted; wrote it again from the recorded outcomes", "job", job.ID, "output", final)
	done.State.FinalObject = final
	return done, nil
}

// takenBy names the job that took the output after job did (internal/
// outputlock), or "" when none did (or the output has no lock records).
// The taking of self, the job being submitted, does not count: the job
// before it does.
func takenBy(ctx context.Context, output objstore.Store, job, self string) string {
	cur, keys, err := outputlock.Read(ctx, output)
	if err == nil && cur != nil && cur.Record.Job == self && self != job && len(keys) > 1 {
		cur, err = outputlock.ReadKey(ctx, output, keys[len(keys)-2])
	}
	if err != nil || cur == nil || cur.Unreadable || cur.Record.Job == job || cur.Record.Job == self {
		return ""
	}
	return cur.Record.Job
}

// changed tells what differs between a recorded job and its resubmission,
// as far as the record tells: the settings, the number of input files, or
// (the fingerprint alone knows) the script or the input files' contents.
func changed(job *contracts.Job, st contracts.JobState, c *contracts.Config, items int64) string {
	if fingerprint(&job.Config, "", "") != fingerprint(c, "", "") {
		return "its settings changed since it was submitted"
	}
	if !c.Tabular() && st.Sealed && st.TotalItems >= 0 && items != st.TotalItems {
		return fmt.Sprintf("the input has %d files now, %d when the job was submitted", items, st.TotalItems)
	}
	return "its script, source folder or model, or the input's files (names, sizes or ETags) changed since it was submitted"
}

// reusable tells whether an earlier job's output may be reused: its
// output must not have been taken by another job since (whose final file
// would have replaced it). A missing final file is found by the copy.
func (p *Producer) reusable(ctx context.Context, prior *contracts.Job, self string) bool {
	if prior.Config.OutputAction != contracts.OutputAppendRow {
		return true
	}
	out, err := p.cfg.Ledger.Stores.Open(ctx, prior.Config.Output)
	if err != nil {
		return false
	}
	if by := takenBy(ctx, out, prior.ID, self); by != "" {
		p.cfg.Logger.Warn("allow_reuse: the identical earlier job's output has since been taken by another job; running the job",
			"earlier_job", prior.ID, "output", out.URI(""), "taken_by", by)
		return false
	}
	return true
}
