// Package prscli tells the deployment tests what the prs binary accepts:
// it builds cmd/prs from the repository (the root module) once per test
// process and reads each command's flags, their defaults and the
// environment variables they name from the command's own -h, so that a
// manifest is checked against the code, never against a list kept here.
package prscli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Flag is one flag of a command as its -h prints it.
type Flag struct {
	Name string
	// TakesValue is false for a boolean flag (-h prints no type for it).
	TakesValue bool
	// Default is the default -h prints ("" when it prints none).
	Default string
}

// Command is one prs command's usage.
type Command struct {
	Name  string
	Flags map[string]Flag
	// Env are the environment variables its -h names (PRS_NATS_URL, ...).
	Env map[string]bool
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error

	mu       sync.Mutex
	commands = map[string]*Command{}
)

// Root is the repository's root folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Binary builds cmd/prs (once per test process) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "prs-deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "prs")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/prs")
		cmd.Dir = Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/prs: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// Get returns a command's usage, from `prs NAME -h`.
func Get(t testing.TB, name string) *Command {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if c, ok := commands[name]; ok {
		return c
	}
	out, err := exec.Command(Binary(t), name, "-h").CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Fatalf("prs %s -h: %v\n%s", name, err, out)
	}
	c, err := parseUsage(name, out)
	if err != nil {
		t.Fatal(err)
	}
	commands[name] = c
	return c
}

var (
	flagLine = regexp.MustCompile(`^  -([a-z0-9][a-z0-9-]*)(?: (\S+))?$`)
	envName  = regexp.MustCompile(`\b(PRS_[A-Z0-9_]+)\b`)
	defValue = regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`)
)

// parseUsage reads the flag package's usage text: "  -name type" lines,
// each followed by its indented help, whose last "(default X)" is the default.
func parseUsage(name string, out []byte) (*Command, error) {
	c := &Command{Name: name, Flags: map[string]Flag{}, Env: map[string]bool{}}
	var cur *Flag
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := flagLine.FindStringSubmatch(line); m != nil {
			if cur != nil {
				c.Flags[cur.Name] = *cur
			}
			cur = &Flag{Name: m[1], TakesValue: m[2] != ""}
			continue
		}
		for _, m := range envName.FindAllStringSubmatch(line, -1) {
			c.Env[m[1]] = true
		}
		if cur != nil && strings.HasPrefix(line, "    \t") {
			if m := defValue.FindStringSubmatch(line); m != nil {
				cur.Default = m[1]
			}
		}
	}
	if cur != nil {
		c.Flags[cur.Name] = *cur
	}
	if len(c.Flags) == 0 {
		return nil, fmt.Errorf("prs %s -h printed no flags:\n%s", name, out)
	}
	return c, nil
}

// Invocation is a prs command line as a manifest writes it.
type Invocation struct {
	Command string
	// Flags maps each flag given to its value ("true" for a bare boolean).
	Flags map[string]string
	// Args are the positional arguments.
	Args []string
}

// Parse reads args (after the program name: ["worker", "--slots", "2"])
// against the command's real flags. pending names flags the manifests may
// use before the binary has them (see Pending); any other unknown flag, a
// flag given twice or a flag missing its value is an error.
func Parse(t testing.TB, args []string, pending map[string][]string) (*Invocation, error) {
	t.Helper()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, fmt.Errorf("no prs command in %q", args)
	}
	cmd := Get(t, args[0])
	inv := &Invocation{Command: args[0], Flags: map[string]string{}}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			inv.Args = append(inv.Args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") {
			inv.Args = append(inv.Args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := cmd.Flags[name]
		if !ok {
			if !contains(pending[inv.Command], name) {
				return nil, fmt.Errorf("prs %s has no flag --%s", inv.Command, name)
			}
			f = Flag{Name: name, TakesValue: true}
		}
		if _, dup := inv.Flags[name]; dup {
			return nil, fmt.Errorf("prs %s: --%s given twice", inv.Command, name)
		}
		switch {
		case hasValue:
		case !f.TakesValue:
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, fmt.Errorf("prs %s: --%s has no value", inv.Command, name)
		}
		inv.Flags[name] = value
	}
	return inv, nil
}

// Value is a flag's value as given, else its default.
func (inv *Invocation) Value(t testing.TB, name string) string {
	t.Helper()
	if v, ok := inv.Flags[name]; ok {
		return v
	}
	return Get(t, inv.Command).Flags[name].Default
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
