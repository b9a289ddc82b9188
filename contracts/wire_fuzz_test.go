package contracts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parallelrun/prs/contracts"
)

// kvKeyChars are the characters of a valid KV key and subject token list.
var kvKeyChars = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

var miniBatchSeeds = []string{
	`{"job_id":"job-1","index":0,"items":[{"key":"a.png","size":3,"etag":"x"},{"key":"sub/b.png","size":0}]}`,
	`{"job_id":"j","index":7,"items":[{"key":"t.csv","size":100}],"piece":{"key":"t.csv","format":"csv","object_size":100,"start":10,"end":60,"columns":["a","b"],"first_row":1,"rows":4}}`,
	`{"job_id":"j","index":3,"items":[{"key":"t.parquet","size":900}],"piece":{"key":"t.parquet","format":"parquet","object_size":900,"row_start":5,"row_end":9,"row_group":1,"rows":4}}`,
	`{"job_id":"j","index":2,"partition":{"user":"u1"},"items_key":"groups/000002.json","items_count":5000}`,
	`{"job_id":"j","index":1,"items":[],"piece":{"key":"x.jsonl","format":"jsonl","object_size":5,"start":0,"end":5,"staged":true}}`,
	`{"job_id":"a b","index":0}`, `{"job_id":"j","index":-1}`, `{"job_id":"j","items_key":"k","items_count":-4}`,
	`{"job_id":"j","piece":{"key":"t.csv","format":"csv","object_size":10,"start":8,"end":2}}`,
	`null`, `{}`, `[]`, `{"job_id":"j"} x`, `{"job_id":"j","index":1e3}`,
}

// FuzzDecodeMiniBatch decodes any bytes as a worker decodes a work-queue
// message: anything it accepts names a valid job (its KV keys and subject
// are valid), has no negative index, generation or item count, and decodes again to
// the same message after encoding (empty and missing lists aside); anything
// else wraps ErrBadMessage.
func FuzzDecodeMiniBatch(f *testing.F) {
	for _, s := range miniBatchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mb, err := contracts.DecodeMiniBatch(data)
		if err != nil {
			if !errors.Is(err, contracts.ErrBadMessage) {
				t.Fatalf("DecodeMiniBatch(%q): %v does not wrap ErrBadMessage", data, err)
			}
			return
		}
		if err := contracts.ValidateJobID(mb.JobID); err != nil {
			t.Fatalf("DecodeMiniBatch(%q) accepted job id %q: %v", data, mb.JobID, err)
		}
		for _, k := range []string{contracts.OutcomeKey(mb.JobID, mb.Index), contracts.DeliveriesKey(mb.JobID, mb.Index), contracts.IsolationKey(mb.JobID, mb.Index),
			contracts.BatchSubject(mb.JobID), mb.MsgID(3)} {
			if !kvKeyChars.MatchString(k) {
				t.Fatalf("DecodeMiniBatch(%q): key or subject %q", data, k)
			}
		}
		if mb.Index < 0 || mb.Generation < 0 || mb.ItemCount() < 0 || mb.ItemsCount < 0 {
			t.Fatalf("DecodeMiniBatch(%q): index %d, %d items", data, mb.Index, mb.ItemCount())
		}
		if p := mb.Piece; p != nil && (p.Start < 0 || p.End < p.Start || p.RowStart < 0 || p.RowEnd < p.RowStart || p.Rows < 0) {
			t.Fatalf("DecodeMiniBatch(%q): piece %+v", data, *p)
		}
		b, err := json.Marshal(mb)
		if err != nil {
			t.Fatal(err)
		}
		again, err := contracts.DecodeMiniBatch(b)
		if err != nil {
			t.Fatalf("%q decodes to %+v, which encodes to %s, which does not decode: %v", data, mb, b, err)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("%q decodes to %+v, which encodes to %s, which decodes and encodes to %s", data, mb, b, b2)
		}
	})
}

