//go:build unix

package main

import (
	"os"
	"syscall"
	"time"
)

// procUsage is what the kernel counted for a process: peak RSS and blocks written in
// bytes, and CPU time (user + system).
type procUsage struct {
	maxRSS, written int64
	cpu             time.Duration
}

func fromRusage(ru *syscall.Rusage) procUsage {
	return procUsage{
		// Linux reports KiB; the figures in docs/benchmarks.md are Linux's.
		maxRSS:  int64(ru.Maxrss) << 10,
		written: int64(ru.Oublock) * 512,
		cpu:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
	}
}

// childUsage is what an exited child used; false where the platform does not say.
func childUsage(ps *os.ProcessState) (procUsage, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return procUsage{}, false
	}
	return fromRusage(ru), true
}

// selfUsage is what this process has used so far.
func selfUsage() (procUsage, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return procUsage{}, false
	}
	return fromRusage(&ru), true
}
