package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// The files that scripts wrote to their output_dir reach the job's output
// at finalisation, from the recorded outcomes alone (consumer/outputfiles.go
// keeps each attempt's files in a folder of its own under the job's staging
// root; the outcome names the folder of the attempt that counted). Each
// file goes to the output root under its path relative to output_dir:
//
//   - a path that would land on prs's own names — the logs/ folder, a name
//     that starts with .prs, the final file — is not copied, with a warning;
//   - two mini-batches that wrote the same path: the higher mini-batch's
//     file is kept, with a warning (deterministic, where ParallelRunStep
//     keeps whichever wrote last);
//   - a copy overwrites, so a finalisation taken over after its finaliser
//     died, or a completed job whose final file is written again, copies
//     again and ends with the same files.
//
// The list of files to copy is held in memory (about 200 bytes a file).

// fileCopies bounds the concurrent copies of a finalisation.
const fileCopies = 16

// maxFileWarnings bounds the warnings of one kind that name a file; the
// rest are counted in one last warning.
const maxFileWarnings = 20

// writeOutputs writes what a finalisation leaves in the job's output: the
// files of the recorded outcomes first, then the final file of an
// append_row job (its name, "" for summary_only).
func (l *Ledger) writeOutputs(ctx context.Context, job *contracts.Job, total int64) (string, error) {
	if err := l.copyFiles(ctx, job, total); err != nil {
		return "", err
	}
	if job.Config.OutputAction != contracts.OutputAppendRow {
		return "", nil
	}
	return l.writeFinal(ctx, job, total)
}

// outputFile is one file to copy: its staged key, and the mini-batch whose
// outcome names it.
type outputFile struct {
	key   string
	index int64
}

// copyFiles copies the files that the recorded outcomes of the job's total
// mini-batches name to the output.
func (l *Ledger) copyFiles(ctx context.Context, job *contracts.Job, total int64) error {
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		return err
	}
	if some, err := hasObjects(ctx, staging, "files/"); err != nil || !some {
		return err
	}
	files, err := l.filesToCopy(ctx, job, staging, total)
	if err != nil || len(files) == 0 {
		return err
	}
	out, err := l.Stores.Open(ctx, job.Config.Output)
	if err != nil {
		return err
	}
	l.Log.Info("copying the files of output_dir to the output", "job", job.ID, "files", len(files), "output", out.URI(""))
	return l.copyAll(ctx, job, staging, out, files)
}

// filesToCopy lists the files of each recorded outcome, by their path in
// the output: a later mini-batch's file replaces an earlier one's.
func (l *Ledger) filesToCopy(ctx context.Context, job *contracts.Job, staging objstore.Store, total int64) (map[string]outputFile, error) {
	files := map[string]outputFile{}
	var refused, twice int
	for i := int64(0); i < total; i++ {
		o, _, ok, err := l.Outcome(ctx, job.ID, i)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("finalising job %s: batch %d has no recorded outcome", job.ID, i)
		}
		if o.FilesKey == "" {
			continue
		}
		err = staging.List(ctx, o.FilesKey, func(obj objstore.ObjectInfo) error {
			rel := strings.TrimPrefix(obj.Key, o.FilesKey)
			if why := refusedPath(&job.Config, rel); why != "" {
				if refused++; refused <= maxFileWarnings {
					l.Log.Warn("a file of output_dir is not copied to the output: "+why, "job", job.ID, "batch", i, "file", rel)
				}
				return nil
			}
			if prev, ok := files[rel]; ok {
				if twice++; twice <= maxFileWarnings {
					l.Log.Warn("two mini-batches wrote the same file of output_dir; the higher mini-batch's is kept",
						"job", job.ID, "file", rel, "batches", fmt.Sprintf("%d, %d", prev.index, i), "kept", i)
				}
			}
			files[rel] = outputFile{key: obj.Key, index: i}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("finalising job %s: listing the files of batch %d: %w", job.ID, i, err)
		}
	}
	if refused > maxFileWarnings || twice > maxFileWarnings {
		l.Log.Warn("files of output_dir not copied or replaced, in all", "job", job.ID, "not_copied", refused, "written_twice", twice)
	}
	return files, nil
}

// refusedPath says why a file's path relative to output_dir cannot be a
// path in the output ("" when it can): a name of prs's own, or a path that
// is not clean.
func refusedPath(c *contracts.Config, rel string) string {
	first, _, _ := strings.Cut(rel, "/")
	switch {
	case rel == "" || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") || rel == "..":
		return "its path is not a clean relative path"
	case inputlist.IsOwnName(first):
		return fmt.Sprintf("%q is prs's own (logs/ and .prs* hold the job's logs and state)", first)
	case c.OutputAction == contracts.OutputAppendRow && strings.EqualFold(rel, c.AppendRowFileName):
		return fmt.Sprintf("%q is the job's final file (append_row_file_name)", rel)
	}
	return ""
}

// copyAll copies the files, fileCopies at a time. A file that the output
// refuses for good (a folder in its place, say) is left out with a
// warning; any other error stops the copy and is returned, so that the
// finalisation is tried again.
func (l *Ledger) copyAll(ctx context.Context, job *contracts.Job, staging, out objstore.Store, files map[string]outputFile) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan string)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for range min(fileCopies, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range work {
				err := copyAcross(ctx, staging, files[rel].key, out, rel)
				switch {
				case err == nil:
				case ctx.Err() == nil && (errors.Is(err, objstore.ErrInvalidKey) || isNotWritable(err)):
					mu.Lock()
					if failed++; failed <= maxFileWarnings {
						l.Log.Warn("a file of output_dir cannot be written to the output; it is left out", "job", job.ID, "file", rel, "err", err)
					}
					mu.Unlock()
				default:
					cancel(fmt.Errorf("finalising job %s: copying %s of batch %d: %w", job.ID, rel, files[rel].index, err))
				}
			}
		}()
	}
	for rel := range files {
		select {
		case work <- rel:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// isNotWritable reports a local write error that no retry heals: a folder
// or a file in the way of the path.
func isNotWritable(err error) bool {
	return errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST)
}

// copyAcross copies the object at key in src to dstKey in dst, through a
// local temporary file (memory stays bounded; Put needs to seek).
func copyAcross(ctx context.Context, src objstore.Store, key string, dst objstore.Store, dstKey string) error {
	rc, err := src.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "prs-file-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return dst.Put(ctx, dstKey, f)
}

// errStopList ends a listing early.
var errStopList = errors.New("stop")

// hasObjects reports whether any object's key starts with prefix.
func hasObjects(ctx context.Context, s objstore.Store, prefix string) (bool, error) {
	found := false
	err := s.List(ctx, prefix, func(objstore.ObjectInfo) error {
		found = true
		return errStopList
	})
	if errors.Is(err, errStopList) {
		err = nil
	}
	return found, err
}
