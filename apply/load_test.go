package apply_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/heaptest"
)

// TestParallelism uploads eight files with every emulator request slowed down and
// counts the requests in flight (ref, S3 POST and PATCH alike): never more than
// Parallelism, and that many at once. An upload waiting for the state to record a step
// holds no request slot, so up to four uploads per slot may be under way, except with
// Parallelism 1, which runs one at a time.
func TestParallelism(t *testing.T) {
	t.Parallel()
	tests := []struct {
		parallelism, wantRequests int
		// minUploads and maxUploads bound the most uploads under way at once
		// (between Start and Finish).
		minUploads, maxUploads int
	}{
		{1, 1, 1, 1},
		{4, 4, 4, 8},
		{0, 4, 4, 8}, // the default
		{16, 8, 8, 8},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.parallelism), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var inFlight, maxInFlight int
			count := func(next http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(req *http.Request) (*http.Response, error) {
					mu.Lock()
					inFlight++
					maxInFlight = max(maxInFlight, inFlight)
					mu.Unlock()
					defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
					return next.RoundTrip(req)
				})
			}
			e := newEnv(t, envOptions{emulator: desktest.Options{Latency: 20 * time.Millisecond}, transport: count})
			var entries strings.Builder
			for i := range 8 {
				name := fmt.Sprintf("f%d.txt", i)
				e.write(map[string]string{name: strings.Repeat("x", 100+i)})
				entries.WriteString("  - path: " + name + "\n")
			}
			m := e.manifest(entries.String())
			rec := &recorder{}
			res, err := e.run(m, func(o *apply.Options) { o.Parallelism = tt.parallelism; o.Progress = rec })
			if err != nil || res.Err() != nil || res.Created != 8 {
				t.Fatalf("apply: %v %v, created %d", err, res.Err(), res.Created)
			}
			if maxInFlight != tt.wantRequests {
				t.Errorf("at most %d requests in flight, want %d", maxInFlight, tt.wantRequests)
			}
			if rec.maxInFlight < tt.minUploads || rec.maxInFlight > tt.maxUploads {
				t.Errorf("at most %d uploads under way, want %d to %d", rec.maxInFlight, tt.minUploads, tt.maxUploads)
			}
			e.converged(m)
		})
	}
}

// TestOpenActionsBound makes every append to the state slow, so that uploads pile up
// waiting for one: no more than four per request slot may be under way, still no more
// requests in flight than Parallelism, and the slow appends are shared by many uploads.
func TestOpenActionsBound(t *testing.T) {
	t.Parallel()
	const files, parallelism = 40, 2
	var mu sync.Mutex
	var inFlight, maxInFlight int
	e := newEnv(t, envOptions{transport: func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
			mu.Unlock()
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
			return next.RoundTrip(req)
		})
	}})
	m := manyFiles(e, files)
	store := &slowStore{File: e.store, delay: 20 * time.Millisecond}
	rec := &recorder{}
	res, err := e.run(m, func(o *apply.Options) { o.Parallelism = parallelism; o.Store = store; o.Progress = rec })
	if err != nil || res.Err() != nil || res.Created != files {
		t.Fatalf("created %d of %d: %v %v", res.Created, files, err, res.Err())
	}
	if want := 4 * parallelism; rec.maxInFlight != want {
		t.Errorf("at most %d uploads under way, want %d", rec.maxInFlight, want)
	}
	if maxInFlight > parallelism {
		t.Errorf("%d requests in flight, want at most %d", maxInFlight, parallelism)
	}
	// Unshared, every file costs two appends (pending, then active); half an append
	// per file is typical, one the bound, so that a loaded machine does not fail a run
	// whose appends were shared.
	if appends := store.appends.Load(); appends > files {
		t.Errorf("%d appends for %d files: waiting uploads did not share appends", appends, files)
	}
	e.converged(m)
}

// TestLargeUploadMemory uploads a 100 MiB file and samples the heap meanwhile: the
// upload is streamed from disk, so the heap must not grow with the file's size.
func TestLargeUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and uploads 100 MiB")
	}
	// Not parallel: heap figures are process-wide.
	const size = 100 << 20
	const bound = 32 << 20
	e := newEnv(t, envOptions{emulator: desktest.Options{Dir: t.TempDir()}})
	f, err := os.Create(filepath.Join(e.root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	for i := range size / len(block) {
		block[0] = byte(i) // every MiB differs
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	block = nil
	m := e.manifest("  - path: big.bin\n")
	p := e.plan(m)

	stop := heaptest.Watch()
	var sent atomic.Int64
	res, err := apply.Run(t.Context(), apply.Options{
		Plan: p, Manifest: m, State: e.st, Store: e.store, Desk: e.client,
		Progress: advanceCounter{&sent},
	})
	growth := stop()
	if err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res.Failures)
	}
	t.Logf("heap in use grew by at most %.1f MiB during a %d MiB upload", float64(growth)/(1<<20), size>>20)
	if growth > bound {
		t.Errorf("heap grew by %d MiB during a %d MiB upload, want at most %d MiB", growth>>20, size>>20, bound>>20)
	}
	if sent.Load() != size {
		t.Errorf("progress reported %d bytes sent, want %d", sent.Load(), size)
	}
	e.converged(m)
}

// advanceCounter is a Progress that keeps the last Advance.
type advanceCounter struct{ sent *atomic.Int64 }

func (advanceCounter) Begin(apply.Totals)          {}
func (advanceCounter) Start(apply.Event)           {}
func (a advanceCounter) Advance(_ string, n int64) { a.sent.Store(n) }
func (advanceCounter) Finish(apply.Event, error)   {}
func (advanceCounter) End(*apply.Result)           {}
