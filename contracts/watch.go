package contracts

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Names of what prs watch keeps in JetStream.
const (
	// WatchBucket is the KV bucket of every watch's state, its committed
	// mini-batch plans, its windows and its listing watermark.
	WatchBucket = "PRS_WATCH"
	// WatchSeenBucket is the KV bucket of the object versions a watch has
	// taken (deduplication). Its entries expire after the bucket's MaxAge,
	// set when it is created (prs watch --dedup-ttl).
	WatchSeenBucket = "PRS_WATCH_SEEN"
	// WatchConsumer is the durable pull consumer of a watch's event stream.
	WatchConsumer = "prs-watch"
	// maxWatchName leaves room in a job id for "-" and a window id.
	maxWatchName = 48
)

// ValidateWatchName checks a watch's name for use in stream names, subjects,
// KV keys and job ids.
func ValidateWatchName(name string) error {
	if !validName(name) || len(name) > maxWatchName {
		return &FieldError{Field: "name", Err: fmt.Errorf("%w: %q must be 1-%d letters, digits, '_' or '-'", ErrInvalid, name, maxWatchName)}
	}
	return nil
}

// WatchEventStream is the stream that holds a watch's object events.
func WatchEventStream(watch string) string { return "PRS_EVENTS_" + watch }

// WatchEventSubject is the default subject of a watch's object events (the
// subject MinIO publishes to, and the listing source too).
func WatchEventSubject(watch string) string { return "prs.events." + watch }

// WatchStateKey holds a watch's WatchState.
func WatchStateKey(watch string) string { return watch + ".state" }

// WatchPlanKey holds a committed mini-batch's WatchPlan until it is
// published; term and seq make it the leader's own.
func WatchPlanKey(watch string, term, seq int64) string {
	return fmt.Sprintf("%s.plan.%d.%d", watch, term, seq)
}

// WatchWindowKey holds a watch's WindowRecord.
func WatchWindowKey(watch string, window int64) string {
	return fmt.Sprintf("%s.window.%d", watch, window)
}

// WatchWindowPattern matches the window keys of a watch.
func WatchWindowPattern(watch string) string { return watch + ".window.*" }

// WatchListKey holds a listing source's WatchListState.
func WatchListKey(watch string) string { return watch + ".list" }

// WatchSeenKey is the deduplication key of an object version (its digest).
func WatchSeenKey(watch, digest string) string { return watch + "." + digest }

// WindowID names a window in its output folder: its number, zero-padded.
func WindowID(window int64) string { return fmt.Sprintf("%06d", window) }

// WindowJobID is the job id of a watch's window: the same for the same
// watch and window, so that a restarted watch resumes the window's job.
func WindowJobID(watch string, window int64) string { return watch + "-" + WindowID(window) }

// WatchState is a watch's record in KV, changed only by compare-and-swap by
// the replica that leads it.
type WatchState struct {
	// Owner is the replica that leads the watch; Renewed is when it last
	// said so. Another replica takes over when Renewed is older than the
	// lease, and counts Term up.
	Owner   string    `json:"owner"`
	Renewed time.Time `json:"renewed"`
	Term    int64     `json:"term"`
	// Window is the current window's number, from 1.
	Window int64 `json:"window"`
	// Opened is the time of the current window's first object event (zero
	// while nothing is committed to it).
	Opened time.Time `json:"opened,omitzero"`
	// Files and Batches committed to the current window.
	Files   int64 `json:"files"`
	Batches int64 `json:"batches"`
	// Plans are committed mini-batches (keys of WatchPlan records) whose
	// publication is not yet known to be complete.
	Plans []string `json:"plans,omitempty"`
	// Seals are closed windows whose jobs are not yet known to be sealed.
	Seals []WindowSeal `json:"seals,omitempty"`
	// Seq numbers the leader's plan records within its term.
	Seq int64 `json:"seq"`
}

// WindowSeal is a closed window: its job is sealed at these totals.
type WindowSeal struct {
	Window  int64  `json:"window"`
	JobID   string `json:"job_id"`
	Files   int64  `json:"files"`
	Batches int64  `json:"batches"`
}

// WatchPlan is a committed mini-batch of a window: its items never change.
type WatchPlan struct {
	Window int64  `json:"window"`
	JobID  string `json:"job_id"`
	Index  int64  `json:"index"`
	Items  []Item `json:"items"`
	// Digests are the items' deduplication digests, in item order.
	Digests []string `json:"digests"`
	// Files and Batches are the window's totals once this plan is in.
	Files   int64 `json:"files"`
	Batches int64 `json:"batches"`
}

// WindowRecord describes one window of a watch.
type WindowRecord struct {
	Window int64     `json:"window"`
	JobID  string    `json:"job_id"`
	Output string    `json:"output"`
	Opened time.Time `json:"opened"`
}

// WatchListState is a listing source's watermark.
type WatchListState struct {
	// After is the greatest key listed so far: a listing starts after it.
	After string `json:"after"`
	// Listings counts the listings done; every few of them is a full one,
	// which finds objects that appeared below After.
	Listings int64 `json:"listings"`
	// Recent holds the most recently listed objects, oldest first, as
	// key and ETag pairs: a full listing publishes no event for them.
	Recent [][2]string `json:"recent,omitempty"`
}

// S3Event is the body of an S3 bucket notification as MinIO publishes it
// to NATS (and AWS S3 to SQS/SNS): Records, each one object event.
type S3Event struct {
	EventName string          `json:"EventName,omitempty"`
	Key       string          `json:"Key,omitempty"`
	Records   []S3EventRecord `json:"Records"`
}

// S3EventRecord is one object event.
type S3EventRecord struct {
	EventName string    `json:"eventName"`
	EventTime time.Time `json:"eventTime,omitzero"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object S3EventObject `json:"object"`
	} `json:"s3"`
}

// S3EventObject is the object of an event. Key is URL-encoded.
type S3EventObject struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"eTag"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// Created reports whether the record is an object's creation (a put, a
// copy, a completed multipart upload): "s3:ObjectCreated:Put" (MinIO) or
// "ObjectCreated:Put" (AWS).
func (r *S3EventRecord) Created() bool {
	return strings.HasPrefix(strings.TrimPrefix(r.EventName, "s3:"), "ObjectCreated:")
}

// ObjectKey is the record's object key, decoded.
func (r *S3EventRecord) ObjectKey() (string, error) {
	k, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return "", fmt.Errorf("object key %q: %w", r.S3.Object.Key, err)
	}
	return k, nil
}

// NewS3CreatedEvent is the event of one created object, as the listing
// source publishes it.
func NewS3CreatedEvent(bucket, key string, size int64, etag string, at time.Time) S3Event {
	var r S3EventRecord
	r.EventName, r.EventTime = "s3:ObjectCreated:Put", at.UTC()
	r.S3.Bucket.Name = bucket
	r.S3.Object = S3EventObject{Key: url.QueryEscape(key), Size: size, ETag: etag}
	return S3Event{EventName: r.EventName, Key: bucket + "/" + key, Records: []S3EventRecord{r}}
}
