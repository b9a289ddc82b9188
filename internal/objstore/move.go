package objstore

import (
	"context"
	"io"
	"os"
)

// Move copies the object at from to to, through a local temporary file
// (memory stays bounded), then deletes from. A failure before the delete
// leaves from in place.
func Move(ctx context.Context, s Store, from, to string) error {
	rc, err := s.Get(ctx, from)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "prs-move-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, ctxReader{ctx, rc}); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := s.Put(ctx, to, f); err != nil {
		return err
	}
	return s.Delete(ctx, from)
}
