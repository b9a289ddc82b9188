//go:build !linux

package main

import "syscall"

// nodeProcAttr: outside Linux, local worker processes end when prs run
// stops them (a prs run killed with SIGKILL leaves them to drain the
// queue until the server is gone).
func nodeProcAttr() *syscall.SysProcAttr { return nil }
