package miniotest_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/goleak"

	"github.com/parallelrun/prs/internal/miniotest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client returns an S3 client for srv whose connections are closed when the
// test ends.
func client(t *testing.T, srv *miniotest.Server) *s3.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.Endpoint()),
		UsePathStyle: true,
		Region:       miniotest.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey(), srv.SecretKey(), ""),
		HTTPClient:   &http.Client{Transport: transport},
		Retryer:      aws.NopRetryer{},
	})
}

func TestStartBucketRestart(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	c := client(t, srv)

	b1, b2 := srv.NewBucket(t), srv.NewBucket(t)
	if b1 == b2 || len(b1) < 3 || len(b1) > 63 || strings.ToLower(b1) != b1 {
		t.Fatalf("bucket names %q, %q", b1, b2)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b1), Key: aws.String("k"), Body: strings.NewReader("v"),
	}); err != nil {
		t.Fatal(err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b1)}); err == nil {
		t.Fatal("HeadBucket succeeded on a stopped server")
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b1), Key: aws.String("k")}); err != nil {
		t.Fatalf("object lost across restart: %v", err)
	}
	if _, err := os.Stat(srv.LogPath()); err != nil {
		t.Fatal(err)
	}
}

func TestFindBinaryMissing(t *testing.T) {
	t.Setenv("PRS_MINIO_BIN", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := miniotest.FindBinary()
	if err == nil || !strings.Contains(err.Error(), "go tool task minio") {
		t.Fatalf("FindBinary() error = %v, want one that says to run `go tool task minio`", err)
	}

	missing := filepath.Join(t.TempDir(), "minio")
	t.Setenv("PRS_MINIO_BIN", missing)
	if _, err := miniotest.FindBinary(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("FindBinary() error = %v, want one naming %s", err, missing)
	}
	if _, _, err := miniotest.StartMain(); err == nil {
		t.Fatal("StartMain succeeded without a binary")
	}
}

func TestStartFailureQuotesLog(t *testing.T) {
	// A "binary" that prints and exits: the error must carry its output.
	bin := filepath.Join(t.TempDir(), "minio")
	script := "#!/bin/sh\necho 'FATAL simulated start failure' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PRS_MINIO_BIN", bin)
	_, _, err := miniotest.StartMain()
	if err == nil || !strings.Contains(err.Error(), "simulated start failure") {
		t.Fatalf("StartMain() error = %v, want the log tail", err)
	}
}
