package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/parallelrun/prs/contracts"
)

// The files a script writes to EntryScript().output_dir (and
// AZUREML_BI_OUTPUT_PATH) reach the job's output from the attempt that
// counts, and from no other. Each slot has its own output folder, emptied
// of files before each attempt, so that it holds one attempt's files; the
// path stays the same, as scripts keep it from init(), and so do its
// folders, which init() may make. After an attempt whose run()
// returned (its outcome will say what it did), keepFiles puts the folder's
// files under the job's staging root, in a folder of the attempt's own
// (contracts.FilesKey), and the attempt's outcome names that folder. Only
// the outcome that wins the KV Create counts: the finaliser copies its
// files to the output (internal/ledger/files.go). The files of a failed
// attempt are never put; those of an attempt that lost the Create, or
// whose worker died before it recorded, stay under staging unnamed. An
// isolation (isolate.go) empties the folder before each part and gathers
// the files of the parts whose run() returned in a folder of its own
// (keptDir), kept with its outcome as one attempt's.

// filePuts bounds the concurrent puts of one attempt's files.
const filePuts = 8

// outputDir is the slot's output folder in the job's local folder.
func (s *slot) outputDir(jr *jobRun) string {
	return filepath.Join(jr.dir, "output", strconv.Itoa(s.index))
}

// freshOutput empties the slot's output folder before an attempt: the
// files of an earlier attempt (a failed one's too) are gone. Its folders
// stay, since a script may make them in init() and write to them in each
// run(); empty folders are not kept with an attempt's files anyway.
func (s *slot) freshOutput(jr *jobRun) error {
	dir := s.outputDir(jr)
	if empty, err := dirEmpty(dir); err == nil && empty {
		return nil // as a run that writes no files leaves it
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making the output folder %s: %w", dir, err)
	}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Remove(p)
	})
	if err == nil {
		return nil
	}
	// A folder the script made unreadable: start again from none.
	return emptyDir(dir)
}

// keepFiles puts the files the attempt wrote to its output folder under
// its own folder of the job's staging root (keepFilesOf).
func (s *slot) keepFiles(d *delivery) {
	s.keepFilesOf(d, s.outputDir(d.jr))
}

// keepFilesOf puts the files under dir under the attempt's own folder of
// the job's staging root and notes that folder in the delivery's facts. An
// attempt that wrote none keeps none; one whose files cannot be put is
// handed back (storage trouble spends no try).
func (s *slot) keepFilesOf(d *delivery, dir string) {
	f := &d.f
	if f.kind != kindNone {
		return
	}
	rel, err := listOutput(d, dir)
	if err != nil {
		f.kind, f.err = kindTransient, fmt.Errorf("listing the output folder: %w", err)
		return
	}
	if len(rel) == 0 {
		return
	}
	prefix := contracts.FilesKey(d.mb.Index, f.try(), s.w.cfg.Name, token())
	if err := s.putFiles(d, dir, prefix, rel); err != nil {
		f.kind, f.err = kindTransient, fmt.Errorf("keeping the files of output_dir: %w", err)
		return
	}
	d.log.Debug("kept the files of output_dir", "files", len(rel), "under", prefix)
	f.filesKey = prefix
}

// listOutput returns the regular files under dir, relative with "/", and
// warns of what else it holds, which is not kept.
func listOutput(d *delivery, dir string) ([]string, error) {
	files, err := outputFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, sk := range files.skipped {
		d.log.Warn("a file of output_dir is not copied to the output: "+sk.why, "file", sk.path)
	}
	return files.rel, nil
}

// keptDir is where an isolation gathers the files of its parts whose run()
// returned, out of the slot's output folder, which each part starts empty.
func (s *slot) keptDir(jr *jobRun) string {
	return filepath.Join(jr.dir, "output-kept", strconv.Itoa(s.index))
}

// dirEmpty tells whether the folder dir has no entries, reading one.
func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); errors.Is(err, io.EOF) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	return false, nil
}

// emptyDir makes dir an empty folder.
func emptyDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("emptying %s: %w", dir, err)
	}
	return os.MkdirAll(dir, 0o755)
}

// gatherFiles moves the files of the part that just returned from the
// slot's output folder to dst, under the same paths. A path that an
// earlier part wrote takes the later part's file, as when one run() writes
// a path twice.
func (s *slot) gatherFiles(d *delivery, dst string) error {
	src := s.outputDir(d.jr)
	rel, err := listOutput(d, src)
	if err != nil {
		return fmt.Errorf("listing the output folder: %w", err)
	}
	for _, r := range rel {
		to := filepath.Join(dst, filepath.FromSlash(r))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("keeping %s of an isolation's part: %w", r, err)
		}
		if err := os.Rename(filepath.Join(src, filepath.FromSlash(r)), to); err != nil {
			return fmt.Errorf("keeping %s of an isolation's part: %w", r, err)
		}
	}
	return nil
}

// putFiles puts the files rel (relative to dir, with "/") under prefix,
// filePuts at a time; the first error stops it.
func (s *slot) putFiles(d *delivery, dir, prefix string, rel []string) error {
	ctx, cancel := context.WithCancelCause(s.w.ctx)
	defer cancel(nil)
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(filePuts, len(rel)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := s.putFile(ctx, d, filepath.Join(dir, filepath.FromSlash(r)), prefix+r); err != nil {
					cancel(fmt.Errorf("%s: %w", r, err))
				}
			}
		}()
	}
	for _, r := range rel {
		select {
		case work <- r:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

func (s *slot) putFile(ctx context.Context, d *delivery, path, key string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return s.w.retryBroker(ctx, "putting a file of output_dir", writeTimeout, func(c context.Context) error {
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return d.jr.staging.Put(c, key, fh)
	})
}

// outputList is what an output folder holds: its regular files, relative
// with "/", and what else it holds (links, devices, names that are not
// UTF-8, which object stores refuse), which is not kept.
type outputList struct {
	rel     []string
	skipped []skippedFile
}

type skippedFile struct{ path, why string }

func outputFiles(dir string) (outputList, error) {
	var l outputList
	if empty, err := dirEmpty(dir); err == nil && empty {
		return l, nil // one read of the folder instead of a walk
	}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		r, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		r = filepath.ToSlash(r)
		switch {
		case !e.Type().IsRegular():
			l.skipped = append(l.skipped, skippedFile{r, "not a regular file"})
		case !utf8.ValidString(r):
			l.skipped = append(l.skipped, skippedFile{strconv.QuoteToASCII(r), "its name is not UTF-8"})
		default:
			l.rel = append(l.rel, r)
		}
		return nil
	})
	return l, err
}

// token tells apart the folders of two attempts that share a mini-batch,
// a try and a worker.
func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
