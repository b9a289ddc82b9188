package objstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/parallelrun/prs/internal/redact"
)

// ObjectInfo describes one object.
type ObjectInfo struct {
	// Key is relative to the store's root, with "/" separators.
	Key string
	// Size in bytes.
	Size int64
	// ETag changes when the object changes. For S3 it is the S3 ETag without
	// quotes; for the local backend it is "<size hex>-<mtime ns hex>", cheap
	// and stable as long as the file is not modified.
	ETag string
}

// Store is rooted at a URI's prefix: keys are relative to it, use "/"
// separators and never start with "/".
//
// A Store is safe for concurrent use.
type Store interface {
	// List calls fn for every object whose key starts with prefix ("" = all),
	// in byte-wise lexicographic order of the full key (as S3 ListObjectsV2
	// does), streaming: the whole listing is never held in memory. An error
	// returned by fn stops the listing and is returned as is.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Get opens the object for reading; the caller closes it. It returns an
	// error wrapping ErrNotFound when the object is absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object; ErrNotFound when absent.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Put writes the whole object atomically from body's current position to
	// its end: readers see the old object or the new one, never a part.
	Put(ctx context.Context, key string, body io.ReadSeeker) error
	// PutIfAbsent writes the whole object as Put does, but only when no
	// object has the key: when one has, it changes nothing and returns an
	// error wrapping ErrExists. Of concurrent calls for one key, exactly one
	// succeeds (a first-writer-wins marker in the store itself: S3's
	// conditional PutObject with If-None-Match "*", a hard link that may not
	// replace its target on a local folder). Bodies are limited to 5 GiB.
	//
	// Through WithRetry, an attempt whose answer was lost may have created
	// the object: a retried call can then report ErrExists for the caller's
	// own object, so a caller that must know compares the content.
	PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker) error
	// Delete removes the object; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// URI names the object for humans and logs: "s3://bucket/prefix/key" or
	// the local file path. URI("") names the store's root, in a form that
	// Open accepts.
	URI(key string) string
}

// LocalPather is implemented by the local backend: LocalPath returns the
// file's own path, so that workers need not copy inputs. ok is false when the
// key is invalid; the file's existence is not checked.
type LocalPather interface {
	LocalPath(key string) (path string, ok bool)
}

// Options configures [Open]. The zero value is usable.
type Options struct {
	// S3Endpoint overrides the S3 endpoint, e.g. "http://127.0.0.1:9000" for
	// MinIO; path-style addressing is used when it is set. Default: the AWS
	// endpoint of Region (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set).
	S3Endpoint string
	// Region of the bucket. Default: the region of the standard AWS
	// configuration (AWS_REGION, profile), else "us-east-1".
	Region string
	// AccessKey and SecretKey are static S3 credentials. Default (AccessKey
	// empty): the standard AWS credential chain (environment, shared files,
	// instance role, ...).
	AccessKey, SecretKey string
	// HTTPClient carries the S3 requests. Default: the SDK's client. When set
	// it is used as is: AWS_CA_BUNDLE is not applied to it. Tests pass their
	// own to close idle connections at the end.
	HTTPClient *http.Client
	// Logger receives warnings such as retried errors. Default: slog.Default().
	Logger *slog.Logger
	// PartSize is the size in bytes of the parts of S3 multipart uploads
	// (of [Create], and of Put for bodies over 64 MiB). Default (0): 16 MiB.
	// S3 refuses parts under 5 MiB (but the last), so Open does too.
	PartSize int64
}

// minPartSize is the smallest part S3 accepts, but for the last one.
const minPartSize = 5 << 20

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// Open parses uri and returns the store it names:
//
//   - "s3://bucket" or "s3://bucket/prefix": S3 (prefix may be empty; a
//     trailing "/" is implied),
//   - a local folder path, absolute or relative, or "file:///abs/path".
//
// For S3 it checks nothing over the network and for a local folder it does
// not check that the folder exists: call [Check] for that. Malformed URIs
// give an error wrapping [ErrInvalidURI].
func Open(ctx context.Context, uri string, opts Options) (Store, error) {
	switch {
	case uri == "":
		return nil, fmt.Errorf("%w: empty", ErrInvalidURI)
	case len(uri) >= 5 && strings.EqualFold(uri[:5], "s3://"):
		bucket, prefix, err := parseS3URI(uri)
		if err != nil {
			return nil, err
		}
		return openS3(ctx, bucket, prefix, opts)
	case len(uri) >= 5 && strings.EqualFold(uri[:5], "file:"):
		path, err := parseFileURI(uri)
		if err != nil {
			return nil, err
		}
		return openLocal(path, opts)
	case strings.Contains(uri, "://") && schemeRE.MatchString(uri):
		return nil, fmt.Errorf("%w: %q: unsupported scheme (want s3://, file:// or a local path)", ErrInvalidURI, redact.URL(uri))
	default:
		return openLocal(uri, opts)
	}
}

// parseS3URI splits "s3://bucket/prefix" into the bucket and the key prefix,
// which is "" or ends with "/". It does not use net/url: keys may hold '%',
// '?' or '#', which are not escapes here.
func parseS3URI(uri string) (bucket, prefix string, err error) {
	rest := uri[len("s3://"):]
	bucket, prefix, _ = strings.Cut(rest, "/")
	if strings.Contains(bucket, "@") {
		return "", "", fmt.Errorf("%w: %q: credentials do not belong in an S3 URI (they come from the AWS credential chain)", ErrInvalidURI, redact.URL(uri))
	}
	if err := validateBucket(bucket); err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrInvalidURI, uri, err)
	}
	if strings.HasPrefix(prefix, "/") {
		return "", "", fmt.Errorf("%w: %q: prefix starts with \"/\"", ErrInvalidURI, uri)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// validateBucket accepts S3 bucket names: 3-63 characters of letters, digits,
// '.', '-' and '_' (upper case and '_' only occur in legacy buckets), starting
// and ending with a letter or digit.
func validateBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must have 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (c != '.' && c != '-' && c != '_' || i == 0 || i == len(b)-1) {
			return fmt.Errorf("bucket name %q has invalid character %q", b, c)
		}
	}
	return nil
}

// parseFileURI returns the local path of "file:///abs/path" or
// "file://localhost/abs/path" (percent escapes decoded).
func parseFileURI(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		// url.Error quotes the URI whole, user information included.
		return "", fmt.Errorf("%w: %q: not a file:// URI", ErrInvalidURI, redact.URL(uri))
	}
	if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") || u.Path == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: %q: want file:///absolute/path", ErrInvalidURI, redact.URL(uri))
	}
	return filepath.FromSlash(u.Path), nil
}

// validateKey rejects keys that no backend accepts: empty, starting with "/",
// or holding a NUL byte.
func validateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q starts with \"/\"", ErrInvalidKey, key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: %q holds a NUL byte", ErrInvalidKey, key)
	}
	return nil
}
