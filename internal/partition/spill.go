package partition

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Spill files: rows are hashed by key into numBuckets files, each written
// through a buffer of spillBufSize bytes.
const (
	numBuckets   = 64
	spillBufSize = 32 << 10
	stageBufSize = 256 << 10
)

// group is the bookkeeping of one group while the input is read: its rows
// live in spill file bucket, at the places that refs records.
type group struct {
	key    string      // appendGroupKey of the values
	kinds  []valueKind // how each value is typed (its first row's)
	bucket int
	rows   int64
	bytes  int64
	end    int64 // offset just after the group's last row in its spill file
	// refs holds two uvarints per row: the gap from the end of the group's
	// previous row (from 0 for the first) to the row, and its length.
	refs []byte
}

// spill is the private folder of one GroupRows call: the bucket files and
// the stage file where each group is assembled before it is put.
type spill struct {
	dir    string
	files  [numBuckets]*os.File
	w      [numBuckets]*bufio.Writer
	size   [numBuckets]int64
	stage  *os.File
	stageW *bufio.Writer
}

// add appends line to g's spill file and records it in g.
func (s *spill) add(g *group, line []byte) error {
	b := g.bucket
	if s.files[b] == nil {
		f, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("bucket-%02d", b)))
		if err != nil {
			return fmt.Errorf("partition: spill: %w", err)
		}
		s.files[b], s.w[b] = f, bufio.NewWriterSize(f, spillBufSize)
	}
	off := s.size[b]
	if _, err := s.w[b].Write(line); err != nil {
		return fmt.Errorf("partition: spill: %w", err)
	}
	n := int64(len(line))
	s.size[b] += n
	g.refs = binary.AppendUvarint(g.refs, uint64(off-g.end))
	g.refs = binary.AppendUvarint(g.refs, uint64(n))
	g.end = off + n
	g.rows++
	g.bytes += n
	return nil
}

// flush writes out the spill buffers; the spill files are read from then on.
func (s *spill) flush() error {
	for b, w := range s.w {
		if w == nil {
			continue
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("partition: spill: %w", err)
		}
		s.w[b] = nil
	}
	return nil
}

// assemble writes header and then g's rows, in order, into the stage file
// and returns it positioned at its start, with its size. Runs of rows that
// are adjacent in the spill file are copied with one read.
func (s *spill) assemble(header []byte, g *group) (*os.File, int64, error) {
	fail := func(err error) (*os.File, int64, error) {
		return nil, 0, fmt.Errorf("partition: stage: %w", err)
	}
	if s.stage == nil {
		f, err := os.Create(filepath.Join(s.dir, "stage"))
		if err != nil {
			return fail(err)
		}
		s.stage, s.stageW = f, bufio.NewWriterSize(f, stageBufSize)
	}
	if err := s.stage.Truncate(0); err != nil {
		return fail(err)
	}
	if _, err := s.stage.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	w := s.stageW
	w.Reset(s.stage)
	w.Write(header)
	src := s.files[g.bucket]
	var copied, prev, runStart, runEnd int64
	copyRun := func() error {
		n, err := io.Copy(w, io.NewSectionReader(src, runStart, runEnd-runStart))
		copied += n
		return err
	}
	for refs := g.refs; len(refs) > 0; {
		gap, n1 := binary.Uvarint(refs)
		n, n2 := binary.Uvarint(refs[n1:])
		refs = refs[n1+n2:]
		off := prev + int64(gap)
		prev = off + int64(n)
		if off == runEnd && runEnd > runStart {
			runEnd = prev
			continue
		}
		if runEnd > runStart {
			if err := copyRun(); err != nil {
				return fail(err)
			}
		}
		runStart, runEnd = off, prev
	}
	if runEnd > runStart {
		if err := copyRun(); err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if copied != g.bytes {
		return fail(fmt.Errorf("copied %d bytes of rows from the spill file, expected %d", copied, g.bytes))
	}
	if _, err := s.stage.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return s.stage, int64(len(header)) + copied, nil
}

// close closes the files; the caller removes the folder.
func (s *spill) close() {
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
	if s.stage != nil {
		s.stage.Close()
	}
}
