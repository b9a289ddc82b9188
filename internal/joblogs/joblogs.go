// Package joblogs writes the parts of a job's log layout that describe the
// whole job: logs/job_progress_overview.txt, the job report
// logs/sys/job_report/processed_mini-batches.csv (one row per attempt,
// merged from every worker's records and the recorded outcomes: ReportRows)
// and the error summary
// logs/user/error.txt. Workers write their own files (records, node log,
// stdout, stderr, tracebacks); see consumer.
package joblogs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/outputlock"
)

// Overview renders job_progress_overview.txt.
func Overview(job *contracts.Job, st contracts.JobState, c contracts.Counters, now time.Time) string {
	var b strings.Builder
	cfg := &job.Config
	fmt.Fprintf(&b, "Job %s: %s\n", job.ID, st.State)
	fmt.Fprintf(&b, "Updated %s\n\n", now.UTC().Format(time.RFC3339))
	total := st.TotalBatches
	fmt.Fprintf(&b, "Mini-batches: %d created, %d done (%d succeeded, %d failed), %s\n",
		total, c.Done, c.Done-c.FailedBatches, c.FailedBatches, count(c.Retried, "retry", "retries"))
	switch {
	case st.TotalItems >= 0:
		fmt.Fprintf(&b, "Items: %d in all, %d succeeded, %d failed\n", st.TotalItems, c.ItemsSucceeded, c.ItemsFailed)
	case total > 0 && c.Done >= total:
		fmt.Fprintf(&b, "Items: %d in all, %d succeeded, %d failed\n", c.ItemsSucceeded+c.ItemsFailed, c.ItemsSucceeded, c.ItemsFailed)
	case st.Terminal():
		fmt.Fprintf(&b, "Items: %d succeeded, %d failed (no total: the job ended before every JSON Lines piece was read)\n", c.ItemsSucceeded, c.ItemsFailed)
	default:
		fmt.Fprintf(&b, "Items: %d succeeded, %d failed so far (JSON Lines rows are counted as they are read: no total yet)\n", c.ItemsSucceeded, c.ItemsFailed)
	}
	if total > 0 {
		fmt.Fprintf(&b, "Progress: %.1f%%\n", 100*float64(c.Done)/float64(total))
	}
	elapsed := now.Sub(st.Created)
	if !st.Finished.IsZero() {
		elapsed = st.Finished.Sub(st.Created)
	}
	if elapsed > 0 && c.Done > 0 {
		rate := float64(c.Done) / elapsed.Seconds()
		fmt.Fprintf(&b, "Rate: %.2f mini-batches/s over %s\n", rate, elapsed.Round(time.Second))
		if !st.Terminal() && total > c.Done {
			fmt.Fprintf(&b, "Estimated time left: %s\n", (time.Duration(float64(total-c.Done)/rate) * time.Second).Round(time.Second))
		}
	}
	b.WriteString("\nThresholds:\n")
	for _, t := range contracts.Thresholds(cfg, c, st) {
		fmt.Fprintf(&b, "  %s: %s\n", t.Key, limit(t))
	}
	if st.Terminal() {
		fmt.Fprintf(&b, "\nResult: %s\n", st.State)
		if st.Reason != "" {
			fmt.Fprintf(&b, "Reason: %s\n", st.Reason)
		}
		if st.FinalObject != "" {
			fmt.Fprintf(&b, "Output: %s\n", st.FinalObject)
		}
		if st.State != contracts.StateCompleted || c.ItemsFailed > 0 {
			b.WriteString("Where to look next: logs/user/error.txt (errors by type, with counts and where each was first seen),\n" +
				"  logs/user/error/<host>/<worker>.txt (full tracebacks), logs/sys/job_report/processed_mini-batches.csv (every attempt)\n")
		}
	}
	return b.String()
}

