package producer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

// fingerprintListing lists the input once, counting the included files and
// digesting their keys and ETags. It is the first listing of a submit: it
// tells what the listing leaves out.
func (p *Producer) fingerprintListing(ctx context.Context, input objstore.Store, c *contracts.Config) (int64, string, error) {
	h := sha256.New()
	var n int64
	stats, err := inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		n++
		fmt.Fprintf(h, "%s\x00%s\x00%d\n", o.Key, o.ETag, o.Size)
		return nil
	})
	p.warnLeftOut(input, c, stats)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// fingerprint digests what makes two jobs the same for allow_reuse: the
// settings (less where the output goes and how it is logged), the shipped
// source and the input listing.
func fingerprint(c *contracts.Config, srcHash, listHash string) string {
	k := *c
	k.Output, k.AllowReuse, k.LoggingLevel, k.ProcessCountPerNode, k.NodeCount, k.KeepStaging = "", false, "", 0, 0, false
	k.InlineRowsMax = 0 // where rows wait changes nothing in them
	if k.MiniBatchSize == "" && !k.Tabular() {
		// The default as jobs recorded it before it was left unset, so that
		// they resume and are reused as before.
		k.MiniBatchSize = strconv.Itoa(contracts.DefaultFilesPerBatch)
	}
	k.SourceDirectory, k.EntryScript = "", "" // their content is in srcHash
	b, _ := json.Marshal(k)
	h := sha256.New()
	h.Write(b)
	fmt.Fprintf(h, "\x00%s\x00%s", srcHash, listHash)
	return hex.EncodeToString(h.Sum(nil))
}

// reuse returns a completed identical job's output as this job's, or nil
// when there is none.
func (p *Producer) reuse(ctx context.Context, jobID string, c *contracts.Config, fp string, output objstore.Store) (*Submitted, error) {
	l := p.cfg.Ledger
	prior, err := l.Reusable(ctx, fp)
	if err != nil || prior == "" {
		return nil, err
	}
	pst, _, err := l.State(ctx, prior)
	if err != nil || pst.State != contracts.StateCompleted {
		return nil, nil
	}
	pjob, err := l.Job(ctx, prior)
	if err != nil || !p.reusable(ctx, pjob, jobID) {
		return nil, nil
	}
	final := ""
	if c.OutputAction == contracts.OutputAppendRow && pjob.Config.OutputAction == contracts.OutputAppendRow {
		final, err = copyFinal(ctx, l, pjob, c, output)
		if err != nil {
			p.cfg.Logger.Warn("could not reuse the earlier job's output; running the job", "earlier_job", prior, "err", err)
			return nil, nil
		}
	}
	job := &contracts.Job{ID: jobID, Config: *c, Staging: StagingURI(c.Output, jobID), Fingerprint: fp, SubmittedAt: time.Now().UTC()}
	st, err := l.RecordReused(ctx, job, prior, pst, final)
	if err != nil {
		return nil, err
	}
	p.cfg.Logger.Info("allow_reuse: an identical job completed before; returning its output", "job", jobID, "earlier_job", prior, "output", final)
	return &Submitted{Job: job, State: st, Reused: true}, nil
}

// copyFinal puts the earlier job's final file at this job's output, unless
// it is already there.
func copyFinal(ctx context.Context, l *ledger.Ledger, prior *contracts.Job, c *contracts.Config, output objstore.Store) (string, error) {
	name := c.AppendRowFileName
	dst := output.URI(name)
	src, err := l.Stores.Open(ctx, prior.Config.Output)
	if err != nil {
		return "", err
	}
	if src.URI(prior.Config.AppendRowFileName) == dst {
		if _, err := src.Stat(ctx, name); err != nil {
			return "", err
		}
		return dst, nil
	}
	return dst, objstore.Copy(ctx, src, prior.Config.AppendRowFileName, output, name)
}

// checkSideInput verifies a side input exists where the producer can see it.
func checkSideInput(ctx context.Context, stores *ledger.Stores, uri string) error {
	if !strings.HasPrefix(uri, "s3://") {
		_, err := os.Stat(strings.TrimPrefix(uri, "file://"))
		return err
	}
	s, err := stores.Open(ctx, uri)
	if err != nil {
		return err
	}
	return objstore.Check(ctx, s, false)
}
