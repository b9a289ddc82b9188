package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// cutLines is the reference of lineWriter's output for whole lines: each
// line cut into lines of at most maxLineBytes, never inside a UTF-8
// character that starts in its last bytes.
func cutLines(lines []string) string {
	var b strings.Builder
	for _, line := range lines {
		for len(line) > maxLineBytes {
			n := cutAt([]byte(line[:maxLineBytes+1]))
			b.WriteString(line[:n] + "\n")
			line = line[n:]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestLineWriterCutsLongLines writes lines of every kind of length (none,
// short, exactly the bound, megabytes, multi-byte characters across the
// cut) in writes of random sizes: whatever the sizes, the log holds the
// same lines, none longer than maxLineBytes, and no byte is lost.
func TestLineWriterCutsLongLines(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var lines []string
	for _, n := range []int{0, 1, 100, maxLineBytes - 1, maxLineBytes, maxLineBytes + 1, 3*maxLineBytes + 7, 5 << 20} {
		lines = append(lines, strings.Repeat("x", n))
	}
	for _, shift := range []int{0, 1, 2, 3} { // "€" is 3 bytes, "😀" 4
		lines = append(lines, strings.Repeat("a", maxLineBytes-shift)+strings.Repeat("€😀", maxLineBytes/3))
	}
	input := strings.Join(lines, "\n") // the last line has no newline: Close hands it over
	want := cutLines(lines)
	for _, maxWrite := range []int{1 << 10, 32 << 10, 1 << 20, len(input)} {
		out, err := objstore.Open(ctx, t.TempDir(), objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		l := newJobLog(out, "job-1", "h", "w", t.TempDir())
		w := l.lines("logs/user/stdout/h/w.stdout.txt", nil)
		for rest := input; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(maxWrite))
			if _, err := w.Write([]byte(rest[:n])); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.flush(ctx); err != nil {
			t.Fatal(err)
		}
		l.close()
		got := readParts(t, out, "logs/user/stdout/h/")
		if got != want {
			t.Fatalf("writes of up to %d bytes: %d bytes logged, want %d", maxWrite, len(got), len(want))
		}
		for i, line := range strings.Split(got, "\n") {
			if len(line) > maxLineBytes {
				t.Fatalf("line %d has %d bytes", i, len(line))
			}
			if !utf8.ValidString(line) {
				t.Fatalf("line %d was cut inside a character", i)
			}
		}
	}
}

// readParts returns the log parts under prefix, concatenated in part order.
func readParts(t testing.TB, out objstore.Store, prefix string) string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	if err := out.List(ctx, prefix, func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	part := func(k string) int { // w.stdout.txt is 1, w.stdout.2.txt 2, ...
		f := strings.Split(path.Base(k), ".")
		n, err := strconv.Atoi(f[len(f)-2])
		if err != nil {
			return 1
		}
		return n
	}
	sort.Slice(keys, func(i, j int) bool { return part(keys[i]) < part(keys[j]) })
	var b strings.Builder
	for _, k := range keys {
		rc, err := out.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(&b, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	return b.String()
}

// BenchmarkLineWriter writes output of growing size, with and without line
// breaks, in 32 KiB writes (as the script's pipe delivers it): the cost per
// byte stays the same whatever the size, so the total is linear in it.
func BenchmarkLineWriter(b *testing.B) {
	const chunk = 32 << 10
	for _, newlines := range []bool{false, true} {
		for _, size := range []int{1 << 20, 8 << 20, 64 << 20} {
			b.Run(fmt.Sprintf("newlines=%v/MiB=%d", newlines, size>>20), func(b *testing.B) {
				buf := []byte(strings.Repeat("0123456789abcdef", chunk/16))
				if newlines {
					for i := 99; i < len(buf); i += 100 {
						buf[i] = '\n'
					}
				}
				l := newJobLog(nil, "job-1", "h", "w", b.TempDir())
				defer l.close()
				b.SetBytes(int64(size))
				for b.Loop() {
					w := l.lines("logs/user/stdout/h/w.stdout.txt", nil)
					for written := 0; written < size; written += chunk {
						_, _ = w.Write(buf)
					}
					_ = w.Close()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/byte")
			})
		}
	}
}

// TestAttemptRecordsShowNamesReadably: a first item whose name is not
// UTF-8 is shown with \xNN in the records, the node log and tracebacks.
func TestAttemptRecordsShowNamesReadably(t *testing.T) {
	ctx := context.Background()
	out, err := objstore.Open(ctx, t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := newJobLog(out, "job-1", "h", "w", t.TempDir())
	l.attempt(contracts.AttemptRecord{Index: 1, Attempt: 1, Items: 2, Failed: 2, Result: contracts.ResultFailed,
		ErrorType: "KeyError", Error: "'bad\xffname.txt'", FirstItem: "bad\xffname.txt"}, "Traceback: bad\xffname.txt\n")
	if err := l.flush(ctx); err != nil {
		t.Fatal(err)
	}
	l.close()
	var rec contracts.AttemptRecord
	if err := json.Unmarshal([]byte(readParts(t, out, "logs/sys/job_report/workers/")), &rec); err != nil ||
		rec.FirstItem != `bad\xffname.txt` || rec.Error != `'bad\xffname.txt'` {
		t.Errorf("record %+v, %v", rec, err)
	}
	for _, prefix := range []string{"logs/sys/node/", "logs/user/error/"} {
		got := readParts(t, out, prefix)
		if !strings.Contains(got, `bad\xffname.txt`) || !utf8.ValidString(got) {
			t.Errorf("%s: %q", prefix, got)
		}
	}
}
