package objstore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	prsretry "github.com/parallelrun/prs/internal/retry"
)

// Sentinel errors. Errors returned by a [Store], [Open] and [Check] wrap them,
// so test them with errors.Is. ErrNotFound, ErrBucketNotFound,
// ErrAccessDenied, ErrInvalidURI and ErrInvalidKey are marked permanent
// (retry.IsPermanent): a worker does not try them again.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = prsretry.Permanent(errors.New("objstore: object not found"))
	// ErrBucketNotFound: the bucket (or, for the local backend, the root
	// folder) does not exist.
	ErrBucketNotFound = prsretry.Permanent(errors.New("objstore: bucket not found"))
	// ErrAccessDenied: the credentials are wrong or lack a permission.
	ErrAccessDenied = prsretry.Permanent(errors.New("objstore: access denied"))
	// ErrInvalidURI: the store URI cannot be parsed.
	ErrInvalidURI = prsretry.Permanent(errors.New("objstore: invalid URI"))
	// ErrInvalidKey: the key is empty, absolute, or escapes the store's root.
	ErrInvalidKey = prsretry.Permanent(errors.New("objstore: invalid key"))
	// ErrExists: PutIfAbsent found an object under the key.
	ErrExists = errors.New("objstore: object exists")
)

// opError is the error type of the backends: it names the operation and the
// object's URI, and wraps both a sentinel (kind, may be nil) and the original
// error, so that errors.Is(err, ErrNotFound) and errors.As(err, &smithyErr)
// both work.
type opError struct {
	op   string // "get", "put", ...
	uri  string // object or store URI
	kind error  // sentinel, or nil
	err  error  // original error
}

func (e *opError) Error() string {
	msg := "objstore: " + e.op + " " + e.uri + ": "
	if e.kind != nil {
		msg += strings.TrimPrefix(e.kind.Error(), "objstore: ") + ": "
	}
	return msg + e.err.Error()
}

func (e *opError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// transientHTTPCodes are the HTTP status codes after which a request is worth
// repeating.
func transientHTTPCode(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// transientAPICodes are S3 error codes after which a request is worth
// repeating, besides the SDK's list of throttling codes.
var transientAPICodes = map[string]bool{
	"InternalError":                  true,
	"ServiceUnavailable":             true,
	"SlowDown":                       true,
	"RequestTimeout":                 true,
	"RequestTimeoutException":        true,
	"XMinioServerNotInitialized":     true,
	"XMinioReadQuorum":               true,
	"XMinioWriteQuorum":              true,
	"OperationAborted":               true,
	"IncompleteBody":                 true,
	"ConditionalRequestConflict":     true, // concurrent conditional writes: try again
	"RequestTimeTooSkewed":           false,
	"ExpiredToken":                   false,
	"InvalidAccessKeyId":             false,
	"SignatureDoesNotMatch":          false,
	"AccessDenied":                   false,
	"NoSuchKey":                      false,
	"NoSuchBucket":                   false,
	"NotFound":                       false,
	"InvalidBucketName":              false,
	"PreconditionFailed":             false,
	"EntityTooLarge":                 false,
	"XMinioStorageFull":              false,
	"XMinioAdminBucketQuotaExceeded": false,
}

// IsTransient reports whether err is worth retrying: HTTP 5xx, 429 and 408
// responses, S3 throttling (503 SlowDown and the like), timeouts, refused or
// reset connections and io.ErrUnexpectedEOF. It is false for nil, for
// [ErrNotFound], [ErrBucketNotFound], [ErrAccessDenied], [ErrInvalidURI],
// [ErrInvalidKey], [ErrExists], for context.Canceled, and for anything it does not
// recognise (unknown errors are treated as permanent).
//
// context.DeadlineExceeded counts as a timeout and so as transient;
// [WithRetry] nevertheless stops as soon as its own context is done.
func IsTransient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, ErrNotFound),
		errors.Is(err, ErrBucketNotFound),
		errors.Is(err, ErrAccessDenied),
		errors.Is(err, ErrInvalidURI),
		errors.Is(err, ErrInvalidKey),
		errors.Is(err, ErrExists):
		return false
	case errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT):
		return true
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if transient, known := transientAPICodes[apiErr.ErrorCode()]; known {
			return transient
		}
		if _, throttle := retry.DefaultThrottleErrorCodes[apiErr.ErrorCode()]; throttle {
			return true
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() != 0 {
		return transientHTTPCode(status.HTTPStatusCode())
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}
