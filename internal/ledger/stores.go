package ledger

import (
	"context"
	"sync"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
)

// Stores opens object stores by URI and keeps them for reuse. Every store it
// returns retries transient errors.
type Stores struct {
	Options objstore.Options
	// Retry bounds the retries of one call on transient errors (default 2m).
	Retry time.Duration

	mu    sync.Mutex
	cache map[string]objstore.Store
}

// Open returns the store rooted at uri.
func (s *Stores) Open(ctx context.Context, uri string) (objstore.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.cache[uri]; ok {
		return st, nil
	}
	st, err := objstore.Open(ctx, uri, s.Options)
	if err != nil {
		return nil, err
	}
	retry := s.Retry
	if retry <= 0 {
		retry = 2 * time.Minute
	}
	st = objstore.WithRetry(st, retry)
	if s.cache == nil {
		s.cache = map[string]objstore.Store{}
	}
	s.cache[uri] = st
	return st, nil
}
