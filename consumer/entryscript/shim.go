package entryscript

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// shimFiles are written into a private folder that goes on PYTHONPATH: the
// shim that serves the protocol, and the azureml_user and azureml.core
// packages that entry scripts import.
//
//go:embed python/prs_shim.py python/azureml_user/__init__.py python/azureml_user/parallel_run/__init__.py
//go:embed python/azureml/__init__.py python/azureml/core/__init__.py python/azureml/core/model.py python/azureml/core/run.py
var shimFiles embed.FS

// shimName is the shim's file name inside that folder.
const shimName = "prs_shim.py"

// checkProgram is the Python program CheckScript runs: prs_check.py.
//
//go:embed python/prs_check.py
var checkProgram string

// writeShim writes shimFiles into a new private temporary folder and returns
// its path; the caller removes it.
func writeShim() (dir string, err error) {
	dir, err = os.MkdirTemp("", "prs-entryscript-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	err = fs.WalkDir(shimFiles, "python", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := shimFiles.ReadFile(name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(name, "python/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	return dir, err
}

// isPython reports whether an interpreter is a Python, which runs the
// script through the shim.
func isPython(interpreter string) bool {
	return strings.Contains(strings.ToLower(filepath.Base(interpreter)), "python")
}
