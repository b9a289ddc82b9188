package objstore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

// minio is shared by the tests of this binary; each test makes its own
// bucket.
var minio *miniotest.Server

func TestMain(m *testing.M) {
	srv, stop, err := miniotest.StartMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	minio = srv
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testLogger writes to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// s3Options connects to the shared MinIO with an HTTP client whose idle
// connections are closed when the test ends.
func s3Options(t testing.TB) objstore.Options { return s3OptionsFor(t, minio) }

func s3OptionsFor(t testing.TB, srv *miniotest.Server) objstore.Options {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	return objstore.Options{
		S3Endpoint: srv.Endpoint(),
		AccessKey:  srv.AccessKey(),
		SecretKey:  srv.SecretKey(),
		HTTPClient: &http.Client{Transport: transport},
		Logger:     testLogger(t),
	}
}
