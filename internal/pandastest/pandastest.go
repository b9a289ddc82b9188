// Package pandastest finds the Python interpreter with pandas that the
// tests of tabular entry scripts run: $PRS_PANDAS_PYTHON, else Debian's
// /usr/bin/python3 with python3-pandas (`go tool task pydeps` installs it).
package pandastest

import (
	"os"
	"os/exec"
	"testing"
)

// Python returns the interpreter, failing the test (never skipping it)
// when it cannot import pandas.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("PRS_PANDAS_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import pandas").Run(); err != nil {
		t.Fatalf("%s cannot import pandas (%v): run `go tool task pydeps` or set PRS_PANDAS_PYTHON", py, err)
	}
	return py
}
