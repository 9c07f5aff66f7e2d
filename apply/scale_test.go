package apply_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/desktime"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

// Tests of apply at scale: apply under injected faults and under a rate limit,
// with several uploads in flight, over real HTTP against the emulator.
//
// Unlike newEnv's client, the client here really sleeps, with backoffs of milliseconds:
// 429 waits go through the shared pacer, whose waits must pass in real time for the
// other workers to see them.

// scaleRetries is the retry budget of the scale tests' client: one more than any
// burst of transient faults, so a burst is always survivable, and small enough that a
// persistent fault is given up on quickly.
const scaleRetries = 3

// scaleClient replaces e's client by one that waits for real, briefly, and returns
// its counters. wrap, if given, wraps its transport.
func scaleClient(t *testing.T, e *env, wrap ...func(http.RoundTripper) http.RoundTripper) *desktime.Counts {
	t.Helper()
	cfg := desk.Config{
		URL: e.ts.URL, APIKey: testKey, Retries: scaleRetries, Timeout: 10 * time.Second,
	}
	for _, w := range wrap {
		cfg.HTTPClient = &http.Client{Transport: w(http.DefaultTransport)}
	}
	counts := new(desktime.Counts)
	c, err := desk.NewTuned(cfg, desktime.Knobs{BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond, Counts: counts})
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return counts
}

// manyFiles writes n small files with distinct content and returns their manifest.
func manyFiles(e *env, n int) *manifest.Manifest {
	e.t.Helper()
	files := map[string]string{}
	var entries strings.Builder
	for i := range n {
		name := fmt.Sprintf("f%03d.txt", i)
		files[name] = fmt.Sprintf("file %d\n%s", i, strings.Repeat("x", i*37))
		entries.WriteString("  - path: " + name + "\n")
	}
	e.write(files)
	return e.manifest(entries.String())
}

// faulted counts the logged requests to ep that met an injected fault: answered with
// status, or dropped when status is 0.
func (e *env) faulted(ep desktest.Endpoint, status int) int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Endpoint == ep && r.Status == status {
			n++
		}
	}
	return n
}

