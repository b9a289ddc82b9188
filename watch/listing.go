package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// lister is the listing source's state while this replica leads: the
// watermark and the recently listed objects, kept in KV.
type lister struct {
	st     contracts.WatchListState
	recent map[string]string
}

// listOnce lists the input and publishes an event for each object version
// it has not listed lately. A listing starts after the watermark (the
// greatest key listed so far); every FullListingEvery-th one lists the
// whole input, to find objects that appeared below the watermark (S3 lists
// in key order, not by time) and new content under known keys. Events go
// to the watch's event stream and are taken like any store's events: a
// version published twice (a listing cut short, a recent set that forgot
// it, the same content written again to a local file) is found taken there.
func (w *Watch) listOnce(ctx context.Context) error {
	if w.list == nil {
		l, err := w.loadList(ctx)
		if err != nil {
			return err
		}
		w.list = l
	}
	l := w.list
	l.st.Listings++
	after := l.st.After
	if after == "" || l.st.Listings%w.cfg.FullListingEvery == 0 {
		after = ""
	}
	var pending []jetstream.PubAckFuture
	published := 0
	err := objstore.ListAfter(ctx, w.src.input, "", after, func(o objstore.ObjectInfo) error {
		// A long listing keeps the lead.
		if err := w.renewIfDue(ctx); err != nil {
			return err
		}
		if !inputlist.Keep(&w.cfg.Template.Config, o.Key) {
			return nil
		}
		l.st.After = max(l.st.After, o.Key)
		if v, ok := l.recent[o.Key]; ok && v == o.ETag {
			return nil
		}
		version := o.ETag
		if w.src.local() {
			h, err := contentDigest(ctx, w.src.input, o.Key)
			if errors.Is(err, objstore.ErrNotFound) {
				return nil // deleted since it was listed
			}
			if err != nil {
				return err
			}
			version = h
		}
		f, err := w.publishEvent(o.Key, o.Size, version)
		if err != nil {
			return err
		}
		pending = append(pending, f)
		published++
		l.remember(o.Key, o.ETag, w.cfg.RecentKeys)
		return nil
	})
	for _, f := range pending {
		select {
		case <-f.Ok():
		case e := <-f.Err():
			err = errors.Join(err, fmt.Errorf("publishing an event: %w", e))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		w.list = nil // read again: the recent set may name unpublished events
		return err
	}
	if published > 0 {
		w.log.Debug("listing found new objects", "published", published, "full", after == "", "watermark", l.st.After)
	}
	b, _ := json.Marshal(l.st)
	if _, err := w.h.state.Put(ctx, contracts.WatchListKey(w.cfg.Name), b); err != nil {
		return fmt.Errorf("watch %s: saving the listing's watermark: %w", w.cfg.Name, err)
	}
	return nil
}

// publishEvent publishes the creation event of an object version, as the
// store would.
func (w *Watch) publishEvent(key string, size int64, version string) (jetstream.PubAckFuture, error) {
	ev := contracts.NewS3CreatedEvent(w.src.bucket, w.src.eventKey(key), size, version, time.Now())
	data, _ := json.Marshal(ev)
	msg := nats.NewMsg(w.cfg.Subject)
	msg.Data = data
	return w.cfg.Ledger.B.JS.PublishMsgAsync(msg)
}

// loadList reads the listing source's state.
func (w *Watch) loadList(ctx context.Context) (*lister, error) {
	l := &lister{recent: map[string]string{}}
	e, err := w.h.state.Get(ctx, contracts.WatchListKey(w.cfg.Name))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("watch %s: reading the listing's watermark: %w", w.cfg.Name, err)
	}
	if err := json.Unmarshal(e.Value(), &l.st); err != nil {
		return nil, fmt.Errorf("watch %s: the listing's watermark: %w", w.cfg.Name, err)
	}
	for _, kv := range l.st.Recent {
		l.recent[kv[0]] = kv[1]
	}
	return l, nil
}

// remember adds an object to the recent set, forgetting the oldest beyond
// limit (a forgotten object listed again is only published again).
func (l *lister) remember(key, etag string, limit int) {
	if _, ok := l.recent[key]; ok {
		for i, kv := range l.st.Recent {
			if kv[0] == key {
				l.st.Recent = append(l.st.Recent[:i], l.st.Recent[i+1:]...)
				break
			}
		}
	}
	l.recent[key] = etag
	l.st.Recent = append(l.st.Recent, [2]string{key, etag})
	for len(l.st.Recent) > limit {
		delete(l.recent, l.st.Recent[0][0])
		l.st.Recent = l.st.Recent[1:]
	}
}

// contentDigest is a local file's version: the digest of its content, so
// that the same content written again is the same version.
func contentDigest(ctx context.Context, s objstore.Store, key string) (string, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return "sha256-" + hex.EncodeToString(h.Sum(nil)), nil
}
