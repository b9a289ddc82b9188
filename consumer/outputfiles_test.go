package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// filesHandler writes one file per input item to the slot's output folder,
// plus one named after the attempt, a link and a name that is not UTF-8; a
// batch that fails says so after writing its files.
func filesHandler(fail func(b *consumer.Batch) bool) consumer.HandlerFactory {
	return func(_ context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		out := env.OutputDir
		return consumer.HandlerFunc(func(_ context.Context, b *consumer.Batch) (consumer.Result, error) {
			write := func(rel, content string) error {
				p := filepath.Join(out, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				return os.WriteFile(p, []byte(content), 0o644)
			}
			var r consumer.Result
			for _, p := range b.Paths {
				if err := write("styled/"+filepath.Base(p)+".png", fmt.Sprintf("batch %d attempt %d", b.Index, b.Attempt)); err != nil {
					return r, err
				}
				r.Rows = append(r.Rows, []byte(`"ok"`))
			}
			if err := write(fmt.Sprintf("attempts/%d-%d.txt", b.Index, b.Attempt), "x"); err != nil {
				return r, err
			}
			// Neither a link nor a name that is not UTF-8 is kept.
			if err := write("bad\xffname.png", "x"); err != nil {
				return r, err
			}
			if err := os.Symlink(filepath.Join(out, "attempts"), filepath.Join(out, "link")); err != nil {
				return r, err
			}
			if fail(b) {
				return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: "failed after writing its files"}
			}
			return r, nil
		}), nil
	}
}

// outputFiles reads the files of an output, without its logs and staging.
func outputFiles(t *testing.T, out string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(out, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if e.IsDir() {
			if rel == ".prs" || rel == "logs" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		tree[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return tree
}

// TestOutputDirFilesOfTheCountedAttemptOnly: the files a handler writes to
// its output folder reach the job's output once, from the attempt whose
// outcome was recorded; a retried attempt's files never do, and each
// attempt starts with an empty folder.
func TestOutputDirFilesOfTheCountedAttemptOnly(t *testing.T) {
	t.Parallel()
	for _, action := range []string{contracts.OutputSummaryOnly, contracts.OutputAppendRow} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, 12)
			// Odd batches fail on their first try, batch 4 on its first two.
			fail := func(bt *consumer.Batch) bool {
				return bt.Index%2 == 1 && bt.Attempt == 1 || bt.Index == 4 && bt.Attempt < 3
			}
			b.workerWith(2, nil, func(c *consumer.Config) { c.Handlers = map[string]consumer.HandlerFactory{"test": filesHandler(fail)} })
			c := b.config(2)
			c.OutputAction = action
			_, st, cs := b.run(c)
			if st.State != contracts.StateCompleted || cs.ItemsSucceeded != 12 || cs.Retried != 5 {
				t.Fatalf("state %+v counters %+v", st, cs)
			}
			want := map[string]string{}
			for i := range 12 {
				batch := int64(i / 2)
				attempt := 1
				switch {
				case batch == 4:
					attempt = 3
				case batch%2 == 1:
					attempt = 2
				}
				want[fmt.Sprintf("styled/f%05d.txt.png", i)] = fmt.Sprintf("batch %d attempt %d", batch, attempt)
				want[fmt.Sprintf("attempts/%d-%d.txt", batch, attempt)] = "x"
			}
			got := outputFiles(t, b.output)
			delete(got, c.AppendRowFileName)
			if !maps.Equal(got, want) {
				var extra []string
				for k := range got {
					if _, ok := want[k]; !ok {
						extra = append(extra, k)
					}
				}
				t.Fatalf("output files:\n%v\nwant\n%v\nnot wanted: %s", got, want, strings.Join(extra, " "))
			}
		})
	}
}
