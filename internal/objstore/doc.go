// Package objstore puts object storage behind one small interface, [Store],
// with two backends: a local folder and S3 (or any S3-compatible service such
// as MinIO).
//
// The producer lists inputs with [Store.List], the workers fetch inputs with
// [Store.Get] (or, for the local backend, read them in place through
// [LocalPather]) and write per-batch results with [Store.Put], and the
// finaliser streams the final file with [Create].
//
// # Opening a store
//
// [Open] takes a URI:
//
//   - "s3://bucket" or "s3://bucket/some/prefix": an S3 bucket, optionally
//     rooted at a prefix. Keys are relative to the prefix, so key "a/b" of
//     "s3://bucket/some/prefix" is the S3 object "some/prefix/a/b".
//   - "/abs/folder", "rel/folder" or "file:///abs/folder": a local folder.
//     Key "a/b" is the file folder/a/b.
//
// Open does no I/O over the network; call [Check] to verify that the store is
// reachable and usable before starting work, so that a typo fails fast with a
// clear error ([ErrBucketNotFound], [ErrAccessDenied], or an error naming the
// endpoint that could not be reached).
//
// # Keys
//
// Keys use "/" separators, are relative to the store's root and never start
// with "/". Listing is in byte-wise lexicographic order of the full key, as S3
// ListObjectsV2 returns it, for both backends.
//
// # Errors and retries
//
// Errors wrap the sentinels [ErrNotFound], [ErrBucketNotFound],
// [ErrAccessDenied], [ErrInvalidURI], [ErrInvalidKey] and [ErrExists] so that errors.Is
// works, and they keep the original error (and its text, naming bucket and
// key) in the chain so that errors.As reaches SDK error types too.
// [IsTransient] tells whether an error is worth retrying.
//
// The backends do not retry by themselves (the S3 client's own retryer is
// switched off so that a single policy governs retries): wrap a store with
// [WithRetry] to retry transient errors with exponential backoff.
//
// # Atomicity
//
// [Store.Put] replaces an object atomically: a concurrent reader sees the
// old object or the new one, never a part. S3 gives this for free; the local
// backend writes a temporary file named ".prs-tmp-*" in the destination
// folder, fsyncs it and renames it over the destination. Listing skips such
// temporary files.
//
// [Create] streams an object of any size with bounded memory and the same
// promise: nothing is visible under the key until the [Writer]'s Close
// returns nil (an S3 multipart upload completed then, or a local temporary
// file renamed then), and Abort or a failed Close leaves the key as it was,
// aborting the multipart upload so that no parts remain.
//
// [Store.PutIfAbsent] creates an object only when its key is free (S3's
// conditional PutObject with If-None-Match "*"; a hard link on a local
// folder, which never replaces its target): of concurrent writers exactly
// one wins, the others get [ErrExists]. prs builds the lock of a job's
// output on it.
//
// # Symbolic links
//
// Listing a local folder follows a symbolic link whose target lies inside
// the folder. A link that leads out of it is skipped unless the store is
// viewed through [FollowSymlinks]; dangling links and loops are skipped
// always. Each skipped link is logged once per store, not once per listing.
package objstore
