package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "36h": 36 * time.Hour, "2s": 2 * time.Second, " 90m ": 90 * time.Minute,
	} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, says := range map[string]string{
		"0": "must be positive", "-1h": "must be positive", "0d": "must be positive", "xd": "not a number of days",
		"NaNd": "not a number of days", "7": "not a duration", "99999d": "too long", "1e300d": "too long", "900000h": "too long",
	} {
		if _, err := parseRetention(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("parseRetention(%q): %v, want an error that says %q", in, err, says)
		}
	}
}

func TestRetentionFlagAndEnvironment(t *testing.T) {
	t.Setenv("PRS_JOB_RETENTION", "3d")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	r := addRetention(fs)
	if r.err != nil || r.d != 72*time.Hour || r.String() != "3d" {
		t.Fatalf("from PRS_JOB_RETENTION=3d: %v %v %s", r.d, r.err, r)
	}
	t.Setenv("PRS_JOB_RETENTION", "soon")
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r = addRetention(fs)
	if r.err == nil || !strings.Contains(r.err.Error(), "PRS_JOB_RETENTION") {
		t.Fatalf("a bad PRS_JOB_RETENTION: %v", r.err)
	}
	if err := fs.Parse([]string{"--job-retention", "12h"}); err != nil || r.err != nil || r.d != 12*time.Hour {
		t.Fatalf("the flag over a bad variable: %v %v %v", err, r.err, r.d)
	}
	if err := fs.Parse([]string{"--job-retention", "-3d"}); err == nil {
		t.Fatal("--job-retention -3d was taken")
	}
}
