package tabular_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// TestS3 plans and reads every format from a real MinIO through Ranges,
// which falls back to Get and skipping bytes until objstore has GetRange.
func TestS3(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	ctx := t.Context()
	store, err := objstore.Open(ctx, "s3://"+srv.NewBucket(t)+"/in", objstore.Options{
		S3Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
		HTTPClient: &http.Client{Transport: transport},
	})
	if err != nil {
		t.Fatal(err)
	}
	store = objstore.WithRetry(store, 0)
	const n = 3000
	var csvData, jsonlData, pqData bytes.Buffer
	w := bufio.NewWriter(&csvData)
	writeCSV(w, n)
	w.Flush()
	w = bufio.NewWriter(&jsonlData)
	writeJSONL(w, n)
	w.Flush()
	writeParquet(t, &pqData, n, 0)
	b := &bundle{t: t, ctx: ctx, store: store, r: &countingRanges{r: tabular.Ranges(store)}}
	for key, data := range map[string][]byte{"rows.csv": csvData.Bytes(), "rows.jsonl": jsonlData.Bytes(), "rows.parquet": pqData.Bytes()} {
		if err := store.Put(ctx, key, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		format, err := tabular.DetectFormat(key, "")
		if err != nil {
			t.Fatal(err)
		}
		pieces, err := b.plan(b.stat(key), format, 16<<10)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		good, bad := b.readAll(pieces)
		if len(good) != n || len(bad) != 0 || len(pieces) < 2 {
			t.Fatalf("%s: %d pieces, %d good, %d failed rows", key, len(pieces), len(good), len(bad))
		}
		for i, r := range good {
			var id string
			switch format {
			case tabular.CSV:
				id = r.Fields[0]
			case tabular.JSONL:
				id = string(r.JSON[len(`{"id":`):bytes.IndexByte(r.JSON, ',')])
			case tabular.Parquet:
				id = string(r.JSON[len(`{"id":`):bytes.IndexByte(r.JSON, ',')])
			}
			if id != fmt.Sprint(i+1) {
				t.Fatalf("%s: record %d has id %s", key, i, id)
			}
		}
		t.Logf("%s: %d bytes, %d pieces", key, len(data), len(pieces))
	}
}
