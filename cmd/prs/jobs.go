package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/jobconfig"
	"github.com/parallelrun/prs/producer"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return submitOrRun(ctx, "run", args, stdout, stderr)
}

func cmdSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return submitOrRun(ctx, "submit", args, stdout, stderr)
}

// submitOrRun is prs run (embedded broker, local worker, follow to the end)
// and prs submit (external broker, no worker, --wait to follow).
func submitOrRun(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs "+name, flag.ContinueOnError)
	jf := jobconfig.Register(fs)
	cf := addCommon(fs)
	jobID := fs.String("job-id", "", "job id (default a new one); submitting a known id resumes that job")
	var stateDir *string
	var wait *bool
	if name == "run" {
		stateDir = fs.String("state-dir", "", "keep the embedded JetStream server's files here (default a temporary folder)")
	} else {
		wait = fs.Bool("wait", false, "follow the job to its end; exit 0 only if it completed")
	}
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	cfg, level, log, err := jobConfig(jf, cf, rest, stderr)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	embedded := name == "run"
	sd := ""
	if stateDir != nil {
		sd = *stateDir
	}
	if sd != "" {
		unlock, err := lockStateDir(sd)
		if err != nil {
			return fail(stderr, exitUsage, "%v", err)
		}
		defer unlock()
	}
	f, err := cf.connect(ctx, log, embedded, sd)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer f.Close()

	wm, pm, err := cf.exporter(ctx, log)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	var ns *nodes
	if name == "run" && cfg.NodeCount > 1 {
		if ns, err = startNodes(cfg.NodeCount, cfg.ProcessCountPerNode, f.URL, f.Server != nil, level, cf, stderr, log); err != nil {
			return fail(stderr, exitUsage, "%v", err)
		}
		defer ns.stop(40 * time.Second)
	} else if name == "run" {
		stopWorker, err := startLocalWorker(ctx, f, log, cfg.ProcessCountPerNode, stderr, wm)
		if err != nil {
			return fail(stderr, exitUsage, "%v", err)
		}
		defer stopWorker()
	}
	p, err := producer.New(producer.Config{Ledger: f.Ledger, Preflight: preflight(name == "submit", log), Logger: log, Metrics: pm})
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	sub, err := p.Submit(ctx, *jobID, cfg)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "prs: interrupted while submitting")
			return exitInterrupt
		}
		if errors.Is(err, producer.ErrJobEnded) {
			return fail(stderr, exitJobFailed, "%v", err)
		}
		return fail(stderr, exitUsage, "%v", err)
	}
	fmt.Fprintf(stdout, "job %s\n", sub.Job.ID)
	if name == "submit" && !*wait {
		return exitOK
	}
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if ns != nil {
		go func() {
			select {
			case <-ns.exited:
				cancel(errNodesExited)
			case <-fctx.Done():
			}
		}()
	}
	st, err := follow(fctx, f, sub.Job.ID, stderr, log)
	if err != nil {
		if errors.Is(context.Cause(fctx), errNodesExited) {
			return fail(stderr, exitJobFailed, "job %s: %v (their messages are above)", sub.Job.ID, errNodesExited)
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "prs: interrupted; job %s is left %s", sub.Job.ID, st.State)
			if name == "run" && sd != "" {
				fmt.Fprintf(stderr, " (resume it with --state-dir %s --job-id %s)", sd, sub.Job.ID)
			}
			fmt.Fprintln(stderr)
			return exitInterrupt
		}
		return fail(stderr, exitJobFailed, "%v", err)
	}
	c, _ := f.Handles.ReadCounters(context.Background(), sub.Job.ID)
	printSummary(stdout, sub.Job.ID, st, c)
	printFailures(context.Background(), f, stdout, sub.Job.ID, c)
	printNote(stdout, sub.Job.ID, st, c)
	if st.State != contracts.StateCompleted {
		return exitJobFailed
	}
	return exitOK
}

// follow shows progress until the job ends: a progress bar on a terminal,
// a line every few seconds otherwise (logs, CI).
func follow(ctx context.Context, f *fleet.Fleet, jobID string, w io.Writer, log *slog.Logger) (contracts.JobState, error) {
	start := time.Now()
	if isTerminal(w) {
		var bar *progressbar.ProgressBar
		defer func() {
			if bar != nil {
				_ = bar.Exit()
				fmt.Fprintln(w)
			}
		}()
		return f.Ledger.Follow(ctx, jobID, 250*time.Millisecond, func(st contracts.JobState, c contracts.Counters) {
			if bar == nil {
				bar = progressbar.NewOptions64(max(st.TotalBatches, 1),
					progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("job "+jobID),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("batches"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionFullWidth())
			}
			bar.Describe(fmt.Sprintf("job %s: %d ok, %d failed items", jobID, c.ItemsSucceeded, c.ItemsFailed))
			_ = bar.Set64(c.Done)
		})
	}
	var last time.Time
	return f.Ledger.Follow(ctx, jobID, 250*time.Millisecond, func(st contracts.JobState, c contracts.Counters) {
		if time.Since(last) < 2*time.Second && !st.Terminal() {
			return
		}
		last = time.Now()
		fmt.Fprintln(w, progressLine(jobID, st, c, time.Since(start)))
	})
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := unwrapWriter(w).(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func progressLine(jobID string, st contracts.JobState, c contracts.Counters, elapsed time.Duration) string {
	total := "?"
	pct := ""
	eta := ""
	rate := float64(c.Done) / max(elapsed.Seconds(), 0.001)
	if st.Sealed {
		total = fmt.Sprint(st.TotalBatches)
		if st.TotalBatches > 0 {
			pct = fmt.Sprintf(" (%d%%)", 100*c.Done/st.TotalBatches)
		}
		if rate > 0 && c.Done < st.TotalBatches {
			eta = fmt.Sprintf(", ETA %s", (time.Duration(float64(st.TotalBatches-c.Done)/rate) * time.Second).Round(time.Second))
		}
	}
	return fmt.Sprintf("job %s %s: %d/%s mini-batches%s, %d items ok, %d failed, %d retried, %.1f batches/s%s",
		jobID, st.State, c.Done, total, pct, c.ItemsSucceeded, c.ItemsFailed, c.Retried, rate, eta)
}

func printSummary(w io.Writer, jobID string, st contracts.JobState, c contracts.Counters) {
	fmt.Fprintf(w, "job %s %s\n", jobID, st.State)
	if st.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", st.Reason)
	}
	fmt.Fprintf(w, "  mini-batches: %d done of %d, %d failed, %d retried\n", c.Done, st.TotalBatches, c.FailedBatches, c.Retried)
	fmt.Fprintf(w, "  items: %d succeeded, %d failed\n", c.ItemsSucceeded, c.ItemsFailed)
	if st.FinalObject != "" {
		fmt.Fprintf(w, "  output: %s\n", st.FinalObject)
	}
}
