package integration

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/miniotest"
)

// walkthroughHeading is the README section whose shell blocks
// TestReadmeWatchWalkthrough runs.
const walkthroughHeading = "### Walk-through: MinIO bucket notifications into JetStream"

// walkthroughPorts are the fixed ports the walk-through's servers listen on.
var walkthroughPorts = []int{4222, 9000, 9090}

// TestReadmeWatchWalkthrough runs README's walk-through of prs watch on
// MinIO's bucket notifications as a user would: its shell blocks, in order,
// in one bash in an empty directory, with prs, the real nats-server (built
// from the module cache at go.mod's version), MinIO and the AWS CLI on the
// PATH. The file it uploads must have its row in its window's final file,
// which the walk-through prints. A README edit that breaks the walk-through
// fails here.
func TestReadmeWatchWalkthrough(t *testing.T) {
	script := readmeShellBlocks(t, "../README.md", walkthroughHeading)
	for _, port := range walkthroughPorts {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d, which README's walk-through uses, is taken: %v", port, err)
		}
		l.Close()
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the walk-through needs the AWS CLI (Debian package awscli; go tool task awscli): %v", err)
	}
	bin := walkthroughBin(t)
	dir := t.TempDir()

	stdout, stderr := filepath.Join(dir, "stdout.txt"), filepath.Join(dir, "stderr.txt")
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir, cmd.Env = dir, walkthroughEnv(bin, dir)
	// Every process the walk-through starts is in bash's process group,
	// which the test kills whatever happens.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if cmd.Stdout, err = os.Create(stdout); err != nil {
		t.Fatal(err)
	}
	if cmd.Stderr, err = os.Create(stderr); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	report := func(format string, args ...any) {
		t.Helper()
		var b strings.Builder
		for _, f := range []string{"stdout.txt", "stderr.txt", "nats.log", "minio.log", "watch.log", "worker.log"} {
			out, _ := os.ReadFile(filepath.Join(dir, f))
			fmt.Fprintf(&b, "--- %s:\n%s\n", f, tail(string(out), 3000))
		}
		t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), b.String())
	}

	select {
	case err := <-done:
		if err != nil {
			report("the walk-through failed: %v", err)
		}
	case <-time.After(4 * time.Minute):
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		report("the walk-through did not end in 4 minutes")
	}

	st, err := os.Stat(filepath.Join(dir, "cat.jpg"))
	if err != nil {
		report("the walk-through made no cat.jpg: %v", err)
	}
	want := fmt.Sprintf("cat.jpg: %d bytes", st.Size())
	out, _ := os.ReadFile(stdout)
	if !hasLine(string(out), want) {
		report("the window's final file, printed by the walk-through, has no row %q", want)
	}
	// The last block stopped what the walk-through started: nothing of
	// its process group is left.
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		report("processes of the walk-through still run after its last block (kill -0: %v)", err)
	}
}

func hasLine(s, line string) bool {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == line {
			return true
		}
	}
	return false
}

// readmeShellBlocks returns the ```sh blocks of the README section under
// heading (up to the next heading of its level or above), in order, their
// list indentation taken off.
func readmeShellBlocks(t *testing.T, readme, heading string) string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	level := strings.Index(heading, " ")
	var (
		in, inBlock bool
		indent      string
		blocks      int
		out         strings.Builder
	)
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in:
			in = line == heading
		case !inBlock && strings.HasPrefix(line, "#"):
			if h := strings.Index(line, " "); h > 0 && h <= level && strings.Trim(line[:h], "#") == "" {
				in = false
			}
		case !inBlock && trimmed == "```sh":
			inBlock, indent = true, line[:len(line)-len(strings.TrimLeft(line, " "))]
			blocks++
		case inBlock && trimmed == "```":
			inBlock = false
		case inBlock:
			out.WriteString(strings.TrimPrefix(line, indent) + "\n")
		}
		if !in && blocks > 0 {
			break
		}
	}
	if blocks == 0 || inBlock {
		t.Fatalf("%s: no complete ```sh blocks under %q", readme, heading)
	}
	return out.String()
}

// walkthroughBin is a folder with prs, nats-server (built at go.mod's
// version) and minio.
func walkthroughBin(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "nats-server"), "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building nats-server: %v\n%s", err, out)
	}
	mio, err := miniotest.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"prs": prsBin, "minio": mio} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// walkthroughEnv is this process's environment with bin first on the PATH,
// without the settings the walk-through makes itself (AWS_*, PRS_*,
// MINIO_*) and without the user's AWS CLI configuration.
func walkthroughEnv(bin, dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "PRS_"), strings.HasPrefix(name, "MINIO_"):
		case name == "PATH":
			env = append(env, "PATH="+bin+string(os.PathListSeparator)+value)
		default:
			env = append(env, kv)
		}
	}
	return append(env, "AWS_CONFIG_FILE="+filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-aws-credentials"), "AWS_EC2_METADATA_DISABLED=true")
}
