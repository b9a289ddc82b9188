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
// InputError.
func RunBatch(ctx context.Context, h Handler, in BatchInput, mb contracts.MiniBatch, attempt int, timeout time.Duration) (BatchRun, error) {
	run := BatchRun{Tally: Tally{Items: mb.ItemCount()}}
	b := &Batch{JobID: mb.JobID, Index: mb.Index, Attempt: attempt, Items: mb.Items, Partition: mb.Partition}
	var bad []ItemError
	if mb.Piece != nil {
		store := in.Input
		if mb.Piece.Staged {
			store = in.Staging
		}
		t, malformed, items, err := ReadTable(ctx, store, *mb.Piece)
		if err != nil {
			return run, err
		}
		b.Table, bad = t, malformed
		run.Tally.Items, run.Tally.Malformed = items, len(malformed)
		if t.Rows == 0 {
			run.Result.ItemErrors = bad
			return run, nil
		}
	} else {
		if in.Scratch != "" {
			defer func() { _ = os.RemoveAll(in.Scratch) }()
		}
		if err := stage(ctx, in, b); err != nil {
			return run, err
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, err := h.Run(runCtx, b)
	run.Ran, run.Took = true, time.Since(start)
	if err != nil && runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil && !errors.Is(err, ErrRunTimeout) {
		err = fmt.Errorf("%w: %w", ErrRunTimeout, err)
	}
	res.ItemErrors = append(bad, res.ItemErrors...)
	run.Result = res
	if err == nil {
		run.Tally.Rows = len(res.Rows)
	}
	return run, err
}

// stage gives every item a local path: the file itself for a local input,
// a downloaded copy under in.Scratch otherwise.
func stage(ctx context.Context, in BatchInput, b *Batch) error {
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
		if err := objstore.Download(ctx, in.Input, it.Key, dst); err != nil {
			if objstore.IsTransient(err) || ctx.Err() != nil {
				return &TransientError{Err: err}
			}
			return &ScriptError{Type: "InputError", Message: fmt.Sprintf("fetching %s: %v", in.Input.URI(it.Key), err)}
		}
		b.Paths[i] = dst
	}
	return nil
}
