package tabular_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

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

// Checking a Parquet piece's page headers costs no request of its own:
// reading a piece of a file of 1 MiB pages (over the 64 KiB the check used to
// read at a time) makes no more GETs, counted by MinIO, than parquet-go
// reading the same rows with the same buffer alone. The check used to read
// each page header apart: one more GET a page.
func TestS3ParquetPageCheckAddsNoRequests(t *testing.T) {
	t.Parallel()
	srv := miniotest.StartEnv(t, "MINIO_PROMETHEUS_AUTH_TYPE=public")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport}
	ctx := t.Context()
	store, err := objstore.Open(ctx, "s3://"+srv.NewBucket(t)+"/in", objstore.Options{
		S3Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), HTTPClient: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID   int64  `parquet:"id"`
		Text string `parquet:"text"`
	}
	const rows = 100000
	var data bytes.Buffer
	pw := parquet.NewGenericWriter[row](&data, parquet.Compression(&parquet.Uncompressed), parquet.PageBufferSize(1<<20))
	batch := make([]row, 0, 1000)
	for i := range rows {
		batch = append(batch, row{ID: int64(i + 1), Text: fmt.Sprintf("%0128x", uint64(i)*0x9e3779b97f4a7c15)})
		if len(batch) == cap(batch) {
			if _, err := pw.Write(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, "pages.parquet", bytes.NewReader(data.Bytes())); err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(data.Bytes()), int64(data.Len()))
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for _, index := range pf.OffsetIndexes() {
		for _, loc := range index.PageLocations {
			if loc.CompressedPageSize <= 64<<10 && len(index.PageLocations) > 1 {
				t.Fatalf("a page of %d bytes: the test wants pages over 64 KiB", loc.CompressedPageSize)
			}
		}
		pages += len(index.PageLocations)
	}
	gets := func() int64 { return minioGets(t, client, srv.Endpoint()) }

	// parquet-go alone, with ReadPiece's options.
	before := gets()
	ra := &storeReaderAt{ctx: ctx, store: store.(objstore.RangeGetter), key: "pages.parquet"}
	f, err := parquet.OpenFile(ra, int64(data.Len()), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(false), parquet.ReadBufferSize(tabular.PageRead))
	if err != nil {
		t.Fatal(err)
	}
	rs := f.RowGroups()[0].Rows()
	if err := rs.SeekToRow(0); err != nil {
		t.Fatal(err)
	}
	buf := make([]parquet.Row, 256)
	for n := 0; n < rows; {
		k, err := rs.ReadRows(buf)
		n += k
		if err != nil && (err != io.EOF || n < rows) {
			t.Fatalf("parquet-go read %d rows: %v", n, err)
		}
	}
	rs.Close()
	alone := gets() - before

	b := &bundle{t: t, ctx: ctx, store: store, r: &countingRanges{r: tabular.Ranges(store)}}
	pieces, err := b.plan(b.stat("pages.parquet"), tabular.Parquet, 1<<30)
	if err != nil || len(pieces) != 1 {
		t.Fatalf("Plan: %d pieces, %v", len(pieces), err)
	}
	before = gets()
	good, _ := b.readAll(pieces)
	piece := gets() - before
	if len(good) != rows {
		t.Fatalf("read %d rows, want %d", len(good), rows)
	}
	t.Logf("%d bytes, %d pages: parquet-go alone made %d GETs, ReadPiece %d", data.Len(), pages, alone, piece)
	if piece > alone {
		t.Fatalf("ReadPiece made %d GETs, parquet-go alone %d for the same rows (%d pages): the page check reads on its own", piece, alone, pages)
	}
}

// minioGets is MinIO's count of GetObject requests so far (its metrics,
// public with MINIO_PROMETHEUS_AUTH_TYPE=public).
func minioGets(t *testing.T, client *http.Client, endpoint string) int64 {
	t.Helper()
	resp, err := client.Get(endpoint + "/minio/metrics/v3/api/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MinIO metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), `minio_api_requests_total{name="GetObject",`); ok {
			n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("MinIO metrics: %q: %v", sc.Text(), err)
			}
			return int64(n)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return 0 // no GET yet
}

// storeReaderAt reads an object of a store with ranged GETs, one a ReadAt.
type storeReaderAt struct {
	ctx   context.Context
	store objstore.RangeGetter
	key   string
}

func (r *storeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.store.GetRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, p)
}
