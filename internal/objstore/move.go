package objstore

import (
	"context"
	"fmt"
	"io"
)

// Copy streams the object at key in src to dstKey in dst (the same store
// or another) through [Create]: memory stays bounded, no local copy is
// made, and dstKey holds its old object or the whole new one, never a part.
func Copy(ctx context.Context, src Store, key string, dst Store, dstKey string) error {
	rc, err := src.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := Create(ctx, dst, dstKey)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, ctxReader{ctx, rc}); err != nil {
		return fmt.Errorf("objstore: copy %s to %s: %w", src.URI(key), dst.URI(dstKey), err)
	}
	return w.Close()
}

// Move copies the object at from to to as [Copy] does, then deletes from.
// A failure before the delete leaves from in place.
func Move(ctx context.Context, s Store, from, to string) error {
	if err := Copy(ctx, s, from, s, to); err != nil {
		return err
	}
	return s.Delete(ctx, from)
}
