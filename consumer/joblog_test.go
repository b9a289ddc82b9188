package consumer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

func TestJobLogRotatesLongFilesIntoParts(t *testing.T) {
	ctx := context.Background()
	out, err := objstore.Open(ctx, t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := newJobLog(out, "job-1", "h", "w", t.TempDir())
	line := strings.Repeat("x", 1<<20-1) + "\n" // 1 MiB
	for i := 0; i < 20; i++ {
		l.append("logs/user/stdout/h/w.stdout.txt", []byte(line))
		if i%5 == 0 {
			if err := l.flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.flush(ctx); err != nil {
		t.Fatal(err)
	}
	l.close()
	var total int64
	var keys []string
	_ = out.List(ctx, "logs/user/stdout/", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		total += o.Size
		if o.Size > rotateBytes {
			t.Errorf("%s has %d bytes, over %d", o.Key, o.Size, rotateBytes)
		}
		return nil
	})
	if total != 20<<20 {
		t.Fatalf("%d bytes in %v, want %d", total, keys, 20<<20)
	}
	want := []string{"logs/user/stdout/h/w.stdout.2.txt", "logs/user/stdout/h/w.stdout.3.txt", "logs/user/stdout/h/w.stdout.txt"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("parts %v, want %v", keys, want)
	}
	// Appends after close are dropped, not a crash.
	l.append("logs/user/stdout/h/w.stdout.txt", []byte("late\n"))
}

// BenchmarkJobLogAttempt is the per-attempt cost of the log layout on the
// hot path: a record and a node-log line, from many slots at once.
func BenchmarkJobLogAttempt(b *testing.B) {
	ctx := context.Background()
	out, err := objstore.Open(ctx, b.TempDir(), objstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	l := newJobLog(out, "job-1", "h", "w", b.TempDir())
	defer l.close()
	rec := contracts.AttemptRecord{Index: 1, Attempt: 1, Worker: "w", Host: "h", Items: 1, Succeeded: 1,
		Start: time.Now(), Seconds: 0.001, Result: contracts.ResultSucceeded, FirstItem: "f00001.txt"}
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.attempt(rec, "")
		}
	})
}