// temps lists the Desk files still in state temp.
func (e *env) temps() []int64 {
	var ids []int64
	for _, f := range e.srv.Files() {
		if f.State == "temp" {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// TestScaleTransientFaults injects a burst of failures into each step of the upload
// protocol while twelve files upload four at a time: 5xx answers, connections dropped
// before and after the server acted, and 429s. Every burst is survivable, so apply
// must finish without a failure, with each file active on Desk exactly once, nothing
// left temp, and exactly one extra request per fault (no duplicate upload).
func TestScaleTransientFaults(t *testing.T) {
	t.Parallel()
	const files = 12
	type fault struct {
		name string
		f    desktest.Fault
		// status is what the request log records for a faulted call (0: dropped).
		status int
		// retries is what the client's Retries count must show: 429s are waited out without
		// spending the retry budget.
		retries, limited int64
	}
	faults := []fault{
		{name: "500", f: desktest.Fault{Status: 500, Times: 3}, status: 500, retries: 3},
		{name: "502", f: desktest.Fault{Status: 502, Times: 3}, status: 502, retries: 3},
		{name: "503", f: desktest.Fault{Status: 503, Times: 3}, status: 503, retries: 3},
		{name: "dropped", f: desktest.Fault{Drop: true, Times: 2}, status: 0, retries: 2},
		{name: "dropped after commit", f: desktest.Fault{Drop: true, AfterCommit: true, Times: 2}, status: 0, retries: 2},
		{name: "429 burst", f: desktest.Fault{Status: 429, Times: 5, RetryAfter: "0"}, status: 429, limited: 5},
	}
	endpoints := []desktest.Endpoint{desktest.Ref, desktest.Upload, desktest.Patch}
	for _, ep := range endpoints {
		for _, ft := range faults {
			t.Run(ep.String()+"/"+ft.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envOptions{})
				counts := scaleClient(t, e)
				m := manyFiles(e, files)
				e.srv.Inject(ep, ft.f)

				res, err := e.run(m, func(o *apply.Options) { o.Parallelism = 4 })
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if res.Err() != nil || res.Created != files {
					t.Fatalf("created %d of %d; failures %q", res.Created, files, failures(res))
				}
				if got := e.faulted(ep, ft.status); got != ft.f.Times {
					t.Errorf("%d %s calls met the fault, want %d (log %v)", got, ep, ft.f.Times, e.endpoints())
				}
				// Each faulted call is retried once; nothing else is sent twice.
				for _, other := range endpoints {
					want := files
					if other == ep {
						want += ft.f.Times
					}
					if got := e.count(other); got != want {
						t.Errorf("%d %s calls, want %d", got, other, want)
					}
				}
				if counts.Retries.Load() != ft.retries || counts.RateLimited.Load() != ft.limited {
					t.Errorf("stats %+v, want %d retries and %d 429s", counts, ft.retries, ft.limited)
				}

				// A ref whose answer was lost left a temp file whose ID the client
				// never learned, so no state can record it; Desk discards temp files
				// that are never activated, which Remove stands in for. Nothing else
				// may be left over.
				orphans := 0
				if ep == desktest.Ref && ft.f.AfterCommit {
					orphans = ft.f.Times
				}
				tracked := map[int64]bool{}
				for _, a := range e.st.Attachments {
					tracked[a.ID] = true
				}
				temps := e.temps()
				if len(temps) != orphans {
					t.Errorf("Desk keeps %d temp files %v, want %d", len(temps), temps, orphans)
				}
				for _, id := range temps {
					if tracked[id] {
						t.Errorf("temp file %d is recorded as an attachment", id)
					}
					if err := e.srv.Remove(id); err != nil {
						t.Fatal(err)
					}
				}
				e.converged(m)
			})
		}
	}
}

// TestScalePersistentFault makes one step fail on every attempt for the first file:
// only that entry fails, after exactly the retry budget, with a message naming the
// address, the step and Desk's or S3's answer; the other files are created, nothing is
// left pending or temp, and the next apply, with the fault gone, converges.
func TestScalePersistentFault(t *testing.T) {
	t.Parallel()
	const files = 5
	tests := []struct {
		ep   desktest.Endpoint
		want string
	}{
		{desktest.Ref, `create f000.txt: create ref: 500 Internal Server Error: injected fault: status 500 (gave up after 4 attempts)`},
		{desktest.Upload, `create f000.txt: upload to S3: 500 Internal Server Error: InternalError: We encountered an internal error. Please try again. (gave up after 4 attempts)`},
		{desktest.Patch, `create f000.txt: activate file 1: 500 Internal Server Error: injected fault: status 500 (gave up after 4 attempts)`},
	}
	for _, tt := range tests {
		t.Run(tt.ep.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			counts := scaleClient(t, e)
			m := manyFiles(e, files)
			attempts := 1 + scaleRetries
			e.srv.Inject(tt.ep, desktest.Fault{Status: 500, Times: attempts})

			// One at a time, so that every attempt of the first file meets the fault.
			res, err := e.run(m, func(o *apply.Options) { o.Parallelism = 1 })
			if err != nil {
				t.Fatalf("Run returned %v; a failing entry must not stop the run", err)
			}
			if got, want := failures(res), []string{tt.want}; !slices.Equal(got, want) {
				t.Errorf("failures\n%q\nwant\n%q", got, want)
			}
			if res.Created != files-1 || len(res.Skipped) != 0 {
				t.Errorf("created %d, skipped %v; want %d created, none skipped", res.Created, skipped(res), files-1)
			}
			if got := e.faulted(tt.ep, 500); got != attempts {
				t.Errorf("%d %s calls answered 500, want %d (the first try and %d retries)", got, tt.ep, attempts, scaleRetries)
			}
			if counts.Retries.Load() != scaleRetries {
				t.Errorf("stats %+v, want %d retries", counts, scaleRetries)
			}
			const hint = "the server failed; desksync retried with backoff; try again later"
			var ae *apply.ActionError
			if len(res.Failures) != 1 || !errors.As(res.Failures[0].Err, &ae) || ae.Hint() != hint {
				t.Errorf("failures %v: want one *apply.ActionError with the hint %q", res.Failures, hint)
			}
			e.stateSaved()
			if len(e.st.Pending) != 0 || e.st.Attachments["f000.txt"] != nil || len(e.st.Attachments) != files-1 {
				t.Errorf("state: pending %v, %d attachments (f000.txt: %v)", e.st.Pending, len(e.st.Attachments), e.st.Attachments["f000.txt"])
			}
			if ids := e.temps(); len(ids) != 0 {
				t.Errorf("Desk keeps temp files %v", ids)
			}

			e.mustRun(m)
			e.converged(m)
		})
	}
}

