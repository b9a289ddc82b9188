package joblogs_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

// countingStore counts the bytes read from a store: neither backend can
// say how many bytes its reads returned. It reads through the store itself.
type countingStore struct {
	objstore.Store
	read int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc, &c.read}, nil
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := c.Store.(objstore.RangeGetter).GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc, &c.read}, nil
}

type countingReader struct {
	io.ReadCloser
	n *int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	*r.n += int64(n)
	return n, err
}

// A follow of a worker's growing log shows each line once, when it ends,
// and reads only the bytes added since the last Print (before, every Print
// read every file whole); a file that shrank (its worker started again) is
// shown again whole, and the overview, rewritten whole, is read again only
// when it changed. On the local folder and on MinIO alike.
func TestTailReadsOnlyWhatWasAdded(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	stores := map[string]func(t *testing.T) objstore.Store{
		"local": func(t *testing.T) objstore.Store {
			s, err := objstore.Open(t.Context(), t.TempDir(), objstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) objstore.Store {
			transport := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(transport.CloseIdleConnections)
			s, err := objstore.Open(t.Context(), "s3://"+srv.NewBucket(t)+"/out", objstore.Options{
				S3Endpoint: srv.Endpoint(), Region: miniotest.Region, AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
				HTTPClient: &http.Client{Transport: transport},
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tailFollows(t, &countingStore{Store: open(t)})
		})
	}
}

func tailFollows(t *testing.T, s *countingStore) {
	ctx := t.Context()
	put := func(key, body string) {
		t.Helper()
		if err := s.Put(ctx, key, bytes.NewReader([]byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	step := func(tail *joblogs.Tail, what, want string, wantRead int64) {
		t.Helper()
		out.Reset()
		before := s.read
		if err := tail.Print(ctx, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != want || s.read-before != wantRead {
			t.Fatalf("%s: printed %q reading %d bytes; want %q reading %d", what, out.String(), s.read-before, want, wantRead)
		}
	}
	key, part2 := contracts.LogStdout("h", "w1"), "logs/user/stdout/h/w1.stdout.2.txt"
	put(contracts.LogStdout("h", "w2"), "another worker's\n")
	tail := joblogs.NewTail(s, "w1")
	head := "==> " + key + " <==\n"
	put(key, "one\ntwo\n")
	step(tail, "first print", head+"one\ntwo\n", 8)
	put(key, "one\ntwo\nthree\nfo")
	step(tail, "grown, a line unfinished", head+"three\n", int64(len("three\nfo")))
	step(tail, "unchanged", "", 0)
	put(key, "one\ntwo\nthree\nfour\n")
	step(tail, "the line ended", head+"four\n", int64(len("ur\n")))
	put(key, "again\n")
	step(tail, "shrank: rewritten", head+"again\n", 6)
	put(part2, "five")
	step(tail, "a next part", "", 4)
	out.Reset()
	tail.Flush(&out)
	if want := "==> " + part2 + " <==\nfive\n"; out.String() != want {
		t.Fatalf("flush printed %q; want %q", out.String(), want)
	}

	overview := joblogs.NewTail(s, "")
	put(contracts.LogOverview, "running: 1 of 3\n")
	step(overview, "overview", "==> "+contracts.LogOverview+" <==\nrunning: 1 of 3\n", 16)
	step(overview, "overview unchanged", "", 0)
	put(contracts.LogOverview, "completed: 3 of 3\n")
	step(overview, "overview rewritten", "==> "+contracts.LogOverview+" <==\ncompleted: 3 of 3\n", 18)
}
