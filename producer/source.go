package producer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// source is what a job ships to its workers: the source folder, or the
// entry script alone when there is none.
type source struct {
	dir    string // local folder shipped; empty when only the script is
	script string // local path of the entry script
	key    string // the script's key under the shipped "source/"
}

// skipped folders are never shipped.
var skipped = map[string]bool{".git": true, "__pycache__": true, ".prs": true}

func resolveSource(c *contracts.Config) (*source, error) {
	if c.Handler != contracts.HandlerEntryScript && c.EntryScript == "" {
		return &source{}, nil
	}
	s := &source{}
	if c.SourceDirectory != "" {
		fi, err := os.Stat(c.SourceDirectory)
		if err != nil || !fi.IsDir() {
			return nil, &contracts.FieldError{Field: "source_directory", Err: fmt.Errorf("%w: %q is not a folder", contracts.ErrInvalid, c.SourceDirectory)}
		}
		s.dir = c.SourceDirectory
		rel := filepath.Clean(c.EntryScript)
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, &contracts.FieldError{Field: "entry_script", Err: fmt.Errorf("%w: %q must be a path inside source_directory", contracts.ErrInvalid, c.EntryScript)}
		}
		s.script = filepath.Join(s.dir, rel)
		s.key = filepath.ToSlash(rel)
	} else {
		s.script = c.EntryScript
		s.key = filepath.Base(c.EntryScript)
	}
	fi, err := os.Stat(s.script)
	if err != nil {
		return nil, &contracts.FieldError{Field: "entry_script", Err: fmt.Errorf("%w: %v", contracts.ErrInvalid, err)}
	}
	if fi.IsDir() {
		return nil, &contracts.FieldError{Field: "entry_script", Err: fmt.Errorf("%w: %s is a folder", contracts.ErrInvalid, s.script)}
	}
	return s, nil
}

// files lists the shipped files as (key, local path), sorted by key.
func (s *source) files() ([][2]string, error) {
	if s.script == "" {
		return nil, nil
	}
	if s.dir == "" {
		return [][2]string{{s.key, s.script}}, nil
	}
	var out [][2]string
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != s.dir && skipped[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		out = append(out, [2]string{filepath.ToSlash(rel), p})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, err
}

// hash digests every shipped file's key and content.
func (s *source) hash() (string, error) {
	files, err := s.files()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00", f[0])
		r, err := os.Open(f[1])
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", err
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upload ships the files under "source/" of the staging store.
func (s *source) upload(ctx context.Context, staging objstore.Store) (int, error) {
	files, err := s.files()
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		r, err := os.Open(f[1])
		if err != nil {
			return 0, err
		}
		err = staging.Put(ctx, "source/"+f[0], r)
		r.Close()
		if err != nil {
			return 0, err
		}
	}
	return len(files), nil
}
