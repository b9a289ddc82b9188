package joblogs_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/internal/objstore"
)

// FuzzRecords writes any bytes as two workers' record files (a worker that
// died mid-line, a damaged object) and merges them as the job report does:
// Records keeps every line that is an AttemptRecord of the job (or of no
// job) and skips the others,
// sorted by mini-batch and attempt; the report is a CSV file with a header
// and one row of 13 fields per record, in that order; the error summary
// counts the records that have an error type.
func FuzzRecords(f *testing.F) {
	rec := func(r contracts.AttemptRecord) string {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		return string(b) + "\n"
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ok := rec(contracts.AttemptRecord{Index: 3, Attempt: 1, Worker: "w1", Host: "h1", PID: 7, Items: 2, Succeeded: 2, Start: now, Seconds: 0.5, Result: contracts.ResultSucceeded, FirstItem: "a.png"})
	bad := rec(contracts.AttemptRecord{Index: 1, Attempt: 2, Worker: "w2", Host: "h2", Items: 2, Failed: 2, Start: now, Result: contracts.ResultFailed,
		ErrorType: "ZeroDivisionError", Error: "division by zero\nTraceback...", FirstItem: "b, \"c\".png"})
	f.Add([]byte(ok+bad), []byte(bad))
	f.Add([]byte(ok[:len(ok)/2]), []byte("\n\r\n"+bad+"not json\n{}\n[1]\nnull\n"))
	f.Add([]byte(`{"index":-1,"attempt":9223372036854775807,"start":"0001-01-01T00:00:00Z","seconds":1e308,"error_type":"X"}`), []byte(bad+"\r\n"+ok))
	f.Add([]byte(`{"index":2,"error_type":"\u0000","error":"\ud800"}`+"\r\n"), []byte{})
	// One folder per fuzzing process, which runs inputs one at a time: the
	// two files are written over for each.
	dir := f.TempDir()
	store, err := objstore.Open(f.Context(), dir, objstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		files := map[string][]byte{contracts.LogWorkerRecords("h1", "w1"): a, contracts.LogWorkerRecords("h2", "w2"): b}
		want := 0
		for key, data := range files {
			p := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				var r contracts.AttemptRecord
				if json.Unmarshal(sc.Bytes(), &r) == nil && (r.Job == "j" || r.Job == "") {
					want++
				}
			}
		}
		recs, err := joblogs.Records(t.Context(), store, "j")
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		if len(recs) != want {
			t.Fatalf("Records kept %d records of %d", len(recs), want)
		}
		errors := 0
		for i, r := range recs {
			if i > 0 && (r.Index < recs[i-1].Index || r.Index == recs[i-1].Index && r.Attempt < recs[i-1].Attempt) {
				t.Fatalf("records out of order: %+v after %+v", r, recs[i-1])
			}
			if r.ErrorType != "" {
				errors++
			}
		}
		rows, err := csv.NewReader(bytes.NewReader(joblogs.Report(recs))).ReadAll()
		if err != nil || len(rows) != len(recs)+1 {
			t.Fatalf("report: %d rows for %d records: %v", len(rows), len(recs), err)
		}
		for i, r := range recs {
			row := rows[i+1]
			if len(row) != len(rows[0]) || row[0] != strconv.FormatInt(r.Index, 10) || row[1] != strconv.Itoa(r.Attempt) || row[10] != r.Result ||
				row[11] != r.ErrorType || strings.Contains(row[12], "\n") {
				t.Fatalf("report row %q for %+v", row, r)
			}
		}
		summary := string(joblogs.ErrorSummary(recs))
		if errors == 0 && summary != "No errors.\n" || errors > 0 && !strings.Contains(summary, " kind of error\n") && !strings.Contains(summary, " kinds of error\n") {
			t.Fatalf("error summary of %d errors:\n%s", errors, summary)
		}
	})
}

// FuzzOverview renders the overview from any Job, JobState and Counters
// records (as read from KV): it never panics, and names the job and its
// state.
func FuzzOverview(f *testing.F) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	job, _ := json.Marshal(contracts.Job{ID: "j", Config: contracts.DefaultConfig()})
	st, _ := json.Marshal(contracts.JobState{State: contracts.StateRunning, Sealed: true, TotalBatches: 4, TotalItems: -1, Created: now.Add(-time.Hour)})
	cs, _ := json.Marshal(contracts.Counters{Done: 1, ItemsSucceeded: 10, ItemsFailed: 1})
	f.Add(job, st, cs)
	f.Add(job, []byte(`{"state":"Completed","total_batches":-5,"total_items":-7,"created":"9999-12-31T23:59:59Z","finished":"0001-01-01T00:00:01Z"}`),
		[]byte(`{"done":9223372036854775807,"failed_batches":-9223372036854775808,"items_failed":-1}`))
	f.Add([]byte(`{"id":"","config":{"error_threshold":-9,"allowed_failed_percent":1e308}}`), []byte(`{"state":"Failed","reason":"x\ny"}`), []byte(`{"done":3}`))
	f.Fuzz(func(t *testing.T, jobData, stateData, countersData []byte) {
		var (
			j contracts.Job
			s contracts.JobState
			c contracts.Counters
		)
		if json.Unmarshal(jobData, &j) != nil || json.Unmarshal(stateData, &s) != nil || json.Unmarshal(countersData, &c) != nil {
			return
		}
		out := joblogs.Overview(&j, s, c, now)
		if !strings.HasPrefix(out, "Job "+j.ID+": "+s.State+"\n") {
			t.Fatalf("overview of job %q in state %q:\n%s", j.ID, s.State, out)
		}
	})
}
