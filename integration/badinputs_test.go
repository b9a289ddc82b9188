package integration

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parallelrun/prs/internal/objstore"
)

// README.md's table of bad inputs is generated from badInputs (see
// badinputs_cases_test.go): TestBadInputTable runs every case and
// TestBadInputTableREADME checks that README lists exactly these cases with
// exactly what they check; `go test ./integration -run TestBadInputTable
// -update` rewrites README's table.

var updateREADME = flag.Bool("update", false, "rewrite README.md's table of bad inputs from the cases of TestBadInputTable")

// badInput is one row of README's table: a bad input or situation prs was
// tried with, and what the user sees.
type badInput struct {
	// area groups the rows in README.
	area string
	// input is the bad input, in README's words (markdown, no '|').
	input string
	// try sets the case up and returns the arguments of the prs command
	// whose result the user sees.
	try func(e *badEnv) []string
	// code is that command's exit code.
	code int
	// place is where the user sees it: "" for the command's output (stdout
	// and stderr), else the files under the output that a glob matches.
	place string
	// says is what prs says there, each fragment verbatim; hides is what it
	// must never show there (a secret).
	says, hides []string
	// note says in README what check checks beyond says and hides.
	note  string
	check func(e *badEnv)
	// busy: another process writes in the case's folder meanwhile, so a
	// refusal is not checked to have written nothing.
	busy bool
}

// badEnv is one case's world.
type badEnv struct {
	t *testing.T
	h *harness
	// dir is the case's own folder; in is a local input folder in it with
	// five files, a.txt to e.txt; out is an output folder that does not
	// exist yet; good is a script whose run() returns its mini-batch.
	dir, in, out, good string
	// env is added to the command's environment.
	env []string
}

