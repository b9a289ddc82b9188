package miniotest

import "syscall"

// sysProcAttr makes the kernel kill MinIO when the test binary dies, so that
// a crashed or killed test run leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
