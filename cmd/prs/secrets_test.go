package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestUsageNeverShowsCredentials: -h and a flag error print the flags'
// defaults, which come from the environment.
func TestUsageNeverShowsCredentials(t *testing.T) {
	t.Setenv("PRS_NATS_URL", "nats://prs:url-Secret1@nats:4222")
	t.Setenv("PRS_NATS_PASSWORD", "flag-Secret2")
	t.Setenv("PRS_NATS_TOKEN", "flag-Secret3")
	t.Setenv("PRS_S3_ENDPOINT", "http://key:s3-Secret4@minio:9000")
	for _, cmd := range []string{"run", "submit", "worker", "status", "cancel", "logs", "debug"} {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--no-such-flag"}} {
			var out, errb bytes.Buffer
			run(context.Background(), args, &out, &errb)
			all := out.String() + errb.String()
			for _, s := range []string{"url-Secret1", "flag-Secret2", "flag-Secret3", "s3-Secret4"} {
				if strings.Contains(all, s) {
					t.Fatalf("prs %v shows %q:\n%s", args, s, all)
				}
			}
			if cmd != "debug" && args[1] == "-h" && !strings.Contains(all, "nats://prs:xxxxx@nats:4222") {
				t.Fatalf("prs %v does not show the URL's default with its password hidden:\n%s", args, all)
			}
		}
	}
}

// TestOutputHidesCredentials: whatever path a message takes to stdout or
// stderr, a credential of the flags or the environment is hidden.
func TestOutputHidesCredentials(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-Secret5")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"status", "--nats", "nats://prs:url-Secret6@127.0.0.1:" + port,
		"--nats-user", "prs", "--nats-password", "flag-Secret7", "--log-level", "DEBUG", "--log-format", "json"}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "127.0.0.1:"+port) {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
	for _, s := range []string{"url-Secret6", "flag-Secret7"} {
		if strings.Contains(out.String()+errb.String(), s) {
			t.Fatalf("shows %q:\n%s%s", s, out.String(), errb.String())
		}
	}
	// The last guard: a line that would print the secret as it is.
	var w bytes.Buffer
	secretsFromEnv()
	secrets.Writer(&w).Write([]byte("AWS_SECRET_ACCESS_KEY=aws-Secret5 flag-Secret7\n"))
	if w.String() != "AWS_SECRET_ACCESS_KEY=xxxxx xxxxx\n" {
		t.Fatalf("%q", w.String())
	}
}
