package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/watch"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs status", flag.ContinueOnError)
	cf := addCommon(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	followFlag := fs.Bool("follow", false, "follow the job to its end")
	watchName := fs.String("watch", "", "list the windows of the watch `name` (prs watch --name)")
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	log := newLogger(stderr, *cf.logLevel, *cf.logFormat)
	f, err := cf.connect(ctx, log, false, "")
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer f.Close()
	if *watchName != "" {
		return listWindows(ctx, f, *watchName, *asJSON, stdout, stderr)
	}
	if len(rest) == 0 {
		return listJobs(ctx, f, stdout, stderr)
	}
	id := rest[0]
	st, _, err := f.Ledger.State(ctx, id)
	if err != nil {
		if errors.Is(err, broker.ErrNoJob) {
			return fail(stderr, exitUsage, "no job %q", id)
		}
		return fail(stderr, exitUsage, "%v", err)
	}
	if *followFlag {
		st, err := follow(ctx, f, id, stderr, log)
		if err != nil {
			if ctx.Err() != nil {
				return exitInterrupt
			}
			return fail(stderr, exitJobFailed, "%v", err)
		}
		c, _ := f.Ledger.Counters(ctx, id, st)
		printSummary(stdout, id, st, c)
		printFailures(ctx, f, stdout, id, st, c)
		printNote(stdout, id, st, c)
		if st.State != contracts.StateCompleted {
			return exitJobFailed
		}
		return exitOK
	}
	c, err := f.Ledger.Counters(ctx, id, st)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(struct {
			ID       string             `json:"id"`
			State    contracts.JobState `json:"state"`
			Counters contracts.Counters `json:"counters"`
		}{id, st, c}, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	if job, err := f.Ledger.Job(ctx, id); err == nil {
		fmt.Fprint(stdout, joblogs.Overview(job, st, c, time.Now()))
	} else {
		printSummary(stdout, id, st, c)
	}
	printFailures(ctx, f, stdout, id, st, c)
	return exitOK
}

// printNote ends the summary of a job that completed with failed items
// with a line that says so, and where to look.
func printNote(w io.Writer, jobID string, st contracts.JobState, c contracts.Counters) {
	if st.State != contracts.StateCompleted || c.ItemsFailed == 0 || st.Reason == "" {
		return
	}
	where := strings.TrimSuffix(st.Output, "/") + "/" + contracts.LogErrorSummary
	fmt.Fprintf(w, "job %s %s: see %s\n", jobID, st.Reason, where)
}

// printFailures lists the first failed mini-batches with their errors.
func printFailures(ctx context.Context, f *fleet.Fleet, w io.Writer, id string, st contracts.JobState, c contracts.Counters) {
	if c.FailedBatches == 0 {
		return
	}
	if !st.Expired.IsZero() {
		fmt.Fprintf(w, "  failed mini-batches: %d (their records expired on %s, after the fleet's job retention; logs/user/error.txt under the output names them)\n",
			c.FailedBatches, st.Expired.Local().Format(time.DateTime))
		return
	}
	failed, n, err := f.Ledger.FailedOutcomes(ctx, id, 10)
	if err != nil || n == 0 {
		return
	}
	fmt.Fprintf(w, "  failed mini-batches (%d shown of %d):\n", len(failed), n)
	for _, o := range failed {
		fmt.Fprintf(w, "    #%d attempt %d on %s: %s: %s\n", o.Index, o.Attempt, o.Worker, o.ErrorType, firstLine(o.Error))
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func listJobs(ctx context.Context, f *fleet.Fleet, stdout, stderr io.Writer) int {
	keys, err := f.Handles.Jobs.ListKeysFiltered(ctx, contracts.StateWatchPattern)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	type row struct {
		id string
		st contracts.JobState
	}
	var rows []row
	for k := range keys.Keys() {
		id := strings.TrimSuffix(strings.TrimPrefix(k, "job."), ".state")
		if st, _, err := f.Ledger.State(ctx, id); err == nil {
			rows = append(rows, row{id, st})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].st.Created.After(rows[j].st.Created) })
	fmt.Fprintf(stdout, "%-40s %-10s %-20s %s\n", "JOB", "STATE", "CREATED", "REASON")
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-40s %-10s %-20s %s\n", r.id, r.st.State, r.st.Created.Local().Format(time.DateTime), r.st.Reason)
	}
	return exitOK
}

func cmdCancel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs cancel", flag.ContinueOnError)
	cf := addCommon(fs)
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return fail(stderr, exitUsage, "cancel takes one job id")
	}
	log := newLogger(stderr, *cf.logLevel, *cf.logFormat)
	f, err := cf.connect(ctx, log, false, "")
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer f.Close()
	if _, _, err := f.Ledger.State(ctx, rest[0]); err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	changed, err := f.Ledger.Stop(ctx, rest[0], contracts.StateCancelled, "cancelled by the user")
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	if !changed {
		fmt.Fprintf(stdout, "job %s had already ended\n", rest[0])
		return exitOK
	}
	fmt.Fprintf(stdout, "job %s cancelled\n", rest[0])
	return exitOK
}

// listWindows lists a watch's windows, each a job, with its counts.
func listWindows(ctx context.Context, f *fleet.Fleet, name string, asJSON bool, stdout, stderr io.Writer) int {
	kv, err := f.Handles.JS.KeyValue(ctx, contracts.WatchBucket)
	if err != nil {
		return fail(stderr, exitUsage, "no watch %q: %v", name, err)
	}
	wins, err := watch.Windows(ctx, kv, name)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	if len(wins) == 0 {
		// A watch that leads and has taken no file yet is there: say so
		// (scripts wait on this for a watch to be ready); one never
		// started is not.
		if _, err := kv.Get(ctx, contracts.WatchStateKey(name)); err != nil {
			return fail(stderr, exitUsage, "no watch %q: %v", name, err)
		}
		if asJSON {
			fmt.Fprintln(stdout, "[]")
		} else {
			fmt.Fprintf(stdout, "watch %s has no windows yet\n", name)
		}
		return exitOK
	}
	type window struct {
		contracts.WindowRecord
		State    contracts.JobState `json:"state"`
		Counters contracts.Counters `json:"counters"`
	}
	var out []window
	for _, r := range wins {
		st, _, _ := f.Ledger.State(ctx, r.JobID)
		c, _ := f.Ledger.Counters(ctx, r.JobID, st) // an expired window's from its summary
		out = append(out, window{r, st, c})
	}
	if asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	fmt.Fprintf(stdout, "%-8s %-24s %-10s %-6s %8s %8s %8s  %s\n", "WINDOW", "JOB", "STATE", "SEALED", "FILES", "OK", "FAILED", "OUTPUT")
	for _, w := range out {
		fmt.Fprintf(stdout, "%-8s %-24s %-10s %-6v %8d %8d %8d  %s\n", contracts.WindowID(w.Window), w.JobID, w.State.State, w.State.Sealed,
			w.State.TotalItems, w.Counters.ItemsSucceeded, w.Counters.ItemsFailed, w.Output)
	}
	return exitOK
}
