// Package heaptest watches the heap while a test runs, for the tests that check an
// upload is streamed: memory must not grow with the size of the file.
package heaptest

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Watch collects garbage, notes the heap in use, and samples it every 5 ms until the
// returned stop is called; stop reports how far the heap rose above where it started.
// Heap figures are process-wide, so a test that calls Watch must not run in parallel
// with others.
func Watch() (stop func() (growth int64)) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	peak.Store(base)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return int64(peak.Load()) - int64(base)
	}
}
