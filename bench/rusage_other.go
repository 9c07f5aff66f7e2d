//go:build !unix

package main

import (
	"os"
	"time"
)

// procUsage is what the kernel counted for a process; this platform does not say, so the
// benchmarks report zeros for memory, CPU and writes.
type procUsage struct {
	maxRSS, written int64
	cpu             time.Duration
}

func childUsage(*os.ProcessState) (procUsage, bool) { return procUsage{}, false }

func selfUsage() (procUsage, bool) { return procUsage{}, false }
