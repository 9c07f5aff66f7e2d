package command

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// startingHeap is how much memory the process may use before its first garbage
// collection. Most of what a plan allocates stays live until it exits (the state, the
// hash cache, the manifest's entries), so the collections the runtime would start at
// 4, 8 and 16 MiB free almost nothing; docs/benchmarks.md has the figures.
const startingHeap = 32 << 20

var adjustHeapOnce sync.Once

// adjustStartingHeap keeps the collector off until the process uses startingHeap,
// then hands the pacing back to the runtime's default (GOGC=100, no limit). Like
// cmd/compile's base.AdjustStartingHeap, it moves only the first collection.
func adjustStartingHeap() {
	adjustHeapOnce.Do(func() {
		if mayAdjustHeap(os.Getenv) {
			holdFirstCollection(startingHeap)
		}
	})
}

// holdFirstCollection turns the collector off until the process uses limit bytes;
// after the first collection it is at GOGC=100 with no limit.
func holdFirstCollection(limit int64) {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(limit)
	type sentinel [32]byte // not tiny: a tiny object may share a block kept alive
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		// The first collection has run.
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
}

// mayAdjustHeap reports whether the collector's settings are desksync's to choose: a
// GOGC or GOMEMLIMIT in the environment is the user's.
func mayAdjustHeap(getenv func(string) string) bool {
	return getenv("GOGC") == "" && getenv("GOMEMLIMIT") == ""
}
