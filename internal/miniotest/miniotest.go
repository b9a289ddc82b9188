// Package miniotest starts a real MinIO server process for tests of the S3
// code paths.
//
// Share one server per test binary from TestMain:
//
//	var minio *miniotest.Server
//
//	func TestMain(m *testing.M) {
//		srv, stop, err := miniotest.StartMain()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		minio = srv
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// and give each test its own bucket with [Server.NewBucket]. A test that
// stops or restarts the server to simulate an outage should start its own
// with [Start].
//
// The MinIO binary is found through $PRS_MINIO_BIN, else
// $HOME/.cache/prs/bin/minio, else "minio" on PATH. When there is none the
// tests fail (they never skip) and say to run `go tool task minio`.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	// Region is the region to configure S3 clients with.
	Region = "us-east-1"

	accessKey = "prs-test-user"
	secretKey = "prs-test-secret-key"

	// startTimeout bounds the wait for the health check to answer.
	startTimeout = 30 * time.Second
	// logTailBytes of MinIO's output are quoted when it fails to start.
	logTailBytes = 4000
)

// Server is a running MinIO process with its own data folder on 127.0.0.1.
type Server struct {
	bin         string
	dir         string // temporary folder holding data, certs and the log
	addr        string // host:port of the S3 API
	consoleAddr string
	bucketTag   string // random, to make bucket names unique across runs
	buckets     atomic.Int64
	httpClient  *http.Client
	admin       *s3.Client

	env []string // extra environment, such as notification targets

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited
}

// FindBinary returns the MinIO binary to run: $PRS_MINIO_BIN when set (it
// must exist), else $HOME/.cache/prs/bin/minio when it exists, else "minio"
// on PATH.
func FindBinary() (string, error) {
	const hint = "run `go tool task minio` to build it into $HOME/.cache/prs/bin"
	if p := os.Getenv("PRS_MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("miniotest: PRS_MINIO_BIN=%s: %w; unset it or %s", p, err, hint)
		}
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "prs", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("miniotest: MinIO binary not found in $PRS_MINIO_BIN, $HOME/.cache/prs/bin/minio or PATH: %s", hint)
}

// Start starts a server for one test and stops it, removing its data, when
// the test ends. It fails the test when MinIO cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartEnv(t)
}

// StartEnv is Start with MINIO_* settings added to the server's
// environment, e.g. a bucket notification target
// ("MINIO_NOTIFY_NATS_ENABLE_PRS=on", ...); they hold across Restart.
func StartEnv(t testing.TB, env ...string) *Server {
	t.Helper()
	s, stop, err := startMain(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// StartMain starts a server, for use from TestMain. The returned function
// stops the server and removes its data folder; call it before the goroutine
// leak check.
func StartMain() (*Server, func(), error) { return startMain(nil) }

func startMain(env []string) (*Server, func(), error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "prs-minio-")
	if err != nil {
		return nil, nil, fmt.Errorf("miniotest: %w", err)
	}
	for _, sub := range []string{"data", "certs"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("miniotest: %w", err)
		}
	}
	tag := make([]byte, 4)
	_, _ = rand.Read(tag)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	s := &Server{
		bin:        bin,
		dir:        dir,
		bucketTag:  hex.EncodeToString(tag),
		env:        env,
		httpClient: &http.Client{Transport: transport, Timeout: 30 * time.Second},
	}
	cleanup := func() {
		_ = s.Stop()
		transport.CloseIdleConnections()
		os.RemoveAll(dir)
	}

	// A port picked free may be taken before MinIO binds it: try again with
	// other ports.
	for attempt := 1; ; attempt++ {
		s.addr, err = freeAddr()
		if err == nil {
			s.consoleAddr, err = freeAddr()
		}
		if err == nil {
			err = s.start()
		}
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "already in use") {
			cleanup()
			return nil, nil, err
		}
	}
	s.admin = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint()),
		UsePathStyle: true,
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:   s.httpClient,
		Retryer:      aws.NopRetryer{},

		DisableLogOutputChecksumValidationSkipped: true,
	})
	return s, cleanup, nil
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("miniotest: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Endpoint is the S3 API's URL, "http://127.0.0.1:PORT".
func (s *Server) Endpoint() string { return "http://" + s.addr }

// Addr is the S3 API's "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// AccessKey is the root user's access key.
func (s *Server) AccessKey() string { return accessKey }

// SecretKey is the root user's secret key.
func (s *Server) SecretKey() string { return secretKey }

// LogPath is the file that receives MinIO's output.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "minio.log") }

// NewBucket creates a bucket with a fresh name (lower case, at most 63
// characters) and returns its name. It fails the test on error.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("prs-test-%s-%d", s.bucketTag, s.buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		_, err := s.admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		if err == nil {
			return name
		}
		// Right after start MinIO may still be initialising: retry until
		// the deadline.
		select {
		case <-ctx.Done():
			t.Fatalf("miniotest: create bucket %s: %v", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills the server process and waits for it to exit. The data folder
// and the ports are kept for Restart. Stopping a stopped server does
// nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	err := s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("miniotest: stop: %w", err)
	}
	return nil
}

// Restart stops the server if it runs and starts it again on the same ports
// with the same data, waiting until it is healthy. Objects and buckets
// survive.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start()
}

// start runs MinIO and waits until GET /minio/health/live answers 200.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("miniotest: already running")
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("miniotest: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "\n=== miniotest: starting %s on %s at %s\n", s.bin, s.addr, time.Now().Format(time.RFC3339Nano))
	logStart, _ := logf.Seek(0, io.SeekCurrent)

	cmd := exec.Command(s.bin, "server", filepath.Join(s.dir, "data"),
		"--address", s.addr,
		"--console-address", s.consoleAddr,
		"--certs-dir", filepath.Join(s.dir, "certs"),
	)
	cmd.Env = append(minioEnv(), s.env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("miniotest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	if err := s.waitHealthy(done); err != nil {
		_ = s.stopLocked()
		return fmt.Errorf("miniotest: MinIO on %s: %w\n--- tail of %s ---\n%s", s.addr, err, s.LogPath(), s.logTail(logStart))
	}
	return nil
}

// waitHealthy polls the liveness endpoint, then the cluster endpoint (write
// quorum: MinIO answers requests instead of 503), until both answer 200, the
// process exits or startTimeout passes.
func (s *Server) waitHealthy(done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, path := range []string{"/minio/health/live", "/minio/health/cluster"} {
		if err := s.waitOK(ctx, done, s.Endpoint()+path); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) waitOK(ctx context.Context, done <-chan struct{}, url string) error {
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := s.httpClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		lastErr = err
		select {
		case <-done:
			return errors.New("process exited before it was healthy")
		case <-ctx.Done():
			return fmt.Errorf("not healthy after %s: %w", startTimeout, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail returns the end of the log written since offset from.
func (s *Server) logTail(from int64) string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if from > 0 && from <= int64(len(b)) {
		b = b[from:]
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// minioEnv is the test's environment without MINIO_* settings, plus the root
// credentials and settings that keep MinIO quiet and local.
func minioEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"MINIO_ROOT_USER="+accessKey,
		"MINIO_ROOT_PASSWORD="+secretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1", // allows a data folder on the root drive
	)
}
