package producer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// warnLeftOut tells, once per submit, what the listing of the input left
// out: the job's own output folder inside the input, and prs's own folders
// (an earlier output's .prs/ and logs/).
func (p *Producer) warnLeftOut(input objstore.Store, c *contracts.Config, st inputlist.Stats) {
	if st.OutputPrefix != "" {
		p.cfg.Logger.Warn("the output folder is inside the input folder: its objects are left out of the input",
			"input", input.URI(""), "output", c.Output, "objects_left_out", st.OutputObjects)
	}
	if st.OwnObjects > 0 {
		p.cfg.Logger.Warn("objects of prs's own folders (.prs/, and the logs/ beside it) are never input: left out",
			"input", input.URI(""), "objects_left_out", st.OwnObjects)
	}
}

// checkPlaces refuses names and places that collide with prs's own: a
// final file named like prs's folders, an output that is the input folder,
// an input inside an output's own folders, and (for a local output) an
// output that is a file, a folder that cannot be written, or a final file
// name that is a folder. It writes nothing.
func checkPlaces(c *contracts.Config, output objstore.Store) error {
	if c.OutputAction == contracts.OutputAppendRow && inputlist.IsOwnName(c.AppendRowFileName) {
		return &contracts.FieldError{Field: "append_row_file_name", Err: fmt.Errorf(
			"%w: %q collides with prs's own names under the output (logs/, .prs/ and every name that starts with .prs): choose another name",
			contracts.ErrInvalid, c.AppendRowFileName)}
	}
	if _, same := inputlist.OutputPrefix(c); same {
		return &contracts.FieldError{Field: "output", Err: fmt.Errorf(
			"%w: %s is the input folder: the job would take its own results and logs for input; choose another folder (a subfolder of the input works: it is left out of the input)",
			contracts.ErrInvalid, c.Output)}
	}
	in, out := inputlist.Place(c.Input), inputlist.Place(c.Output)
	if rel, ok := strings.CutPrefix(in, out); ok && out != "" {
		first, _, _ := strings.Cut(rel, "/")
		if inputlist.IsOwnName(first) {
			return &contracts.FieldError{Field: "input", Err: fmt.Errorf(
				"%w: %s is inside %s, prs's own folder of the output %s: it changes while the job runs; choose another input or output",
				contracts.ErrInvalid, c.Input, first, c.Output)}
		}
	}
	if lp, ok := output.(objstore.LocalPather); ok {
		if _, local := lp.LocalPath("x"); local {
			return checkLocalOutput(c, output.URI(""))
		}
	}
	return nil
}

// checkLocalOutput verifies that the output folder is a folder, or can be
// made, and can be written, and that the final file's name is free.
func checkLocalOutput(c *contracts.Config, dir string) error {
	outErr := func(format string, args ...any) error {
		return &contracts.FieldError{Field: "output", Err: fmt.Errorf("%w: "+format, append([]any{contracts.ErrInvalid}, args...)...)}
	}
	// The folder, or the nearest ancestor that exists.
	p := dir
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir() && p == dir:
			return outErr("%s is a file, not a folder", dir)
		case err == nil && !fi.IsDir():
			return outErr("cannot make the folder %s: %s is a file", dir, p)
		case err == nil:
			if err := syscall.Access(p, 2|1); err != nil { // W_OK|X_OK
				if p == dir {
					return outErr("cannot write in the folder %s: %v", dir, err)
				}
				return outErr("cannot make the folder %s: cannot write in %s: %v", dir, p, err)
			}
			return checkFinalName(c, dir)
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			parent := filepath.Dir(p)
			if parent == p {
				return outErr("cannot make the folder %s", dir)
			}
			p = parent
		default:
			return outErr("%s: %v", dir, err)
		}
	}
}

// checkFinalName refuses a final file name that a folder of the output has.
func checkFinalName(c *contracts.Config, dir string) error {
	if c.OutputAction != contracts.OutputAppendRow {
		return nil
	}
	final := filepath.Join(dir, c.AppendRowFileName)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return &contracts.FieldError{Field: "append_row_file_name", Err: fmt.Errorf(
			"%w: %s is a folder: the final file cannot be written there", contracts.ErrInvalid, final)}
	}
	return nil
}
