package inputlist_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

// tree is an input folder that holds, besides its own files, the job's
// output folder (out/), an earlier prs output (old/) and folders named
// like prs's that are the user's (logs/, deep/logs/).
var tree = []string{
	"a.txt",
	"deep/logs/z.txt",
	"logs/app.log",
	"old/.prs/job-1/results/0/1-w.jsonl",
	"old/.prs/lock.00000000000000000001.json",
	"old/logs/job_progress_overview.txt",
	"old/logs/sys/node/h/w.txt",
	"old/parallel_run_step.txt",
	"out/.prs/lock.00000000000000000001.json",
	"out/logs/job_progress_overview.txt",
	"out/parallel_run_step.txt",
	"sub/b.txt",
	"sub/logs.txt",
}

var want = []string{"a.txt", "deep/logs/z.txt", "logs/app.log", "old/parallel_run_step.txt", "sub/b.txt", "sub/logs.txt"}

func fill(t *testing.T, s objstore.Store) {
	t.Helper()
	for _, k := range tree {
		if err := s.Put(t.Context(), k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
}

func listAll(t *testing.T, s objstore.Store, c *contracts.Config) ([]string, inputlist.Stats) {
	t.Helper()
	var got []string
	st, err := inputlist.List(t.Context(), s, c, func(o objstore.ObjectInfo) error {
		got = append(got, o.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func check(t *testing.T, s objstore.Store, c *contracts.Config) {
	t.Helper()
	got, st := listAll(t, s, c)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q,\nwant %q", got, want)
	}
	if st.OutputPrefix != "out/" || st.OutputObjects != 3 || st.OwnObjects != 4 {
		t.Fatalf("stats %+v, want the output out/ (3 objects) and 4 of prs's own", st)
	}
	// Include still selects, after prs's own objects are left out.
	c.Include = []string{"*.txt"}
	got, _ = listAll(t, s, c)
	if w := []string{"a.txt", "deep/logs/z.txt", "old/parallel_run_step.txt", "sub/b.txt", "sub/logs.txt"}; !slices.Equal(got, w) {
		t.Fatalf("with include *.txt: %q, want %q", got, w)
	}
}

func TestLocalInputHoldingOutputs(t *testing.T) {
	in := t.TempDir()
	s, err := objstore.Open(t.Context(), in, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	// The output named by a relative path through a symbolic link.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(link))
	check(t, s, &contracts.Config{Input: in, Output: "link/out"})
}

func TestS3InputHoldingOutputs(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	opts := objstore.Options{S3Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
		HTTPClient: &http.Client{Transport: transport}}
	bucket := srv.NewBucket(t)
	s, err := objstore.Open(context.Background(), "s3://"+bucket+"/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	check(t, s, &contracts.Config{Input: "s3://" + bucket + "/data/", Output: "s3://" + bucket + "/data/out"})
}

func TestOutputPrefix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		in, out string
		prefix  string
		same    bool
	}{
		{"s3://b/in", "s3://b/in/out", "out/", false},
		{"s3://b/in/", "s3://b/in", "", true},
		{"s3://b", "s3://b/x/y/", "x/y/", false},
		{"s3://b/in", "s3://b/input", "", false},
		{"s3://b/in", "s3://c/in/out", "", false},
		{"s3://b/in", dir + "/in/out", "", false},
		{dir + "/in", dir + "/in/sub/out", "sub/out/", false},
		{dir + "/in", "file://" + dir + "/in", "", true},
		{dir + "/in/", dir + "/in/./", "", true},
		{dir + "/in", dir + "/inside", "", false},
		{dir + "/in/out", dir + "/in", "", false},
	}
	for _, tc := range cases {
		prefix, same := inputlist.OutputPrefix(&contracts.Config{Input: tc.in, Output: tc.out})
		if prefix != tc.prefix || same != tc.same {
			t.Errorf("input %s output %s: %q %v, want %q %v", tc.in, tc.out, prefix, same, tc.prefix, tc.same)
		}
	}
}

func TestIsOwnName(t *testing.T) {
	t.Parallel()
	for name, own := range map[string]bool{
		".prs": true, ".prs.lock": true, ".PRS": true, ".prs-tmp-1": true, ".prsx": true, "logs": true, "LOGS": true,
		"logs.txt": false, "prs": false, "parallel_run_step.txt": false, "my.prs": false, "catalogs": false,
	} {
		if got := inputlist.IsOwnName(name); got != own {
			t.Errorf("IsOwnName(%q) = %v, want %v", name, got, own)
		}
	}
}