// limit describes a threshold against what it measures (the same measure
// the ledger judges by): how many more failures it tolerates, or by how
// many it was exceeded; the percentage, against the share failed so far.
func limit(t contracts.Threshold) string {
	if t.Key == "allowed_failed_percent" {
		return fmt.Sprintf("%v%% (now %.1f%% of mini-batches failed)", t.Limit, t.Now)
	}
	n := count(t.Failed, "failed item", "failed items")
	if t.Key == "allowed_failed_count" {
		n = count(t.Failed, "failed mini-batch", "failed mini-batches")
	}
	switch left := int64(t.Limit) - t.Failed; {
	case !t.Set:
		return fmt.Sprintf("unset (%s)", n)
	case !t.Exceeded():
		return fmt.Sprintf("%d (%s; %d more tolerated)", int64(t.Limit), n, left)
	default:
		return fmt.Sprintf("%d (%s; exceeded by %d)", int64(t.Limit), n, -left)
	}
}

// count is n with the singular or plural noun: "1 retry", "2 retries".
func count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// maxRecordLine bounds a line of a worker's records: a worker writes far
// shorter ones (its error messages are cut at 16 KiB), so a longer line is
// not a record (the output is anyone's to write into) and is skipped, held
// no further than this, instead of failing the whole report.
const maxRecordLine = 16 << 20

// eachLine calls fn with each line of r, without its line break, that is at
// most most bytes long; longer lines are skipped, at a memory cost of most.
func eachLine(r io.Reader, most int, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	skip := false
	for {
		frag, err := br.ReadSlice('\n')
		if !skip {
			line = append(line, frag...)
			skip = len(bytes.TrimSuffix(line, []byte("\n"))) > most
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !skip && len(line) > 0 {
			fn(bytes.TrimSuffix(line, []byte("\n")))
		}
		line, skip = line[:0], false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Records reads the job's attempt records from every worker's records,
// sorted by mini-batch, attempt and start. Records of another job (late writes of
// an earlier job into the same output) are left out; records without a job
// (written by a worker older than the field) are taken.
func Records(ctx context.Context, out objstore.Store, jobID string) ([]contracts.AttemptRecord, error) {
	var recs []contracts.AttemptRecord
	err := out.List(ctx, contracts.LogWorkerRecordsPrefix, func(o objstore.ObjectInfo) error {
		rc, err := out.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		return eachLine(rc, maxRecordLine, func(line []byte) {
			var r contracts.AttemptRecord
			if json.Unmarshal(line, &r) == nil && (r.Job == jobID || r.Job == "") {
				recs = append(recs, r)
			}
		})
	})
	sortRows(recs)
	return recs, err
}

// ReportRows merges a job's attempt records (every worker's, as far as
// they were flushed) with its recorded outcomes into the rows of its
// report, in mini-batch and attempt order: the one place where the rows are
// built. Each mini-batch with an outcome has exactly one row for its counted
// attempt (the one the outcome names): the record of the worker that made
// it when that survived, else the row the outcome holds, since a worker
// that dies loses its unflushed records. The rows of other attempts
// (retried, transient, duplicate) and of an isolation's parts come from
// the records alone.
func ReportRows(jobID string, recs []contracts.AttemptRecord, outcomes []contracts.BatchOutcome) []contracts.AttemptRecord {
	counted := make(map[int64]contracts.BatchOutcome, len(outcomes))
	for _, o := range outcomes {
		counted[o.Index] = o
	}
	rows := make([]contracts.AttemptRecord, 0, len(recs)+len(outcomes))
	have := make(map[int64]bool, len(outcomes))
	for _, r := range recs {
		if o, ok := counted[r.Index]; ok && r.Part == "" && r.Attempt == o.Attempt && r.Worker == o.Worker && contracts.Counts(r.Result) {
			if have[r.Index] {
				continue // the counted attempt has one row
			}
			have[r.Index] = true
		}
		rows = append(rows, r)
	}
	for _, o := range outcomes {
		if !have[o.Index] {
			rows = append(rows, OutcomeRow(jobID, o))
		}
	}
	sortRows(rows)
	return rows
}

// OutcomeRow is the report's row of a mini-batch's counted attempt, built
// from its recorded outcome.
func OutcomeRow(jobID string, o contracts.BatchOutcome) contracts.AttemptRecord {
	result := o.Result
	if result == "" { // an outcome recorded before the field
		switch {
		case o.OK:
			result = contracts.ResultSucceeded
		case o.ErrorType == "MaxTriesExceeded":
			result = contracts.ResultLost
		case o.ResultKey != "" || len(o.Rows) > 0:
			result = contracts.ResultPartial
		default:
			result = contracts.ResultFailed
		}
	}
	start := o.Start
	if start.IsZero() {
		start = o.Finished
	}
	return contracts.AttemptRecord{
		Job: jobID, Index: o.Index, Attempt: o.Attempt, Worker: o.Worker, Host: o.Host, PID: o.PID,
		Items: o.Items, Succeeded: o.Succeeded, Failed: o.Failed, Start: start, Seconds: o.Seconds,
		Result: result, ErrorType: o.ErrorType, Error: o.Error, FirstItem: o.FirstItem, ExtraCalls: o.ExtraCalls,
	}
}

// sortRows orders rows by mini-batch and attempt; within an attempt, a
// transient row (which spends no try) comes before the row of the try it
// gave back, then the rows of an isolation's parts, then the attempt's own
// row, each by start.
func sortRows(rows []contracts.AttemptRecord) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		if a.Attempt != b.Attempt {
			return a.Attempt < b.Attempt
		}
		if ra, rb := rowRank(a), rowRank(b); ra != rb {
			return ra < rb
		}
		return a.Start.Before(b.Start)
	})
}

