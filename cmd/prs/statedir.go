package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// stateLockFile is the file in a --state-dir that one process at a time
// holds a lock on.
const stateLockFile = "prs.lock"

// errStateDirBusy means another process serves the state folder.
var errStateDirBusy = errors.New("the state folder is in use by another prs process")

// lockStateDir makes dir one process's: an exclusive flock on a file in it,
// held until unlock (or the process's end, however it ends). A second
// process gets an error at once, with the holder's pid.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--state-dir %s: %w", dir, err)
	}
	p := filepath.Join(dir, stateLockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--state-dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil {
				holder = fmt.Sprintf("process %d", pid)
			}
			return nil, fmt.Errorf("--state-dir %s: %w (%s holds %s); one state folder serves one process at a time: wait for it to end, or use another folder",
				dir, errStateDirBusy, holder, p)
		}
		return nil, fmt.Errorf("--state-dir %s: locking %s: %w", dir, p, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
