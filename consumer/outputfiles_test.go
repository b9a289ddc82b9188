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

// TestOutputDirFoldersMadeInInitStay: a script that makes a folder of
// output_dir in init() and writes to it in each run() finds it in every
// attempt (a retried one's too), though each attempt starts without the
// files of the one before.
func TestOutputDirFoldersMadeInInitStay(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 8)
	factory := func(_ context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		frames := filepath.Join(env.OutputDir, "frames")
		if err := os.MkdirAll(frames, 0o755); err != nil {
			return nil, err
		}
		return consumer.HandlerFunc(func(_ context.Context, bt *consumer.Batch) (consumer.Result, error) {
			var r consumer.Result
			for _, p := range bt.Paths {
				if err := os.WriteFile(filepath.Join(frames, filepath.Base(p)), []byte(fmt.Sprint(bt.Attempt)), 0o644); err != nil {
					return r, err
				}
				r.Rows = append(r.Rows, []byte(`"ok"`))
			}
			if bt.Index == 1 && bt.Attempt == 1 {
				return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: "fails once"}
			}
			return r, nil
		}), nil
	}
	b.workerWith(1, nil, func(c *consumer.Config) { c.Handlers = map[string]consumer.HandlerFactory{"test": factory} })
	c := b.config(2)
	c.OutputAction = contracts.OutputSummaryOnly
	_, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.ItemsSucceeded != 8 || cs.Retried != 1 {
		t.Fatalf("state %+v counters %+v", st, cs)
	}
	want := map[string]string{}
	for i := range 8 {
		want[fmt.Sprintf("frames/f%05d.txt", i)] = map[bool]string{true: "2", false: "1"}[i/2 == 1]
	}
	if got := outputFiles(t, b.output); !maps.Equal(got, want) {
		t.Fatalf("output files:\n%v\nwant\n%v", got, want)
	}
}

// TestOutputDirFilesOfAnIsolation: with isolate_failures, a mini-batch
// whose run() fails is run again in parts, each in an emptied output
// folder: the files of the parts whose run() returned reach the output
// once, those of the parts that failed (and of the whole mini-batch's
// failed run) never do.
func TestOutputDirFilesOfAnIsolation(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 30)
	bad := map[string]bool{"f00003.txt": true, "f00017.txt": true, "f00018.txt": true}
	factory := func(_ context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		return consumer.HandlerFunc(func(_ context.Context, bt *consumer.Batch) (consumer.Result, error) {
			var r consumer.Result
			failed := false
			for _, p := range bt.Paths {
				name := filepath.Base(p)
				failed = failed || bad[name]
				// The file says how many items its run() had.
				p := filepath.Join(env.OutputDir, "styled", name+".png")
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return r, err
				}
				if err := os.WriteFile(p, []byte(fmt.Sprintf("%d items", len(bt.Paths))), 0o644); err != nil {
					return r, err
				}
				r.Rows = append(r.Rows, []byte(`"ok"`))
			}
			if failed {
				return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: "a bad file"}
			}
			return r, nil
		}), nil
	}
	b.workerWith(1, nil, func(c *consumer.Config) { c.Handlers = map[string]consumer.HandlerFactory{"test": factory} })
	c := b.config(10)
	c.RunMaxTry, c.IsolateFailures = 1, true
	_, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.ItemsFailed != 3 || cs.ItemsSucceeded != 27 {
		t.Fatalf("state %+v counters %+v", st, cs)
	}
	got := outputFiles(t, b.output)
	delete(got, c.AppendRowFileName)
	if len(got) != 27 {
		t.Fatalf("%d files in the output, want the 27 good files': %v", len(got), got)
	}
	for i := range 30 {
		name := fmt.Sprintf("f%05d.txt", i)
		content, ok := got["styled/"+name+".png"]
		switch {
		case bad[name]:
			if ok {
				t.Fatalf("the file of %s, whose run() failed, is in the output (%q)", name, content)
			}
		case !ok:
			t.Fatalf("the file of %s, whose part returned, is not in the output", name)
		case i/10 == 2 && content != "10 items":
			t.Fatalf("the file of %s says %q; its mini-batch ran whole", name, content)
		case i/10 != 2 && content == "10 items":
			t.Fatalf("the file of %s is the failed whole mini-batch's", name)
		}
	}
}
