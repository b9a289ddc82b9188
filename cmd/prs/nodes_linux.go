package main

import "syscall"

// nodeProcAttr makes the kernel kill a local worker process when prs run
// dies, however it dies.
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
