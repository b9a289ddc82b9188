// Command prs scores files in object storage with a user's entry script on a
// fleet of workers fed by a NATS JetStream work queue, keeping Azure ML
// ParallelRunStep's configuration names and semantics.
//
//	prs run      the whole job on this machine (embedded JetStream by default)
//	prs submit   publish a job to an external NATS (--wait follows it)
//	prs watch    score the input's files as they land, in windows
//	prs worker   a fleet member
//	prs status   a job's state and counters, or the list of jobs
//	prs cancel   stop a job
//	prs exporter the queue as Prometheus metrics, for autoscalers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK        = 0
	exitJobFailed = 1
	exitUsage     = 2
	exitInterrupt = 130
)

const usage = `prs: batch scoring on NATS JetStream and object storage

Usage:
  prs run     [flags] [-- script arguments]   run a whole job on this machine
  prs submit  [flags] [-- script arguments]   submit a job to a fleet (--wait to follow it)
  prs watch   [flags] [-- script arguments]   score the input's files as they land, window by window
  prs worker  [flags]                         serve mini-batches as a fleet member
  prs status  [flags] [JOB]                   show a job, or list jobs
  prs cancel  [flags] JOB                     cancel a job
  prs debug   [flags] [-- script arguments]   run init() and one mini-batch here, in the foreground
  prs logs    [flags] JOB                     show a job's overview and errors, or a worker's logs (--worker, --follow)
  prs bench   onnx --model PATH [flags]       measure a model alone and in the whole pipeline
  prs exporter [flags]                        serve the queue (waiting, in flight, desired workers) as Prometheus metrics

Run "prs COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	secretsFromEnv()
	stdout, stderr = secrets.Writer(stdout), secrets.Writer(stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"run": cmdRun, "submit": cmdSubmit, "watch": cmdWatch, "debug": cmdDebug, "logs": cmdLogs, "worker": cmdWorker, "status": cmdStatus, "cancel": cmdCancel,
		"bench": cmdBench, "exporter": cmdExporter,
	}
	f, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "prs: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return f(ctx, args[1:], stdout, stderr)
}

// parse parses a command's flags; args after "--" are returned apart.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (rest []string, code int, ok bool) {
	fs.SetOutput(stderr)
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	// Flags may come after positional arguments too: prs logs JOB --follow.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return append(positional, tail...), 0, true
}

func fail(stderr io.Writer, code int, format string, args ...any) int {
	fmt.Fprintf(stderr, "prs: "+format+"\n", args...)
	return code
}