// FuzzMiniBatchRoundTrip builds mini-batch messages as a producer does and
// checks that the worker decodes exactly what was sent.
func FuzzMiniBatchRoundTrip(f *testing.F) {
	f.Add("job-1", int64(0), "a.png", int64(3), "etag", "", "", int64(0), int64(0), int64(0), uint8(0))
	f.Add("j", int64(7), "t.csv", int64(100), "", "csv", "id", int64(10), int64(60), int64(4), uint8(1))
	f.Add("j", int64(9), "t.parquet", int64(900), "", "parquet", "", int64(5), int64(9), int64(4), uint8(3))
	f.Add("j", int64(2), "groups/000002.json", int64(0), "", "", "user", int64(0), int64(0), int64(5000), uint8(4))
	f.Fuzz(func(t *testing.T, job string, index int64, key string, size int64, etag, format, col string, lo, hi, rows int64, mode uint8) {
		mb := contracts.MiniBatch{JobID: job, Index: index}
		switch mode % 5 {
		case 0:
			mb.Items = []contracts.Item{{Key: key, Size: size, ETag: etag}, {Key: key + "/" + etag}}
		case 1, 2:
			mb.Items = []contracts.Item{{Key: key, Size: size}}
			mb.Piece = &contracts.Piece{Key: key, Format: contracts.TableFormat(format), ObjectSize: size, Start: lo, End: hi,
				Columns: []string{col, etag}, FirstRow: lo + 1, Rows: rows, Staged: mode%5 == 2}
		case 3:
			mb.Items = []contracts.Item{{Key: key, Size: size}}
			mb.Piece = &contracts.Piece{Key: key, Format: contracts.TableParquet, ObjectSize: size, RowStart: lo, RowEnd: hi,
				RowGroup: int(rows), Columns: []string{col}, FirstRow: lo + 1, Rows: hi - lo}
		default:
			mb.ItemsKey, mb.ItemsCount = key, int(rows)
			mb.Partition = map[string]string{col: etag}
		}
		b, err := json.Marshal(mb)
		if err != nil {
			t.Fatal(err)
		}
		got, err := contracts.DecodeMiniBatch(b)
		if err != nil {
			if contracts.ValidateJobID(job) == nil && index >= 0 && rows >= 0 && lo >= 0 && hi >= lo {
				t.Fatalf("a well-formed message %s: %v", b, err)
			}
			return
		}
		if !allUTF8(job, key, etag, format, col) {
			// JSON strings are UTF-8: issue 9 item 10 (object names that
			// are not UTF-8) is carried by another change.
			return
		}
		if !reflect.DeepEqual(got, mb) {
			t.Fatalf("sent %+v, decoded %+v", mb, got)
		}
	})
}

func allUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// FuzzKVRecords decodes any bytes as each record a process reads from KV
// (Job, JobState, BatchOutcome, Counters) and as a worker's AttemptRecord
// line: what decodes encodes again, and decoding that gives the same record.
func FuzzKVRecords(f *testing.F) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	seeds := []any{
		contracts.Job{ID: "j", Config: contracts.DefaultConfig(), Staging: "s3://b/out/.prs/j", SubmittedAt: now, Fingerprint: "ab12"},
		contracts.JobState{State: contracts.StateRunning, Sealed: true, TotalBatches: 4, TotalItems: -1, Generation: 2, Created: now, Updated: now},
		contracts.JobState{State: contracts.StateCompleted, Output: "out", FinalObject: "out/parallel_run_step.txt", Created: now, Finished: now},
		contracts.BatchOutcome{Index: 3, Attempt: 2, OK: true, Items: 10, Succeeded: 9, Failed: 1, ResultKey: contracts.ResultKey(3, 2, "w1"), Finished: now},
		contracts.BatchOutcome{Index: 4, Attempt: 3, Items: 10, Failed: 10, ErrorType: "ZeroDivisionError", Error: "division by zero", Counted: true},
		contracts.Counters{Done: 5, FailedBatches: 1, ItemsSucceeded: 40, ItemsFailed: 2, Retried: 3},
		contracts.AttemptRecord{Index: 1, Attempt: 1, Worker: "w", Host: "h", PID: 42, Items: 3, Succeeded: 3, Start: now, Seconds: 0.25, Result: contracts.ResultSucceeded},
	}
	for i, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(1), []byte(`{"state":"Running","created":"2026-11-30T12:00:00+01:00","updated":"2026-11-30T12:00:00.5-07:30"}`))
	f.Add(uint8(3), []byte(`{"finished":"0001-01-01T00:00:00Z","error":"\ud800 \u00e9 \xff"}`))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		var v any
		switch kind % 5 {
		case 0:
			v = new(contracts.Job)
		case 1:
			v = new(contracts.JobState)
		case 2, 3:
			v = new(contracts.BatchOutcome)
		case 4:
			if kind%2 == 0 {
				v = new(contracts.Counters)
			} else {
				v = new(contracts.AttemptRecord)
			}
		}
		if json.Unmarshal(data, v) != nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%T decoded from %q does not encode: %v", v, data, err)
		}
		w := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(b, w); err != nil {
			t.Fatalf("%T: %s does not decode: %v", v, b, err)
		}
		b2, err := json.Marshal(w)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%T: %s decodes and encodes to %s, %v", v, b, b2, err)
		}
	})
}
