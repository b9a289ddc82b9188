package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/retry"
)

func responseError(status int, code string) error {
	var inner error = errors.New("response")
	if code != "" {
		inner = &smithy.GenericAPIError{Code: code, Message: "msg"}
	}
	return &smithy.OperationError{
		ServiceID:     "S3",
		OperationName: "GetObject",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      inner,
			},
			RequestID: "req",
		},
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsTransient(t *testing.T) {
	t.Parallel()
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"not found", fmt.Errorf("get: %w", objstore.ErrNotFound), false},
		{"bucket not found", objstore.ErrBucketNotFound, false},
		{"access denied", fmt.Errorf("x: %w", objstore.ErrAccessDenied), false},
		{"invalid uri", objstore.ErrInvalidURI, false},
		{"invalid key", objstore.ErrInvalidKey, false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"canceled by SDK", &smithy.CanceledError{Err: context.Canceled}, false},
		{"deadline", context.DeadlineExceeded, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"connection refused", refused, true},
		{"connection reset", reset, true},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, true},
		{"503 SlowDown", responseError(503, "SlowDown"), true},
		{"500 InternalError", responseError(500, "InternalError"), true},
		{"502 no code", responseError(502, ""), true},
		{"429", responseError(429, ""), true},
		{"throttling code", responseError(400, "ThrottlingException"), true},
		{"404 NoSuchKey", responseError(404, "NoSuchKey"), false},
		{"403 AccessDenied", responseError(403, "AccessDenied"), false},
		{"400 InvalidArgument", responseError(400, "InvalidArgument"), false},
	}
	for _, tt := range tests {
		if got := objstore.IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// The errors that trying again cannot fix are marked permanent, also as
// a store returns them, so that a worker spends no time on them.
func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	for _, sentinel := range []error{objstore.ErrNotFound, objstore.ErrBucketNotFound, objstore.ErrAccessDenied,
		objstore.ErrInvalidURI, objstore.ErrInvalidKey} {
		if err := fmt.Errorf("op: %w", sentinel); !retry.IsPermanent(err) || !errors.Is(err, sentinel) {
			t.Errorf("%v: permanent %v", sentinel, retry.IsPermanent(err))
		}
	}
	if retry.IsPermanent(objstore.ErrExists) {
		t.Error("ErrExists is marked permanent; a conditional write's caller decides")
	}
	s, err := objstore.Open(t.Context(), t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s = objstore.WithRetry(s, time.Minute)
	for _, key := range []string{"", "/etc/passwd", "a\x00b"} {
		err := s.Put(t.Context(), key, strings.NewReader("x"))
		if !errors.Is(err, objstore.ErrInvalidKey) || !retry.IsPermanent(err) || objstore.IsTransient(err) {
			t.Errorf("Put(%q) = %v, want a permanent ErrInvalidKey", key, err)
		}
	}
}
