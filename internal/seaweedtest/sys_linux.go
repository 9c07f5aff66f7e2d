package seaweedtest

import "syscall"

// sysProcAttr kills SeaweedFS when the test binary dies, so that a test killed by its
// timeout leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
