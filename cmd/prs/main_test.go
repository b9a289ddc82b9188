package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

func TestUsageAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "Usage") {
		t.Fatalf("no args: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "frobnicate") {
		t.Fatalf("unknown: %d %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != exitOK {
		t.Fatalf("help: %d", code)
	}
}

func TestParseKeepsScriptArgumentsAfterDoubleDash(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	n := fs.Int("n", 0, "")
	rest, _, ok := parse(fs, []string{"-n", "3", "--", "--mode", "x", "-n", "9"}, io.Discard)
	if !ok || *n != 3 || strings.Join(rest, " ") != "--mode x -n 9" {
		t.Fatalf("ok=%v n=%d rest=%v", ok, *n, rest)
	}
}

func TestProgressLine(t *testing.T) {
	st := contracts.JobState{State: contracts.StateRunning, Sealed: true, TotalBatches: 100}
	c := contracts.Counters{Done: 25, ItemsSucceeded: 240, ItemsFailed: 10, Retried: 2}
	got := progressLine("j", st, c, 5*time.Second)
	for _, want := range []string{"25/100 mini-batches (25%)", "240 items ok", "10 failed", "2 retried", "5.0 batches/s", "ETA 15s"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	st.Sealed = false
	if got := progressLine("j", st, c, time.Second); !strings.Contains(got, "25/? mini-batches") {
		t.Errorf("unsealed: %q", got)
	}
}
