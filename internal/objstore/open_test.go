package objstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
)

func TestOpenS3URIs(t *testing.T) {
	t.Parallel()
	tests := []struct{ uri, root, key string }{
		{"s3://bucket", "s3://bucket", "s3://bucket/k/x"},
		{"s3://bucket/", "s3://bucket", "s3://bucket/k/x"},
		{"s3://bucket/some/prefix", "s3://bucket/some/prefix", "s3://bucket/some/prefix/k/x"},
		{"s3://bucket/some/prefix/", "s3://bucket/some/prefix", "s3://bucket/some/prefix/k/x"},
		{"S3://my.bucket-1/p%20q", "s3://my.bucket-1/p%20q", "s3://my.bucket-1/p%20q/k/x"},
	}
	for _, tt := range tests {
		// Open does no network I/O, so an unreachable endpoint is fine.
		s, err := objstore.Open(t.Context(), tt.uri, objstore.Options{S3Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b"})
		if err != nil {
			t.Fatalf("Open(%q): %v", tt.uri, err)
		}
		if got := s.URI(""); got != tt.root {
			t.Errorf("Open(%q).URI(\"\") = %q, want %q", tt.uri, got, tt.root)
		}
		if got := s.URI("k/x"); got != tt.key {
			t.Errorf("Open(%q).URI(\"k/x\") = %q, want %q", tt.uri, got, tt.key)
		}
	}
}

func TestOpenLocalURIs(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ uri, root string }{
		{"/tmp/x", "/tmp/x"},
		{"/tmp/x/", "/tmp/x"},
		{"rel/dir", filepath.Join(wd, "rel/dir")},
		{".", wd},
		{"file:///tmp/a%20b", "/tmp/a b"},
		{"file://localhost/tmp/y", "/tmp/y"},
		{"c:weird", filepath.Join(wd, "c:weird")},
	}
	for _, tt := range tests {
		s, err := objstore.Open(t.Context(), tt.uri, objstore.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", tt.uri, err)
		}
		if got := s.URI(""); got != tt.root {
			t.Errorf("Open(%q).URI(\"\") = %q, want %q", tt.uri, got, tt.root)
		}
		if _, ok := s.(objstore.LocalPather); !ok {
			t.Errorf("Open(%q) is not a LocalPather", tt.uri)
		}
	}
}

func TestOpenInvalidURIs(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"", "s3://", "s3:///prefix", "s3://ab", "s3://Bad Bucket", "s3://-bucket",
		"s3://" + string(make([]byte, 64)), "s3://bucket//x", "gs://bucket/x",
		"http://host/x", "file://otherhost/x", "file:relative", "file:///x?q=1",
	} {
		if _, err := objstore.Open(t.Context(), uri, objstore.Options{}); !errors.Is(err, objstore.ErrInvalidURI) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURI", uri, err)
		}
	}
}

// TestOpenNeverShowsCredentialsOfAURI: user information in a URI is
// refused without being quoted, whatever the scheme.
func TestOpenNeverShowsCredentialsOfAURI(t *testing.T) {
	t.Parallel()
	const secret = "S3CR3T-value"
	for _, uri := range []string{
		"s3://AKIAKEY:" + secret + "@bucket/x", "s3://" + secret + "@bucket", "S3://key:" + secret + "@bucket",
		"https://user:" + secret + "@host/x", "file://user:" + secret + "@host/x", "file://u:" + secret + "%zz@host/x",
	} {
		_, err := objstore.Open(t.Context(), uri, objstore.Options{})
		if !errors.Is(err, objstore.ErrInvalidURI) || strings.Contains(err.Error(), secret) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURI without the secret", uri, err)
		}
	}
}
