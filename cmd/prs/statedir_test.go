package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestStateDirServesOneProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock belongs to an open file: a second open, in this process as in
	// another, is refused at once.
	_, err = lockStateDir(dir)
	if !errors.Is(err, errStateDirBusy) || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) ||
		!strings.Contains(err.Error(), dir) {
		t.Fatalf("second lock = %v, want busy naming the folder and this process", err)
	}
	unlock()
	unlock, err = lockStateDir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock()
}
