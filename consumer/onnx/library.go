package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// lib is the process's ONNX Runtime: ORT keeps one environment per
// process, so the first library that loads is the one every handler uses.
var lib struct {
	mu   sync.Mutex
	path string      // the loaded library; "" until one loaded
	info os.FileInfo // of path, to recognise the same file under another name
}

// loadLibrary makes sure ONNX Runtime runs in this process from path. It
// loads the library once; a failed load may be tried again (with another
// path), and asking for another file once one is loaded is an error.
func loadLibrary(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = errors.New("no such file")
		}
		return &LibraryError{Path: abs, Err: err}
	}
	if fi.IsDir() {
		return &LibraryError{Path: abs, Err: errors.New("is a folder, not the library file")}
	}
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.path != "" {
		if os.SameFile(fi, lib.info) {
			return nil
		}
		return &LibraryError{Path: abs, Err: fmt.Errorf("this process already runs ONNX Runtime from %s, and a process runs one library", lib.path)}
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(); err != nil {
		return &LibraryError{Path: abs, Err: err}
	}
	lib.path, lib.info = abs, fi
	return nil
}