// rowRank places a row within its attempt: transient, part, own.
func rowRank(r contracts.AttemptRecord) int {
	switch {
	case r.Result == contracts.ResultTransient:
		return 0
	case r.Part != "":
		return 1
	}
	return 2
}

// Report renders processed_mini-batches.csv. The columns part and
// extra_calls (isolate_failures) come last: a part's row names its items
// ("items 0-24"), an isolated attempt's row the run() calls it added.
func Report(recs []contracts.AttemptRecord) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"mini_batch", "attempt", "worker", "host", "pid", "items", "succeeded", "failed", "start", "seconds", "result", "error_type", "error",
		"part", "extra_calls"})
	for _, r := range recs {
		extra := ""
		if r.ExtraCalls > 0 {
			extra = strconv.Itoa(r.ExtraCalls)
		}
		_ = w.Write([]string{
			strconv.FormatInt(r.Index, 10), strconv.Itoa(r.Attempt), r.Worker, r.Host, strconv.Itoa(r.PID),
			strconv.Itoa(r.Items), strconv.Itoa(r.Succeeded), strconv.Itoa(r.Failed),
			r.Start.UTC().Format(time.RFC3339Nano), strconv.FormatFloat(r.Seconds, 'f', 3, 64),
			r.Result, r.ErrorType, firstLine(r.Error), r.Part, extra,
		})
	}
	w.Flush()
	return buf.Bytes()
}

// ErrorSummary renders error.txt: errors grouped by type and message, most
// frequent first, with where each was first seen and where its tracebacks
// are. With isolate_failures the items that failed alone are counted and
// named, each once: the parts that were split again are left out, and so
// is the isolated attempt's own record (which sums its items up) unless it
// holds failures that no part names (malformed rows).
func ErrorSummary(recs []contracts.AttemptRecord) []byte {
	type group struct {
		typ, msg         string
		count            int
		first            contracts.AttemptRecord
		tracebackFolders map[string]bool
		items            []string
	}
	named := namedByParts(recs)
	groups := map[string]*group{}
	var order []*group
	for _, r := range recs {
		if n, isolated := named[attemptOf(r)]; r.ErrorType == "" || r.Result == contracts.ResultSplit || (r.Part == "" && isolated && r.Failed <= n) {
			continue
		}
		k := r.ErrorType + "\x00" + firstLine(r.Error)
		g := groups[k]
		if g == nil {
			g = &group{typ: r.ErrorType, msg: firstLine(r.Error), first: r, tracebackFolders: map[string]bool{}}
			groups[k] = g
			order = append(order, g)
		}
		g.count++
		g.tracebackFolders[contracts.LogTracebacks(r.Host, r.Worker)] = true
		if r.Part != "" && r.Result == contracts.ResultFailed {
			g.items = append(g.items, partItems(r))
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].count > order[j].count })
	var b bytes.Buffer
	if len(order) == 0 {
		b.WriteString("No errors.\n")
		return b.Bytes()
	}
	fmt.Fprintln(&b, count(int64(len(order)), "kind of error", "kinds of error"))
	for _, g := range order {
		fmt.Fprintf(&b, "\n%d x %s: %s\n", g.count, g.typ, g.msg)
		fmt.Fprintf(&b, "  first seen: mini-batch %d attempt %d (first file %s) on %s at %s\n",
			g.first.Index, g.first.Attempt, g.first.FirstItem, g.first.Worker, g.first.Start.UTC().Format(time.RFC3339))
		writeItems(&b, g.items)
		var files []string
		for f := range g.tracebackFolders {
			files = append(files, f)
		}
		sort.Strings(files)
		fmt.Fprintf(&b, "  tracebacks: %s\n", strings.Join(files, ", "))
	}
	return b.Bytes()
}