// file writes name under the case's folder and returns its path.
func (e *badEnv) file(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	mkdir(e.t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// script writes an entry script of init() and the given run() body.
func (e *badEnv) script(name, run string) string {
	return e.file(name, "import os, sys, time\n\ndef init():\n    pass\n\ndef run(mini_batch):\n"+run)
}

// run is `prs run` of the good script over the case's input into its
// output, with args added (a later flag wins).
func (e *badEnv) run(args ...string) []string {
	return append([]string{"run", "--nats", "", "--ack-wait", "2s", "--allow-reuse=false", "--entry-script", e.good,
		"--input", e.in, "--output", e.out}, args...)
}

// prs runs prs to its end.
func (e *badEnv) prs(args ...string) (string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, args...)
	cmd.Env = append(e.h.env(), e.env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ctx.Err() != nil {
		e.t.Fatalf("prs %v did not end in time:\n%s", args, tail(b.String(), 3000))
	}
	if err != nil && cmd.ProcessState == nil {
		e.t.Fatal(err)
	}
	return b.String(), cmd.ProcessState.ExitCode()
}

// TestBadInputTable tries prs with each bad input of README's table and
// checks what the user sees: the exit code and what prs says, verbatim;
// a refused command (exit 2) writes nothing.
func TestBadInputTable(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 5)
	t.Run("case", func(t *testing.T) {
		for i, c := range badInputs {
			t.Run(fmt.Sprintf("%02d", i+1), func(t *testing.T) {
				t.Parallel()
				c.try1(t, h)
			})
		}
	})
	// Nothing was written in the test bucket but its inputs.
	s, err := objstore.Open(context.Background(), h.s3(""), h.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	_ = s.List(context.Background(), "", func(o objstore.ObjectInfo) error {
		if !strings.HasPrefix(o.Key, "in/") {
			t.Errorf("unexpected object %s", o.Key)
		}
		return nil
	})
}

// try1 tries one case.
func (c badInput) try1(t *testing.T, h *harness) {
	e := &badEnv{t: t, h: h, dir: t.TempDir()}
	e.in = mkdir(t, filepath.Join(e.dir, "in"))
	for _, n := range []string{"a.txt", "b.txt", "c.txt", "d.txt", "e.txt"} {
		writeFile(t, e.in, n, []byte(n))
	}
	e.out = filepath.Join(e.dir, "out")
	e.good = e.script("good.py", "    return mini_batch\n")
	args := c.try(e)
	before := snapshot(t, e.dir)
	got, code := e.prs(args...)
	t.Logf("%s: exit %d: %s", c.input, code, errorLine(got))
	if code != c.code {
		t.Fatalf("%s: exit %d, want %d:\n%s", c.input, code, c.code, tail(got, 3000))
	}
	if c.place != "" {
		got = e.place(c.place, got)
	}
	for _, s := range c.says {
		if !strings.Contains(got, s) {
			t.Fatalf("%s: %q not said:\n%s", c.input, s, tail(got, 3000))
		}
	}
	for _, s := range c.hides {
		if strings.Contains(got, s) {
			t.Fatalf("%s: %q shown:\n%s", c.input, s, tail(got, 3000))
		}
	}
	if c.code == exitUsageCode && !c.busy {
		e.nothingWritten(before)
	}
	if c.check != nil {
		c.check(e)
	}
}

// place reads the files under the output that glob matches, in name
// order; output is the command's, shown when there is none.
func (e *badEnv) place(glob, output string) string {
	e.t.Helper()
	m, err := filepath.Glob(filepath.Join(e.out, glob))
	if err != nil || len(m) == 0 {
		e.t.Fatalf("no %s under the output (%v)\n%s", glob, err, tail(output, 3000))
	}
	var b strings.Builder
	for _, p := range m {
		s, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		b.Write(s)
	}
	return b.String()
}

// nothingWritten checks that the case's folder is as it was before the
// command.
func (e *badEnv) nothingWritten(before []string) {
	e.t.Helper()
	if after := snapshot(e.t, e.dir); !slices.Equal(before, after) {
		e.t.Fatalf("a refused command wrote files:\nbefore %q\nafter  %q", before, after)
	}
}

// README's table sits between these lines.
const (
	badTableBegin = "<!-- bad-inputs: generated from integration/badinputs_cases_test.go by `go test ./integration -run TestBadInputTable -update` -->"
	badTableEnd   = "<!-- end of bad-inputs -->"
)

// TestBadInputTableREADME checks that README.md's table of bad inputs is
// the one the cases give (or, with -update, writes it).
func TestBadInputTableREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, badTableBegin), strings.Index(readme, badTableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the lines %q and %q around the table of bad inputs", badTableBegin, badTableEnd)
	}
	want := badTableBegin + "\n" + renderBadInputs() + badTableEnd
	if got := readme[i : j+len(badTableEnd)]; got == want {
		return
	}
	if !*updateREADME {
		t.Fatalf("README.md's table of bad inputs is not the one TestBadInputTable checks: run `go test ./integration -run TestBadInputTable -update`")
	}
	if err := os.WriteFile("../README.md", []byte(readme[:i]+want+readme[j+len(badTableEnd):]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renderBadInputs is README's table of the cases.
func renderBadInputs() string {
	var b strings.Builder
	b.WriteString("| | bad input | exit | what the user sees |\n| --- | --- | --- | --- |\n")
	area := ""
	for _, c := range badInputs {
		a := ""
		if c.area != area {
			a, area = "**"+c.area+"**", c.area
		}
		var says []string
		for _, s := range c.says {
			says = append(says, code(s))
		}
		sees := strings.Join(says, " … ")
		if c.place != "" {
			sees = "in " + code(c.place) + ": " + sees
		}
		for _, s := range c.hides {
			sees += "; never shows " + code(s)
		}
		if c.note != "" {
			sees += "; " + c.note
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", a, c.input, c.code, sees)
	}
	return b.String()
}

// code is s as a markdown code span in a table cell: a line break shown
// as \n and a byte that is not UTF-8 as \xNN.
func code(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	s = strings.ReplaceAll(b.String(), "|", `\|`)
	if strings.Contains(s, "`") {
		return "``" + s + "``"
	}
	return "`" + s + "`"
}

// startIn runs prs with args in the background; it is killed when t ends.
func (h *harness) startIn(t *testing.T, args ...string) *bgRun {
	t.Helper()
	r := &bgRun{done: make(chan struct{})}
	r.cmd = exec.Command(prsBin, args...)
	r.cmd.Env = h.env()
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// running reports whether the process has not ended.
func (r *bgRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}
