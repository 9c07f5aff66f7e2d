package command

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestStartingHeapHandsBackTheDefaultPacing: the collector is off under the limit until
// a collection has run, and then back at GOGC=100 with no memory limit, so that a large
// apply's heap is paced as the runtime paces it. The limit here is far above what the
// test process uses, so that only the test's own collection ends the hold.
func TestStartingHeapHandsBackTheDefaultPacing(t *testing.T) {
	if !mayAdjustHeap(os.Getenv) {
		t.Skip("GOGC or GOMEMLIMIT is set, so desksync leaves the collector alone")
	}
	const limit = 1 << 40
	holdFirstCollection(limit)
	percent := debug.SetGCPercent(-1)
	if held := debug.SetMemoryLimit(-1); percent != -1 || held != limit {
		t.Fatalf("before a collection, GOGC is %d and the memory limit %d; want off and %d", percent, held, limit)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC() // the finalizer runs after a collection, on its own goroutine
		percent := debug.SetGCPercent(-1)
		debug.SetGCPercent(percent)
		limit := debug.SetMemoryLimit(-1)
		if percent == 100 && limit == math.MaxInt64 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after collections, GOGC is %d and the memory limit %d; want 100 and none", percent, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartingHeapLeavesTheUsersSettings(t *testing.T) {
	for _, env := range []map[string]string{{"GOGC": "50"}, {"GOMEMLIMIT": "1GiB"}, {"GOGC": "off", "GOMEMLIMIT": "2GiB"}} {
		if mayAdjustHeap(func(k string) string { return env[k] }) {
			t.Errorf("with %v in the environment, desksync would change the collector's settings", env)
		}
	}
	if !mayAdjustHeap(func(string) string { return "" }) {
		t.Error("with neither GOGC nor GOMEMLIMIT set, desksync would not move the first collection")
	}
}
