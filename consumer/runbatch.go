package consumer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// BatchInput is where a mini-batch's data is read from.
type BatchInput struct {
	// Input is the job's input.
	Input objstore.Store
	// Staging is the job's staging root, which holds the pieces of
	// partition_keys groups (contracts.Piece.Staged); nil when there are
	// none.
	Staging objstore.Store
	// PartitionKeys are the job's partition_keys, which order the values
	// of a message that carries them only as a map
	// (contracts.MiniBatch.PartitionContext).
	PartitionKeys []string
	// Scratch is a folder for copies of items that are not local files;
	// RunBatch removes it when the attempt ends.
	Scratch string
}

// BatchRun is what one attempt at a mini-batch gave.
type BatchRun struct {
	// Result is what the handler returned; the malformed rows of a tabular
	// piece come first among its ItemErrors.
	Result Result
	// Tally counts the batch's items (a piece's once it is read) and, once
	// the handler returned without an error, its rows.
	Tally Tally
	// Ran is set when the handler was called; Took is how long it ran.
	Ran  bool
	Took time.Duration
}

// RunBatch makes one attempt at mini-batch mb with handler h, whose Init
// has run: the one run path of a worker's slot and of prs debug. It gives
// each item a local path (the file itself for a local input, a copy under
// in.Scratch otherwise) or reads the tabular piece into the batch's Table,
// runs h under timeout (passing it is ErrRunTimeout) and tallies. A piece
// without a well-formed row does not call h. A copy that fails is a
// *TransientError when trying again may help, else a *ScriptError of type
// InputError. A panic there or in h.Run is a *PanicError, which fails the
// attempt.
func RunBatch(ctx context.Context, h Handler, in BatchInput, mb contracts.MiniBatch, attempt int, timeout time.Duration) (BatchRun, error) {
	b, bad, n, cleanup, err := loadBatch(ctx, in, mb, attempt)
	defer cleanup()
	run := BatchRun{Tally: n}
	if err != nil {
		return run, err
	}
	if b == nil {
		run.Result.ItemErrors = bad
		return run, nil
	}
	start := time.Now()
	res, err := runHandler(ctx, h, b, timeout)
	run.Ran, run.Took = true, time.Since(start)
	res.ItemErrors = append(bad, res.ItemErrors...)
	run.Result = res
	if err == nil {
		run.Tally.Rows = len(res.Rows)
	}
	return run, err
}

// loadBatch makes mb the Batch its handler runs, RunBatch's first step
// (an isolation cuts the Batch into parts): a tabular piece's well-formed
// rows, its malformed rows returned as item errors (the Batch is nil when
// none is well formed), or every item at a local path. n counts the items
// (a piece's once it is read); cleanup removes the copies.
// A panic (of a reader on a malformed file) is a *PanicError.
func loadBatch(ctx context.Context, in BatchInput, mb contracts.MiniBatch, attempt int) (b *Batch, bad []ItemError, n Tally, cleanup func(), err error) {
	cleanup, n = func() {}, Tally{Items: mb.ItemCount()}
	defer func() {
		if err != nil {
			b, bad = nil, nil
		}
	}()
	defer catchPanic("reading the mini-batch", &err)
	b = &Batch{JobID: mb.JobID, Index: mb.Index, Attempt: attempt, Items: mb.Items, Partition: mb.PartitionContext(in.PartitionKeys)}
	if mb.Piece == nil {
		copied, err := stage(ctx, in, b)
		if copied && in.Scratch != "" {
			// Only a batch that copied items has a scratch folder to remove:
			// local files are read where they are.
			cleanup = func() { _ = os.RemoveAll(in.Scratch) }
		}
		if err != nil {
			return nil, nil, n, cleanup, err
		}
		return b, nil, n, cleanup, nil
	}
	store := in.Input
	if mb.Piece.Staged {
		store = in.Staging
	}
	t, malformed, items, err := ReadTable(ctx, store, *mb.Piece)
	if err != nil {
		return nil, nil, n, cleanup, err
	}
	n.Items, n.Malformed = items, len(malformed)
	if t.Rows == 0 {
		return nil, malformed, n, cleanup, nil
	}
	b.Table = t
	return b, malformed, n, cleanup, nil
}

// runHandler runs b with h under timeout, RunBatch's second step (and each
// part's of an isolation); passing the timeout is ErrRunTimeout.
// A panic of h.Run is a *PanicError.
func runHandler(ctx context.Context, h Handler, b *Batch, timeout time.Duration) (res Result, err error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer catchPanic("the handler's Run", &err)
	res, err = h.Run(runCtx, b)
	if err != nil && runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil && !errors.Is(err, ErrRunTimeout) {
		err = fmt.Errorf("%w: %w", ErrRunTimeout, err)
	}
	return res, err
}

// stage gives every item a local path: the file itself for a local input,
// a downloaded copy under in.Scratch otherwise. copied tells whether it
// began a copy (the scratch folder may hold files, even on an error).
func stage(ctx context.Context, in BatchInput, b *Batch) (copied bool, err error) {
	b.Paths = make([]string, len(b.Items))
	lp, local := in.Input.(objstore.LocalPather)
	for i, it := range b.Items {
		if local {
			if p, ok := lp.LocalPath(it.Key); ok {
				b.Paths[i] = p
				continue
			}
		}
		// The key's folders are kept (scripts may read them), cleaned so
		// that a key with ".." stays inside the scratch folder.
		dst := filepath.Join(in.Scratch, strconv.Itoa(i), filepath.FromSlash(path.Clean("/"+it.Key)))
		copied = true
		if err := objstore.Download(ctx, in.Input, it.Key, dst); err != nil {
			if objstore.IsTransient(err) || ctx.Err() != nil {
				return copied, &TransientError{Err: err}
			}
			return copied, &ScriptError{Type: "InputError", Message: fmt.Sprintf("fetching %s: %v", in.Input.URI(it.Key), err)}
		}
		b.Paths[i] = dst
	}
	return copied, nil
}
