package entryscript

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
)

// Problems CheckScript finds, wrapped by its *CheckError.
var (
	ErrSyntax = errors.New("syntax error")
	ErrNoRun  = errors.New("no run(mini_batch) function")
)

// CheckError is a problem CheckScript found in an entry script.
type CheckError struct {
	// Path is the entry script.
	Path string
	// Line is the 1-based line of a syntax error; 0 for other problems.
	Line int
	// Problem says what is wrong.
	Problem string
	// Err is ErrSyntax, ErrNoRun, or the error of reading the file (which
	// wraps fs.ErrNotExist for a missing file).
	Err error
}

func (e *CheckError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("entry script %s, line %d: %s", e.Path, e.Line, e.Problem)
	}
	return fmt.Sprintf("entry script %s: %s", e.Path, e.Problem)
}

func (e *CheckError) Unwrap() error { return e.Err }

// CheckScript validates an entry script at submit time without running any
// of its code. The file must exist; for a Python interpreter (one whose name
// contains "python"), which parses the file with its ast module, it must
// also parse and bind the name run at its top level (a def, an assignment or
// an import, also inside a top-level if, try or with). Problems of the
// script are a *CheckError; other errors (the interpreter is missing) are not.
func CheckScript(ctx context.Context, interpreter, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		problem := "cannot be read: " + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			problem = "does not exist"
		}
		return &CheckError{Path: path, Problem: problem, Err: err}
	}
	if fi.IsDir() {
		return &CheckError{Path: path, Problem: "is a folder, not a file", Err: fs.ErrInvalid}
	}
	if !isPython(interpreter) {
		return nil
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, interpreter, "-I", "-c", checkProgram, path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("check entry script %s: %w", path, ctx.Err())
		}
		return fmt.Errorf("check entry script %s with %s: %w: %s", path, interpreter, err, lastLine(stderr.String()))
	}
	var verdict struct {
		OK      bool   `json:"ok"`
		Kind    string `json:"kind"`
		Line    int    `json:"line"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &verdict); err != nil {
		return fmt.Errorf("check entry script %s with %s: unexpected output %q", path, interpreter, stdout.String())
	}
	switch {
	case verdict.OK:
		return nil
	case verdict.Kind == "syntax":
		return &CheckError{Path: path, Line: verdict.Line, Problem: "SyntaxError: " + verdict.Message, Err: ErrSyntax}
	default:
		return &CheckError{Path: path, Problem: verdict.Message, Err: ErrNoRun}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