// attempt names one attempt of a mini-batch on a worker.
type attempt struct {
	index  int64
	try    int
	worker string
}

func attemptOf(r contracts.AttemptRecord) attempt { return attempt{r.Index, r.Attempt, r.Worker} }

// namedByParts maps each attempt that has records of parts to the number
// of failed items its parts name.
func namedByParts(recs []contracts.AttemptRecord) map[attempt]int {
	m := map[attempt]int{}
	for _, r := range recs {
		if r.Part != "" {
			m[attemptOf(r)] += r.Failed
		}
	}
	return m
}

// partItems names the failed items of a part's record: "f00017.txt
// (mini-batch 3)", or the first and how many more.
func partItems(r contracts.AttemptRecord) string {
	if r.Items > 1 {
		return fmt.Sprintf("%s and %d more (mini-batch %d, %s)", r.FirstItem, r.Items-1, r.Index, r.Part)
	}
	return fmt.Sprintf("%s (mini-batch %d)", r.FirstItem, r.Index)
}

// maxNamedItems bounds the items error.txt names for one error.
const maxNamedItems = 20

// writeItems names the items that failed alone with an error.
func writeItems(b *bytes.Buffer, items []string) {
	if len(items) == 0 {
		return
	}
	more := ""
	if len(items) > maxNamedItems {
		more = fmt.Sprintf(", and %d more", len(items)-maxNamedItems)
		items = items[:maxNamedItems]
	}
	fmt.Fprintf(b, "  failed items: %s%s\n", strings.Join(items, ", "), more)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// WriteReports writes the overview, the job report and the error summary
// of a job under its output, from the workers' records and the job's
// recorded outcomes (ReportRows), unless another job has taken the output
// (internal/outputlock): then it writes nothing.
func WriteReports(ctx context.Context, out objstore.Store, job *contracts.Job, st contracts.JobState, c contracts.Counters, outcomes []contracts.BatchOutcome) error {
	if cur, _, err := outputlock.Read(ctx, out); err == nil && cur != nil && !cur.Unreadable && cur.Record.Job != job.ID {
		return nil
	}
	recs, err := Records(ctx, out, job.ID)
	if err != nil {
		return err
	}
	rows := ReportRows(job.ID, recs, outcomes)
	for key, body := range map[string][]byte{
		contracts.LogOverview:     []byte(Overview(job, st, c, time.Now())),
		contracts.LogReport:       Report(rows),
		contracts.LogErrorSummary: ErrorSummary(rows),
	} {
		if err := out.Put(ctx, key, bytes.NewReader(body)); err != nil {
			return err
		}
	}
	return nil
}

// WriteOverview writes only the overview.
func WriteOverview(ctx context.Context, out objstore.Store, job *contracts.Job, st contracts.JobState, c contracts.Counters) error {
	return out.Put(ctx, contracts.LogOverview, strings.NewReader(Overview(job, st, c, time.Now())))
}
