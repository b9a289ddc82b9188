package integration

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runLocal runs prs run of the integration script over input into output
// and returns its stdout, stderr and exit code.
func (h *harness) runLocal(input, output string, extra ...string) (string, string, int) {
	h.t.Helper()
	args := append([]string{"run", "--ack-wait", "2s", "--entry-script", "testdata/score.py",
		"--input", input, "--output", output, "--allow-reuse=false"}, extra...)
	return h.prs(2*time.Minute, args...)
}

// snapshot lists what a local folder holds (nil when it does not exist).
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOutputInsideInputIsLeftOut: an output folder inside the input folder
// is left out of the input, on a local folder and on S3, so that running
// the job again scores the same files, not the first run's results, logs
// and staging.
func TestOutputInsideInputIsLeftOut(t *testing.T) {
	h := newHarness(t)
	h.upload("data", 12)
	local := t.TempDir()
	for _, n := range names(12, nil) {
		writeFile(t, local, n, []byte(n))
	}
	for _, tc := range []struct{ name, input, output string }{
		{"local", local, filepath.Join(local, "results")},
		{"S3", h.s3("data"), h.s3("data/results/run")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for run := 1; run <= 2; run++ {
				stdout, stderr, code := h.runLocal(tc.input, tc.output, "--mini-batch-size", "5")
				if code != 0 {
					t.Fatalf("run %d: exit %d\n%s%s", run, code, stdout, tail(stderr, 3000))
				}
				sameRows(t, h.rows(tc.output), names(12, nil))
				if n := strings.Count(stderr, "the output folder is inside the input folder"); n != 1 {
					t.Fatalf("run %d: %d warnings about the output inside the input, want 1:\n%s", run, n, tail(stderr, 3000))
				}
				if !strings.Contains(stdout, "12 succeeded") {
					t.Fatalf("run %d: %s", run, stdout)
				}
			}
		})
	}
}

// TestInputSymlinks: a link that leads out of a local input folder is not
// followed unless follow_symlinks is set; a dangling link and a loop are
// skipped; each skipped link is warned about once, though the producer
// lists the input more than once.
func TestInputSymlinks(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	outside := t.TempDir()
	writeFile(t, in, "a.txt", []byte("a"))
	writeFile(t, mkdir(t, filepath.Join(in, "sub")), "b.txt", []byte("b"))
	secret := writeFile(t, outside, "secret.txt", []byte("not for the job"))
	links := map[string]string{
		filepath.Join(in, "leak.txt"):    secret,
		filepath.Join(in, "gone.txt"):    filepath.Join(outside, "missing.txt"),
		filepath.Join(in, "sub", "loop"): in,
		filepath.Join(in, "alias.txt"):   "a.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	output := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := h.runLocal(in, output)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(output), []string{"a.txt", "alias.txt", "b.txt"})
	for _, p := range []string{"leak.txt", "gone.txt", filepath.Join("sub", "loop")} {
		if n := strings.Count(stderr, "path="+filepath.Join(in, p)); n != 1 {
			t.Errorf("%d warnings name %s, want 1:\n%s", n, p, tail(stderr, 3000))
		}
	}
	stdout, stderr, code = h.runLocal(in, filepath.Join(t.TempDir(), "out2"), "--follow-symlinks", "true")
	if code != 0 {
		t.Fatalf("follow_symlinks: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	if !strings.Contains(stdout, "4 succeeded") {
		t.Fatalf("follow_symlinks did not score the linked file:\n%s", stdout)
	}
}

// TestSingleFileInput: an input that names one file that is not a table is
// a job of that file alone, locally and on S3, also when its name holds
// glob characters or it is reached through a symbolic link.
func TestSingleFileInput(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 4)
	dir := t.TempDir()
	odd := writeFile(t, dir, "a[1]*.txt", []byte("x"))
	writeFile(t, dir, "a1x.txt", []byte("x"))
	link := filepath.Join(t.TempDir(), "link.txt")
	if err := os.Symlink(odd, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, input, row string }{
		{"local", odd, "a[1]*.txt"},
		{"S3", h.s3("in/f00002.txt"), "f00002.txt"},
		{"through a link", link, "a[1]*.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			output := filepath.Join(t.TempDir(), "out")
			stdout, stderr, code := h.runLocal(tc.input, output)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
			}
			sameRows(t, h.rows(output), []string{tc.row})
		})
	}
}

// TestUnwritableOutputIsTheOutputsProblem: an output folder that cannot be
// written, or made, is refused at submit as the output's problem. As root
// (who may write anywhere) prs runs as the user nobody.
func TestUnwritableOutputIsTheOutputsProblem(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // nobody must reach it
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "prs")
	copyFile(t, prsBin, bin, 0o755)
	script := filepath.Join(dir, "score.py")
	copyFile(t, "testdata/score.py", script, 0o644)
	in := mkdir(t, filepath.Join(dir, "in"))
	writeFile(t, in, "a.txt", []byte("a"))
	ro := mkdir(t, filepath.Join(dir, "ro"))
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, output, want string }{
		{"existing folder", ro, "cannot write in the folder " + ro},
		{"folder to make", filepath.Join(ro, "out"), "cannot make the folder " + filepath.Join(ro, "out")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "run", "--entry-script", script, "--input", in, "--output", tc.output)
			cmd.Env = append(h.env(), "HOME="+dir)
			if os.Geteuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			b, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(b), "output: ") || !strings.Contains(string(b), tc.want) {
				t.Fatalf("exit %d, want 2 naming the output and %q:\n%s", code, tc.want, tail(string(b), 3000))
			}
			t.Logf("%s: %s", tc.name, errorLine(string(b)))
		})
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	r, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
