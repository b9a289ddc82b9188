package ledger

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// stageFiles puts files (path: content) under prefix of the job's staging
// root.
func stageFiles(t *testing.T, job *contracts.Job, prefix string, files map[string]string) {
	t.Helper()
	s, err := objstore.Open(context.Background(), job.Staging, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		if err := s.Put(context.Background(), prefix+p, stringsReader(content)); err != nil {
			t.Fatal(err)
		}
	}
}

// outputTree reads every file under out but the job's staging (.prs/):
// its path and content.
func outputTree(t *testing.T, out string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(out, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if e.IsDir() {
			if rel == ".prs" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		tree[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestFinalisationCopiesTheRecordedFiles: the files of each recorded
// outcome reach the output under their paths, those of an attempt that was
// not recorded never do, prs's own names are refused, the higher
// mini-batch wins a path two wrote, a path the output cannot take is left
// out, and finalising again gives the same output.
func TestFinalisationCopiesTheRecordedFiles(t *testing.T) {
	t.Parallel()
	for _, action := range []string{contracts.OutputAppendRow, contracts.OutputSummaryOnly} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			l := newLedger(t)
			out := t.TempDir()
			job := addJob(t, l, "j", 4, out)
			job.Config.OutputAction = action
			ctx := context.Background()
			keys := []string{
				contracts.FilesKey(0, 1, "w1", "aa"), contracts.FilesKey(1, 2, "w2", "bb"),
				contracts.FilesKey(1, 1, "w1", "cc"), contracts.FilesKey(3, 1, "w1", "dd"),
			}
			stageFiles(t, job, keys[0], map[string]string{"img/0.png": "zero", "shared.txt": "from 0"})
			stageFiles(t, job, keys[1], map[string]string{"img/1.png": "one", "shared.txt": "from 1", "logs/x.txt": "no",
				".prs/evil": "no", ".PRSx": "no", "parallel_run_step.txt": "final?", "blocked/f.txt": "no way"})
			// batch 1's first attempt failed after writing its files: its folder is never named.
			stageFiles(t, job, keys[2], map[string]string{"img/1.png": "failed attempt", "img/orphan.png": "failed attempt"})
			stageFiles(t, job, keys[3], map[string]string{"deep/a/b/c.txt": "three"})
			for i, k := range []string{keys[0], keys[1], "", keys[3]} {
				o := contracts.BatchOutcome{Index: int64(i), Attempt: 1, OK: true, Items: 1, Succeeded: 1, FilesKey: k}
				if _, _, err := l.Record(ctx, job.ID, o); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(out, "blocked"), []byte("a file where a folder would go"), 0o644); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"img/0.png": "zero", "img/1.png": "one", "shared.txt": "from 1",
				"deep/a/b/c.txt": "three", "blocked": "a file where a folder would go"}
			if action == contracts.OutputSummaryOnly {
				want["parallel_run_step.txt"] = "final?" // not prs's own without a final file
			} else {
				want["parallel_run_step.txt"] = ""
			}
			for round := range 2 {
				if round == 1 {
					_ = os.Remove(filepath.Join(out, "img", "0.png")) // a finaliser that died mid-copy
				}
				final, err := l.writeOutputs(ctx, job, 4)
				if err != nil {
					t.Fatal(err)
				}
				if (final != "") != (action == contracts.OutputAppendRow) {
					t.Fatalf("final object %q for %s", final, action)
				}
				got := outputTree(t, out)
				for p := range got {
					if strings.HasPrefix(p, "logs/") {
						delete(got, p)
					}
				}
				if !maps.Equal(got, want) {
					t.Fatalf("round %d: output\n%v\nwant\n%v", round, got, want)
				}
			}
		})
	}
}

// TestRefusedPaths names prs's own paths and unclean ones.
func TestRefusedPaths(t *testing.T) {
	t.Parallel()
	c := contracts.DefaultConfig()
	var refused []string
	for _, p := range []string{"a.png", "logs", "logs/a", "LOGS/a", ".prs/lock", ".prsx", "parallel_run_step.txt",
		"PARALLEL_RUN_STEP.TXT", "sub/parallel_run_step.txt", "sub/logs/a", "a//b", "./a", "../a", "catalogs/a"} {
		if refusedPath(&c, p) != "" {
			refused = append(refused, p)
		}
	}
	want := []string{"logs", "logs/a", "LOGS/a", ".prs/lock", ".prsx", "parallel_run_step.txt", "PARALLEL_RUN_STEP.TXT", "a//b", "./a", "../a"}
	if !slices.Equal(refused, want) {
		t.Fatalf("refused %q, want %q", refused, want)
	}
}
