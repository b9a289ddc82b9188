package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/resultfmt"
)

// finalTarget is an output location of the streaming tests: a MinIO bucket
// or a local folder.
type finalTarget struct {
	out     string
	uploads func(t *testing.T) []string // multipart uploads or temporary files left
	parts   string                      // the final object's ETag suffix, "" when not checked
}

// minioTarget starts MinIO and returns a ledger whose stores upload in
// parts of 5 MiB (S3's smallest but the last), and the output location.
func minioTarget(t *testing.T) (*Ledger, finalTarget) {
	srv := miniotest.Start(t)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport}
	l := newLedger(t)
	l.Stores.Options = objstore.Options{S3Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
		HTTPClient: client, PartSize: 5 << 20}
	bucket := srv.NewBucket(t)
	raw := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint()), UsePathStyle: true, HTTPClient: client,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey(), srv.SecretKey(), "")})
	return l, finalTarget{out: "s3://" + bucket + "/out", uploads: func(t *testing.T) []string {
		o, err := raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range o.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		return keys
	}, parts: "-3"}
}

func localTarget(t *testing.T) (*Ledger, finalTarget) {
	out := t.TempDir()
	return newLedger(t), finalTarget{out: out, uploads: func(t *testing.T) []string {
		var left []string
		err := filepath.WalkDir(out, func(path string, _ fs.DirEntry, err error) error {
			if strings.HasPrefix(filepath.Base(path), ".prs-tmp-") {
				left = append(left, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return left
	}}
}

// stageRows records total finished batches of job whose rows objects hold
// lines lines each, and returns their concatenation in batch order.
func stageRows(t *testing.T, l *Ledger, job *contracts.Job, total int64, lines int, row func(i int64, j int) string) []byte {
	t.Helper()
	ctx := t.Context()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := total - 1; i >= 0; i-- { // finished out of order
		var b strings.Builder
		for j := range lines {
			b.WriteString(row(i, j))
		}
		key := contracts.ResultKey(i, 1, "w")
		if err := staging.Put(ctx, key, strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
		o, rev, err := l.Record(ctx, job.ID, contracts.BatchOutcome{Index: i, Attempt: 1, OK: true, Items: 1, Succeeded: 1, ResultKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Count(ctx, job, o, rev); err != nil {
			t.Fatal(err)
		}
	}
	for i := range total {
		for j := range lines {
			all.WriteString(row(i, j))
		}
	}
	return all.Bytes()
}

func readFinal(t *testing.T, l *Ledger, tg finalTarget) []byte {
	t.Helper()
	s, err := l.Stores.Open(t.Context(), tg.out)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Stat(t.Context(), "parallel_run_step.txt"); err != nil || !strings.HasSuffix(info.ETag, tg.parts) {
		t.Fatalf("Stat(final) = %+v, %v; want an ETag ending %q (the number of parts)", info, err, tg.parts)
	}
	rc, err := s.Get(t.Context(), "parallel_run_step.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFinalStreamsInOrderAndNeverPartly writes a final file of more than
// two upload parts, byte for byte the rows in batch order; then rewrites
// it after a middle batch's rows were lost: the rewrite fails, naming the
// batch, and leaves the first final file whole and no upload behind.
func TestFinalStreamsInOrderAndNeverPartly(t *testing.T) {
	t.Parallel()
	for name, target := range map[string]func(*testing.T) (*Ledger, finalTarget){"minio": minioTarget, "local": localTarget} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, tg := target(t)
			ctx := t.Context()
			const total = 64 // 64 × 1000 lines of 200 bytes: 12.8 MB, 3 parts of 5 MiB
			job := addJob(t, l, "big", total, tg.out)
			job.Staging = tg.out + "/.prs/big"
			job.Config.KeepStaging = true // RewriteFinal below reads the staged rows again
			want := stageRows(t, l, job, total, 1000, func(i int64, j int) string {
				return fmt.Sprintf("batch %05d line %04d %s\n", i, j, strings.Repeat("x", 178))
			})
			if err := l.MaybeFinalize(ctx, job, total, nil); err != nil {
				t.Fatal(err)
			}
			if got := readFinal(t, l, tg); !bytes.Equal(got, want) {
				t.Fatalf("final file: %d bytes, want the %d of the rows in batch order", len(got), len(want))
			}
			if left := tg.uploads(t); len(left) > 0 {
				t.Fatalf("left behind: %q", left)
			}

			staging, err := l.Stores.Open(ctx, job.Staging)
			if err != nil {
				t.Fatal(err)
			}
			if err := staging.Delete(ctx, contracts.ResultKey(40, 1, "w")); err != nil {
				t.Fatal(err)
			}
			_, err = l.RewriteFinal(ctx, job)
			if !errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), "batch 40") {
				t.Fatalf("RewriteFinal without batch 40's rows = %v, want ErrNotFound naming batch 40", err)
			}
			if got := readFinal(t, l, tg); !bytes.Equal(got, want) {
				t.Fatalf("after a failed rewrite the final file has %d bytes, want the first one whole", len(got))
			}
			if left := tg.uploads(t); len(left) > 0 {
				t.Fatalf("a failed rewrite left behind: %q", left)
			}
		})
	}
}

// TestFinalCSVStreamsToMinIO converts the rows to CSV on their way to a
// multipart upload.
func TestFinalCSVStreamsToMinIO(t *testing.T) {
	t.Parallel()
	l, tg := minioTarget(t)
	const total, lines = 30, 4000 // 30 × 4,000 lines of about 130 bytes: 3 parts of 5 MiB
	job := addJob(t, l, "csv", total, tg.out)
	job.Staging = tg.out + "/.prs/csv"
	job.Config.OutputFormat = resultfmt.CSV
	pad := strings.Repeat("p", 100)
	stageRows(t, l, job, total, lines, func(i int64, j int) string {
		if i == 7 && j == 0 {
			return fmt.Sprintf(`{"file":"b%d-%d","score":%d,"pad":"%s","late":"yes, \"quoted\""}`+"\n", i, j, j, pad)
		}
		return fmt.Sprintf(`{"file":"b%d-%d","score":%d,"pad":"%s"}`+"\n", i, j, j, pad)
	})
	if err := l.MaybeFinalize(t.Context(), job, total, nil); err != nil {
		t.Fatal(err)
	}
	got := readFinal(t, l, tg)
	var want bytes.Buffer
	want.WriteString("file,score,pad,late\n")
	for i := range int64(total) {
		for j := range lines {
			late := ""
			if i == 7 && j == 0 {
				late = `"yes, ""quoted"""`
			}
			fmt.Fprintf(&want, "b%d-%d,%d,%s,%s\n", i, j, j, pad, late)
		}
	}
	if !bytes.Equal(got, want.Bytes()) {
		n := min(len(got), len(want.Bytes()), 200)
		t.Fatalf("final CSV: %d bytes starting %q, want %d starting %q", len(got), got[:n], want.Len(), want.Bytes()[:n])
	}
	if left := tg.uploads(t); len(left) > 0 {
		t.Fatalf("left behind: %q", left)
	}
}
