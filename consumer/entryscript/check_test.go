package entryscript

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestCheckScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		name, script string
		interpreter  string
		missing      bool
		want         error // nil: the script passes
		line         int
		message      []string
	}{
		{name: "good", script: "import os\n\ndef init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n"},
		{name: "run imported", script: "from scoring import score as run\n"},
		{name: "run assigned", script: "def score(mini_batch):\n    return []\n\nrun = score\n"},
		{name: "run defined in a try", script: "try:\n    import torch\nexcept ImportError:\n    def run(mini_batch):\n        return []\nelse:\n    pass\n"},
		{name: "star import", script: "from scoring import *\n"},
		{name: "code never runs", script: "import sys\nsys.exit(3)\n\ndef run(mini_batch):\n    return []\n"},
		{name: "missing", missing: true, want: fs.ErrNotExist, message: []string{"missing.py", "does not exist"}},
		{name: "syntax error", script: "import os\n\ndef run(mini_batch)\n    return []\n", want: ErrSyntax, line: 3,
			message: []string{"syntax error.py, line 3: SyntaxError"}},
		{name: "no run", script: "def init():\n    pass\n\nclass Model:\n    def run(self, mini_batch):\n        return []\n", want: ErrNoRun,
			message: []string{"no run.py", "defines no top-level run(mini_batch) function"}},
		{name: "run only inside a function", script: "def init():\n    global run\n    def run(mini_batch):\n        return []\n", want: ErrNoRun},
		{name: "other interpreter", interpreter: "node", script: "this is not python"},
		{name: "other interpreter, missing", interpreter: "node", missing: true, want: fs.ErrNotExist},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, c.name+".py")
			if c.missing {
				path = filepath.Join(dir, "missing.py")
			} else {
				writeFile(t, path, c.script)
			}
			interpreter := c.interpreter
			if interpreter == "" {
				interpreter = "python3"
			}
			err := CheckScript(t.Context(), interpreter, path)
			if c.want == nil {
				if err != nil {
					t.Fatalf("CheckScript: %v", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || !errors.Is(err, c.want) {
				t.Fatalf("got %v (%T), want a *CheckError wrapping %v", err, err, c.want)
			}
			if ce.Path != path || ce.Line != c.line {
				t.Errorf("path %s line %d, want %s line %d", ce.Path, ce.Line, path, c.line)
			}
			mustContain(t, "error", err.Error(), c.message...)
		})
	}
}

func TestCheckScriptFolder(t *testing.T) {
	t.Parallel()
	var ce *CheckError
	if err := CheckScript(t.Context(), "python3", t.TempDir()); !errors.As(err, &ce) {
		t.Errorf("a folder: %v", err)
	}
}
