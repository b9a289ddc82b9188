package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// origin is where the watched objects live: an S3 bucket and key prefix,
// or a local folder (bucket empty, root its absolute path).
type origin struct {
	cfg    *contracts.Config
	input  objstore.Store
	bucket string
	prefix string // "" or ending in "/"
	root   string // a local folder's absolute path
}

func newOrigin(c *contracts.Config, input objstore.Store) (*origin, error) {
	o := &origin{cfg: c, input: input}
	if rest, ok := strings.CutPrefix(c.Input, "s3://"); ok {
		o.bucket, o.prefix, _ = strings.Cut(rest, "/")
		if o.prefix != "" && !strings.HasSuffix(o.prefix, "/") {
			o.prefix += "/"
		}
		return o, nil
	}
	root, err := filepath.Abs(strings.TrimPrefix(c.Input, "file://"))
	if err != nil {
		return nil, &contracts.FieldError{Field: "input", Err: err}
	}
	o.root = filepath.ToSlash(root)
	return o, nil
}

// local reports whether the input is a local folder.
func (o *origin) local() bool { return o.bucket == "" }

// eventKey is the key an event names for an input key: the bucket's key.
func (o *origin) eventKey(key string) string { return o.prefix + key }

// digest identifies an object version: the object's place and its version
// (S3's ETag, a local file's content digest). Every source gives one
// version the same digest, so that it is taken once whatever told of it.
func (o *origin) digest(key, version string) string {
	place := "s3://" + o.bucket + "/" + o.prefix + key
	if o.local() {
		place = "file://" + o.root + "/" + key
	}
	h := sha256.Sum256([]byte(place + "\x00" + version))
	return hex.EncodeToString(h[:20])
}

// item is the input item of an event record; ok is false for a record that
// is not the creation of one of the input's files (a deletion, another
// bucket or prefix, a file that include leaves out).
func (o *origin) item(r *contracts.S3EventRecord) (it contracts.Item, digest string, ok bool) {
	if !r.Created() || r.S3.Bucket.Name != o.bucket {
		return it, "", false
	}
	full, err := r.ObjectKey()
	if err != nil {
		return it, "", false
	}
	key, found := strings.CutPrefix(full, o.prefix)
	if !found || key == "" || strings.HasSuffix(key, "/") || !inputlist.Keep(o.cfg, key) {
		return it, "", false
	}
	version := strings.Trim(r.S3.Object.ETag, `"`)
	if version == "" {
		version = r.S3.Object.VersionID
	}
	return contracts.Item{Key: key, Size: r.S3.Object.Size, ETag: version}, o.digest(key, version), true
}

// taken is an item taken from an event, with its digest.
type taken struct {
	item   contracts.Item
	digest string
}

// held is an event whose items are pending, and when it was last told to
// wait (its ack timer reset).
type held struct {
	msg  jetstream.Msg
	beat time.Time
}

// take turns one event into pending items; the event is acked at once when
// none of its records is pending, else once they are committed.
func (w *Watch) take(ctx context.Context, msg jetstream.Msg) error {
	var ev contracts.S3Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		w.log.Warn("an event that is not an S3 event notification is dropped", "subject", msg.Subject(), "err", err)
		return msg.Term()
	}
	mine := false
	for i := range ev.Records {
		it, digest, ok := w.src.item(&ev.Records[i])
		if !ok {
			continue
		}
		dup, err := w.taken(ctx, digest)
		if err != nil {
			return err
		}
		if dup {
			w.log.Debug("object version taken before", "key", it.Key, "etag", it.ETag)
			w.cfg.Metrics.Duplicates(w.cfg.Name, 1)
			continue
		}
		w.log.Debug("object version taken", "key", it.Key, "etag", it.ETag)
		if w.firstAt.IsZero() && w.st.Opened.IsZero() {
			w.firstAt = time.Now().UTC()
		}
		w.pending = append(w.pending, taken{item: it, digest: digest})
		w.pendingSet[digest] = true
		mine = true
		if int64(len(w.pending)) >= w.capacity() {
			if err := w.commit(ctx); err != nil {
				return err
			}
			mine = false
			if w.st.Files >= w.cfg.WindowFiles {
				if err := w.closeWindow(ctx); err != nil {
					return err
				}
			}
		}
	}
	if mine {
		w.held = append(w.held, held{msg: msg, beat: time.Now()})
		return nil
	}
	return ack(msg)
}

// takeAll takes events in order, after looking up their versions in the
// seen bucket together (lookAhead).
func (w *Watch) takeAll(ctx context.Context, msgs []jetstream.Msg) error {
	w.lookAhead(ctx, msgs)
	defer func() { w.known = nil }()
	for _, msg := range msgs {
		if err := w.take(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

// lookAhead looks the versions of events up in the seen bucket, several at
// a time, into known. A failed lookup is left out: taken does it again.
func (w *Watch) lookAhead(ctx context.Context, msgs []jetstream.Msg) {
	var digests []string
	for _, msg := range msgs {
		var ev contracts.S3Event
		if json.Unmarshal(msg.Data(), &ev) != nil {
			continue
		}
		for i := range ev.Records {
			if _, d, ok := w.src.item(&ev.Records[i]); ok && !w.pendingSet[d] {
				digests = append(digests, d)
			}
		}
	}
	found := make([]int8, len(digests)) // 1 taken, -1 not, 0 unknown
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, d := range digests {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := w.h.seen.Get(ctx, contracts.WatchSeenKey(w.cfg.Name, d))
			switch {
			case err == nil:
				found[i] = 1
			case errors.Is(err, jetstream.ErrKeyNotFound):
				found[i] = -1
			}
		}()
	}
	wg.Wait()
	w.known = make(map[string]bool, len(digests))
	for i, d := range digests {
		if found[i] != 0 {
			w.known[d] = found[i] > 0
		}
	}
}

// taken reports whether an object version was taken already: pending here,
// or committed to a mini-batch (its seen key).
func (w *Watch) taken(ctx context.Context, digest string) (bool, error) {
	if w.pendingSet[digest] {
		return true, nil
	}
	if v, ok := w.known[digest]; ok {
		return v, nil
	}
	_, err := w.h.seen.Get(ctx, contracts.WatchSeenKey(w.cfg.Name, digest))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, err
}

// capacity is how many items the pending mini-batch takes: mini_batch_size,
// or fewer when the window has room for fewer files.
func (w *Watch) capacity() int64 {
	per, _ := w.cfg.Template.Config.FilesPerBatch()
	return max(1, min(int64(per), w.cfg.WindowFiles-w.st.Files))
}

// beat resets the ack timers of events held longer than a third of the
// lease, so that a long window keeps them.
func (w *Watch) beat() {
	now := time.Now()
	for i := range w.held {
		if now.Sub(w.held[i].beat) > w.cfg.Lease/3 {
			_ = w.held[i].msg.InProgress()
			w.held[i].beat = now
		}
	}
}

// ackHeld acks the held events: their items are committed.
func (w *Watch) ackHeld() {
	for _, h := range w.held {
		_ = ack(h.msg)
	}
	w.held = w.held[:0]
}

// ack acks an event. A lost ack only delivers the event again, and its
// items are found taken.
func ack(msg jetstream.Msg) error {
	_ = msg.Ack()
	return nil
}