// TestScaleRateLimited uploads 100 files, four at a time, under a rate limit scaled down
// from Desk's 120 a minute to 40 per one-second window: 200 Desk requests (a ref and a
// PATCH per file; S3 is not limited), so at least five windows. The pacer must keep
// 429s to a handful and never let one become a failure.
//
// The window is a whole second because the emulator, like Desk, sends Reset in whole
// seconds: with a shorter window every answer would say "1" and the pacer could only
// guess where windows end.
func TestScaleRateLimited(t *testing.T) {
	t.Parallel()
	const (
		files  = 100
		limit  = 40
		window = time.Second
		max429 = 5
	)
	tests := []struct {
		name  string
		epoch bool
	}{
		{"reset in seconds", false},
		{"reset as epoch", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{emulator: desktest.Options{RateLimit: limit, RateWindow: window, ResetAsEpoch: tt.epoch}})
			counts := scaleClient(t, e)
			m := manyFiles(e, files)

			start := time.Now()
			res, err := e.run(m, func(o *apply.Options) { o.Parallelism = 4 })
			elapsed := time.Since(start)
			if err != nil || res.Err() != nil || res.Created != files {
				t.Fatalf("created %d of %d: %v %v", res.Created, files, err, res.Err())
			}
			limited := e.faulted(desktest.Ref, 429) + e.faulted(desktest.Patch, 429)
			deskCalls := e.count(desktest.Ref) + e.count(desktest.Patch) - limited
			windows := (deskCalls + limit - 1) / limit
			minimum := time.Duration(windows-1) * window // the last window needs no time
			t.Logf("%d Desk requests in %v (minimum %v, %.2fx), %d 429s, stats %+v",
				deskCalls, elapsed.Round(time.Millisecond), minimum, elapsed.Seconds()/minimum.Seconds(), limited, counts)
			if deskCalls != 3*files-files { // ref and PATCH per file; S3 is not limited
				t.Errorf("%d Desk requests answered, want %d", deskCalls, 2*files)
			}
			if limited > max429 {
				t.Errorf("%d 429s, want at most %d", limited, max429)
			}
			if got := int64(limited); counts.RateLimited.Load() != got {
				t.Errorf("client counted %d 429s, the emulator sent %d", counts.RateLimited.Load(), got)
			}
			// Only a pacer that stalls: 10x the time the limit needs, as -race on two
			// busy cores is slow. How closely the pacer follows the windows is
			// desk's TestPacerWindowedLimit; the lower bound below is exact.
			if slow := 10 * (minimum + window); elapsed > slow {
				t.Errorf("took %v, more than %v (minimum %v)", elapsed, slow, minimum)
			}
			if elapsed < minimum-window {
				t.Errorf("took %v, less than the %v the limit allows: was it applied?", elapsed, minimum)
			}
			e.converged(m)
		})
	}
}

// slowStore is the real state file on a slow disk: every Append takes delay longer, so
// that actions finish while one is being written.
type slowStore struct {
	*state.File
	delay   time.Duration
	appends atomic.Int64
}

func (s *slowStore) Append(ctx context.Context, st *state.State, muts []state.Mutation) error {
	s.appends.Add(1)
	time.Sleep(s.delay)
	return s.File.Append(ctx, st, muts)
}

// TestScaleGroupCommit checks that the state's writer batches what is queued: with
// eight uploads at a time and a slow disk, steps share appends (far fewer than the two
// per file an upload records), yet none moves on before the state file on disk records
// its last step: whenever a PATCH activates a file, the saved state already lists it
// pending.
func TestScaleGroupCommit(t *testing.T) {
	t.Parallel()
	const files = 40
	e := newEnv(t, envOptions{})
	onDisk := state.NewFile(e.store.Path()) // a reader of its own, as a crash would see it
	patchPath := regexp.MustCompile(`/files/([0-9]+)\.json$`)
	var mu sync.Mutex
	var unrecorded []string
	var patches int
	scaleClient(t, e, func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if m := patchPath.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodPatch {
				id, _ := strconv.ParseInt(m[1], 10, 64)
				saved, err := onDisk.Load(req.Context())
				pending := false
				if err == nil {
					for _, p := range saved.Pending {
						pending = pending || p.ID == id
					}
				}
				mu.Lock()
				patches++
				if !pending {
					unrecorded = append(unrecorded, fmt.Sprintf("PATCH of file %d before the state file recorded it pending (%v)", id, err))
				}
				mu.Unlock()
			}
			return next.RoundTrip(req)
		})
	})
	store := &slowStore{File: e.store, delay: 5 * time.Millisecond}
	m := manyFiles(e, files)

	res, err := e.run(m, func(o *apply.Options) { o.Parallelism = 8; o.Store = store })
	if err != nil || res.Err() != nil || res.Created != files {
		t.Fatalf("created %d of %d: %v %v", res.Created, files, err, res.Err())
	}
	if patches != files || len(unrecorded) > 0 {
		t.Errorf("%d PATCHes, want %d; %q", patches, files, unrecorded)
	}
	appends := store.appends.Load()
	t.Logf("%d appends for %d files (%d without batching)", appends, files, 2*files)
	if appends > files {
		t.Errorf("%d appends for %d files: steps queued together did not share an append", appends, files)
	}
	if e.st.Serial != 2*files {
		t.Errorf("serial %d after recording %d steps in a new state", e.st.Serial, 2*files)
	}
	e.converged(m)
}
