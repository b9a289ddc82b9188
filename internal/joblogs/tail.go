package joblogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// ErrNoLogs: no log file matches (yet).
var ErrNoLogs = errors.New("no log files")

// Tail shows a job's logs from a terminal: the overview and the error
// summary, or one worker's files; each Print shows what was added since
// the last (objects are rewritten whole, so it reads them again and prints
// past what it had seen).
type Tail struct {
	out    objstore.Store
	worker string
	seen   map[string]int
	last   map[string]string
}

// NewTail returns a Tail of the job logs under out; worker, when set,
// selects the files of the workers whose name contains it.
func NewTail(out objstore.Store, worker string) *Tail {
	return &Tail{out: out, worker: worker, seen: map[string]int{}, last: map[string]string{}}
}

// Print writes what was added to the selected files since the last call.
func (t *Tail) Print(ctx context.Context, w io.Writer) error {
	keys, err := t.keys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		rc, err := t.out.Get(ctx, k)
		if err != nil {
			continue // not written yet
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		from := t.seen[k]
		if k == contracts.LogOverview || k == contracts.LogErrorSummary {
			// Rewritten whole: shown again whole when it changed.
			if t.last[k] == string(b) {
				continue
			}
			t.last[k], from = string(b), 0
		}
		if from > len(b) {
			from = 0
		}
		if from == len(b) {
			continue
		}
		fmt.Fprintf(w, "==> %s <==\n%s", k, b[from:])
		if len(b) > 0 && b[len(b)-1] != '\n' {
			fmt.Fprintln(w)
		}
		t.seen[k] = len(b)
	}
	return nil
}

func (t *Tail) keys(ctx context.Context) ([]string, error) {
	if t.worker == "" {
		return []string{contracts.LogOverview, contracts.LogErrorSummary}, nil
	}
	var keys []string
	for _, prefix := range []string{"logs/sys/node/", "logs/user/stdout/", "logs/user/stderr/", "logs/user/entry_script_log/", "logs/user/error/"} {
		err := t.out.List(ctx, prefix, func(o objstore.ObjectInfo) error {
			if strings.Contains(o.Key[strings.LastIndex(o.Key, "/")+1:], t.worker) {
				keys = append(keys, o.Key)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w of a worker matching %q under %s", ErrNoLogs, t.worker, t.out.URI("logs/"))
	}
	return keys, nil
}
