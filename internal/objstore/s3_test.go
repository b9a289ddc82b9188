package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/objstore/storetest"
)

func openS3(t *testing.T, uri string, opts objstore.Options) objstore.Store {
	t.Helper()
	s, err := objstore.Open(t.Context(), uri, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestS3Conformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return openS3(t, "s3://"+minio.NewBucket(t), s3Options(t))
	})
}

func TestS3ConformanceWithPrefix(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) objstore.Store {
		bucket := minio.NewBucket(t)
		// An object beside the prefix must stay invisible.
		outside := openS3(t, "s3://"+bucket, s3Options(t))
		if err := outside.Put(t.Context(), "some/prefixed-but-outside", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		return openS3(t, "s3://"+bucket+"/some/prefix", s3Options(t))
	})
}

func TestS3ConformanceWithRetry(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return objstore.WithRetry(openS3(t, "s3://"+minio.NewBucket(t), s3Options(t)), 5*time.Second)
	})
}

func TestS3PrefixMapping(t *testing.T) {
	t.Parallel()
	bucket := minio.NewBucket(t)
	ctx := t.Context()
	whole := openS3(t, "s3://"+bucket, s3Options(t))
	sub := openS3(t, "s3://"+bucket+"/runs/r1/", s3Options(t))
	if err := sub.Put(ctx, "out/part-0", strings.NewReader("p0")); err != nil {
		t.Fatal(err)
	}
	if got := sub.URI("out/part-0"); got != "s3://"+bucket+"/runs/r1/out/part-0" {
		t.Fatalf("URI = %q", got)
	}
	if got := sub.URI(""); got != "s3://"+bucket+"/runs/r1" {
		t.Fatalf("URI(\"\") = %q", got)
	}
	if _, err := whole.Stat(ctx, "runs/r1/out/part-0"); err != nil {
		t.Fatalf("object not under the prefix: %v", err)
	}
	var keys []string
	if err := sub.List(ctx, "", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "out/part-0" {
		t.Fatalf("List = %q, want keys relative to the prefix", keys)
	}
	if _, ok := objstore.WithRetry(sub, 0).(objstore.LocalPather).LocalPath("out/part-0"); ok {
		t.Fatal("LocalPath ok for S3")
	}
}

func TestS3ListPaging(t *testing.T) {
	t.Parallel()
	s := openS3(t, "s3://"+minio.NewBucket(t), s3Options(t))
	const n = 1234 // more than one page of 1000
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- s.Put(t.Context(), keyN(i), strings.NewReader("x"))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	count, last := 0, ""
	if err := s.List(t.Context(), "", func(o objstore.ObjectInfo) error {
		if o.Key <= last {
			t.Fatalf("List out of order: %q after %q", o.Key, last)
		}
		count, last = count+1, o.Key
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("List gave %d keys, want %d", count, n)
	}
}

func keyN(i int) string {
	return "k/" + strings.Repeat("0", 5-len(itoa(i))) + itoa(i)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestS3Multipart(t *testing.T) {
	t.Parallel()
	s := openS3(t, "s3://"+minio.NewBucket(t), s3Options(t))
	objstore.SetMultipartForTest(s, 5<<20, 5<<20)
	data := make([]byte, 12<<20+7)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "big/file.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(t.Context(), "big/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("Stat = %+v, want %d bytes in 3 parts", info, len(data))
	}
	rc, err := s.Get(t.Context(), "big/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the uploaded data", len(got), err)
	}

	// A body failing after the first part leaves no object.
	fail := &failAfter{r: bytes.NewReader(data), n: 6 << 20}
	if err := s.Put(t.Context(), "big/failed.bin", fail); err == nil {
		t.Fatal("Put with a failing body succeeded")
	}
	if _, err := s.Stat(t.Context(), "big/failed.bin"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat after failed multipart Put = %v, want ErrNotFound", err)
	}
}

// failAfter fails reads past n bytes.
type failAfter struct {
	r   *bytes.Reader
	n   int64
	pos int64
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.pos >= f.n {
		return 0, errors.New("failing on purpose")
	}
	p = p[:min(int64(len(p)), f.n-f.pos)]
	n, err := f.r.Read(p)
	f.pos += int64(n)
	return n, err
}

func (f *failAfter) Seek(off int64, whence int) (int64, error) {
	pos, err := f.r.Seek(off, whence)
	f.pos = pos
	return pos, err
}

func TestS3CheckAndErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := minio.NewBucket(t)

	t.Run("ok", func(t *testing.T) {
		s := openS3(t, "s3://"+bucket+"/any/prefix", s3Options(t))
		if err := objstore.Check(ctx, s, false); err != nil {
			t.Fatal(err)
		}
		if err := objstore.Check(ctx, objstore.WithRetry(s, time.Second), true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		s := openS3(t, "s3://prs-no-such-bucket", s3Options(t))
		err := objstore.Check(ctx, s, false)
		if !errors.Is(err, objstore.ErrBucketNotFound) || !strings.Contains(err.Error(), "prs-no-such-bucket") {
			t.Fatalf("Check = %v, want ErrBucketNotFound naming the bucket", err)
		}
		t.Logf("Check: %v", err)
		if objstore.IsTransient(err) {
			t.Fatal("missing bucket reported as transient")
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, objstore.ErrBucketNotFound) {
			t.Fatalf("Get = %v, want ErrBucketNotFound", err)
		}
		err = s.List(ctx, "", func(objstore.ObjectInfo) error { return nil })
		if !errors.Is(err, objstore.ErrBucketNotFound) {
			t.Fatalf("List = %v, want ErrBucketNotFound", err)
		}
		if err := s.Put(ctx, "k", strings.NewReader("x")); !errors.Is(err, objstore.ErrBucketNotFound) {
			t.Fatalf("Put = %v, want ErrBucketNotFound", err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		for name, mod := range map[string]func(*objstore.Options){
			"secret":     func(o *objstore.Options) { o.SecretKey = "wrong-secret-key" },
			"access key": func(o *objstore.Options) { o.AccessKey = "nobody" },
		} {
			opts := s3Options(t)
			mod(&opts)
			s := openS3(t, "s3://"+bucket, opts)
			err := objstore.Check(ctx, s, false)
			if !errors.Is(err, objstore.ErrAccessDenied) || !strings.Contains(err.Error(), bucket) {
				t.Fatalf("%s: Check = %v, want ErrAccessDenied naming the bucket", name, err)
			}
			t.Logf("%s: Check: %v", name, err)
			if objstore.IsTransient(err) {
				t.Fatalf("%s: access denied reported as transient", name)
			}
			_, err = s.Get(ctx, "some/key")
			if !errors.Is(err, objstore.ErrAccessDenied) || !strings.Contains(err.Error(), "some/key") {
				t.Fatalf("%s: Get = %v, want ErrAccessDenied naming the key", name, err)
			}
		}
	})

	t.Run("unreachable endpoint", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		opts := s3Options(t)
		opts.S3Endpoint = "http://" + addr
		s := openS3(t, "s3://"+bucket, opts) // Open does no I/O
		err = objstore.Check(ctx, s, false)
		if err == nil || !strings.Contains(err.Error(), "endpoint "+opts.S3Endpoint) {
			t.Fatalf("Check = %v, want an error naming endpoint %s", err, opts.S3Endpoint)
		}
		t.Logf("Check: %v", err)
		if errors.Is(err, objstore.ErrBucketNotFound) || errors.Is(err, objstore.ErrAccessDenied) {
			t.Fatalf("Check = %v: wrong sentinel", err)
		}
		if !objstore.IsTransient(err) {
			t.Fatalf("IsTransient(%v) = false, want true for a refused connection", err)
		}
		start := time.Now()
		_, err = objstore.WithRetry(s, 300*time.Millisecond).Stat(ctx, "k")
		if err == nil || !strings.Contains(err.Error(), "gave up") || time.Since(start) > 5*time.Second {
			t.Fatalf("WithRetry Stat = %v after %s, want to give up after about 300ms", err, time.Since(start))
		}
	})
}

// errCounter passes calls through and counts the errors seen; it observes, it
// injects nothing.
type errCounter struct {
	objstore.Store
	errs chan error // receives the errors that fit; the rest are dropped
}

func (c *errCounter) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	info, err := c.Store.Stat(ctx, key)
	if err != nil {
		select {
		case c.errs <- err:
		default:
		}
	}
	return info, err
}

func TestS3OutageRetried(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t) // own server: this test stops it
	bucket := srv.NewBucket(t)
	inner := &errCounter{Store: openS3(t, "s3://"+bucket, s3OptionsFor(t, srv)), errs: make(chan error, 8)}
	s := objstore.WithRetry(inner, time.Minute)
	ctx := t.Context()
	if err := s.Put(ctx, "survives", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	result := make(chan error, 1)
	go func() {
		_, err := s.Stat(ctx, "survives")
		result <- err
	}()
	// Wait until the outage has been seen twice, then end it.
	timeout := time.After(20 * time.Second)
	for range 2 {
		select {
		case err := <-inner.errs:
			t.Logf("attempt failed during the outage: %v", err)
		case <-timeout:
			t.Fatal("no failed attempt seen while the server was down")
		}
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Stat across an outage = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stat did not recover after the restart")
	}
}
