package apply_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/state"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPolicyExpiry moves the emulator's clock past the policy's expiry between the ref
// and the S3 POST: apply must delete the stale temp file, get a fresh ref and succeed.
func TestPolicyExpiry(t *testing.T) {
	t.Parallel()
	var srv *desktest.Server
	var once sync.Once
	e := newEnv(t, envOptions{transport: func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/s3/") {
				once.Do(func() {
					later := time.Now().Add(2 * time.Hour) // PolicyTTL is 1 h
					srv.SetClock(func() time.Time { return later })
				})
			}
			return rt.RoundTrip(r)
		})
	}})
	srv = e.srv
	e.write(map[string]string{"a.txt": "alpha"})
	m := e.manifest("  - path: a.txt\n")
	res := e.mustRun(m)
	if res.Created != 1 {
		t.Errorf("created %d, want 1", res.Created)
	}
	want := []string{"Ref 201", "Upload 403", "Get 200", "Delete 204", "Ref 201", "Upload 201", "Patch 200"}
	if got := e.endpoints(); !slices.Equal(got, want) {
		t.Errorf("Desk calls %v, want %v", got, want)
	}
	files := e.srv.Files()
	if len(files) != 2 || files[0].State != "deleted" || files[1].State != "active" || e.st.Attachments["a.txt"].ID != files[1].ID {
		t.Errorf("Desk files %+v, want the stale temp file deleted and the second one active in state", files)
	}
	e.converged(m)
}

// TestPendingRecovery leaves an upload pending the way a crash would (PATCH committed
// but never answered, cleanup impossible) and checks what the next apply does with it.
func TestPendingRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// change, if set, is written before the second apply, so that the pending
		// upload no longer holds what is wanted.
		change      map[string]string
		wantUploads int
		want        apply.Result
	}{
		{"adopted without a second upload", nil, 1, apply.Result{Created: 1, Total: 2}},
		{"content changed: temp file deleted, uploaded again", map[string]string{"a.txt": "alpha, edited"}, 2,
			apply.Result{Created: 1, Cleaned: 1, Total: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{retries: 2})
			e.write(map[string]string{"a.txt": "alpha"})
			m := e.manifest("  - path: a.txt\n")
			// Every PATCH attempt activates the file and then drops the connection;
			// the cleanup DELETE is dropped too.
			e.srv.Inject(desktest.Patch, desktest.Fault{AfterCommit: true, Drop: true, Times: 3})
			e.srv.Inject(desktest.Delete, desktest.Fault{Drop: true, Times: 3})
			res, err := e.run(m, nil)
			if err != nil || len(res.Failures) != 1 || !strings.HasPrefix(res.Failures[0].Err.Error(), "a.txt: activate file 1: ") {
				t.Fatalf("first apply: %v, failures %v; want one activate failure", err, failures(res))
			}
			p := e.st.Pending["a.txt"]
			if p == nil || len(e.st.Attachments) != 0 {
				t.Fatalf("state after the failed activation: pending %v attachments %v; want a.txt pending only", e.st.Pending, e.st.Attachments)
			}
			e.stateSaved()

			if tt.change != nil {
				e.write(tt.change)
			}
			m = e.manifest("  - path: a.txt\n")
			got := e.mustRun(m)
			if !sameCounts(*got, tt.want) {
				t.Errorf("second apply %+v, want %+v", *got, tt.want)
			}
			if n := e.count(desktest.Upload); n != tt.wantUploads {
				t.Errorf("%d S3 POSTs in all, want %d", n, tt.wantUploads)
			}
			if tt.change == nil && e.st.Attachments["a.txt"].ID != p.ID {
				t.Errorf("a.txt is file %d, want the adopted pending file %d", e.st.Attachments["a.txt"].ID, p.ID)
			}
			e.converged(m)
		})
	}
}

// TestDeposedRecovery fails the DELETE of a replaced file: the old file stays in the
// state's deposed list, and the next apply deletes it first.
func TestDeposedRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.write(map[string]string{"a.txt": "alpha"})
	m := e.manifest("  - path: a.txt\n")
	e.mustRun(m)
	old := e.st.Attachments["a.txt"].ID

	e.write(map[string]string{"a.txt": "alpha two"})
	e.srv.Inject(desktest.Delete, desktest.Fault{Status: 500, Times: 3})
	res, err := e.run(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []string{"replace a.txt: delete old file 1: 500 Internal Server Error: injected fault: status 500 (gave up after 3 attempts)"}
	if got := failures(res); !slices.Equal(got, wantErr) || res.Replaced != 0 {
		t.Errorf("failures %q replaced %d, want %q and 0", got, res.Replaced, wantErr)
	}
	if len(e.st.Deposed) != 1 || e.st.Deposed[0].ID != old || e.st.Attachments["a.txt"].ID == old {
		t.Fatalf("state: attachment %+v deposed %+v; want the new file active and %d deposed", e.st.Attachments["a.txt"], e.st.Deposed, old)
	}
	e.stateSaved()

	got := e.mustRun(m)
	if !sameCounts(*got, apply.Result{Cleaned: 1, Total: 1}) {
		t.Errorf("second apply %+v, want one cleanup", *got)
	}
	e.converged(m)
}

// TestInterrupt stops a run of four uploads after the first finished: softly (the
// Interrupt channel) or hard (ctx cancelled).
func TestInterrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hard    bool
		wantErr string
		skipped string
	}{
		{"soft", false, "", "not started: apply was interrupted"},
		{"hard", true, "apply stopped before it finished: context canceled", "not started: context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.write(map[string]string{"a.txt": "a", "b.txt": "b", "c.txt": "c", "d.txt": "d"})
			m := e.manifest("  - path: a.txt\n  - path: b.txt\n  - path: c.txt\n  - path: d.txt\n")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := make(chan struct{})
			var once sync.Once
			rec := &recorder{onFinish: func(apply.Event, error) {
				once.Do(func() {
					if tt.hard {
						cancel()
					} else {
						close(stop)
					}
				})
			}}
			store := &compactCounter{File: e.store}
			opts := apply.Options{
				Plan: e.plan(m), Manifest: m, State: e.st, Store: store, Desk: e.client,
				Parallelism: 1, Progress: rec, Interrupt: stop,
			}
			res, err := apply.Run(ctx, opts)
			if got := errString(err); got != tt.wantErr {
				t.Errorf("Run error %q, want %q", got, tt.wantErr)
			}
			if tt.hard && !errors.Is(err, context.Canceled) {
				t.Errorf("Run error %v does not wrap context.Canceled", err)
			}
			want := []string{"b.txt create: " + tt.skipped, "c.txt create: " + tt.skipped, "d.txt create: " + tt.skipped}
			if res.Created != 1 || !slices.Equal(skipped(res), want) {
				t.Errorf("created %d, skipped %q; want 1 and %q", res.Created, skipped(res), want)
			}
			if got, _, _ := strings.Cut(errString(res.Err()), "\n"); got != "3 of 4 changes not started:" {
				t.Errorf("Result.Err() = %q", got)
			}
			e.stateSaved()
			if n := store.compactions.Load(); n != 1 {
				t.Errorf("%d compactions on the way out, want 1", n)
			}
			if len(e.st.Attachments) != 1 || len(e.st.Pending) != 0 {
				t.Errorf("state: %d attachments, pending %v; want 1 and none", len(e.st.Attachments), e.st.Pending)
			}
			e.mustRun(m)
			e.converged(m)
		})
	}
}

// compactCounter is the state file, counting Compact calls.
type compactCounter struct {
	*state.File
	compactions atomic.Int64
}

func (c *compactCounter) Compact(ctx context.Context, st *state.State) error {
	c.compactions.Add(1)
	return c.File.Compact(ctx, st)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestSaveFailure removes the state's folder after the first upload: the next save
// fails, Run reports it, the temp file whose pending record could not be saved is
// deleted, and nothing further starts.
func TestSaveFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.write(map[string]string{"a.txt": "a", "b.txt": "b", "c.txt": "c"})
	m := e.manifest("  - path: a.txt\n  - path: b.txt\n  - path: c.txt\n")
	var once sync.Once
	rec := &recorder{onFinish: func(apply.Event, error) {
		once.Do(func() {
			if err := os.RemoveAll(filepath.Dir(e.store.Path())); err != nil {
				t.Error(err)
			}
		})
	}}
	res, err := e.run(m, func(o *apply.Options) { o.Parallelism = 1; o.Progress = rec })
	var se *apply.SaveError
	if !errors.As(err, &se) || se.Address != "b.txt" || se.Hint() == "" {
		t.Fatalf("Run error %v, want a *apply.SaveError for b.txt with a hint", err)
	}
	if !strings.HasPrefix(err.Error(), "save state after b.txt: ") {
		t.Errorf("error %q does not say which save failed", err)
	}
	if want := []string{"c.txt create: " + apply.ErrStateNotSaved.Error()}; res.Created != 1 || !slices.Equal(skipped(res), want) {
		t.Errorf("created %d, skipped %q; want 1 and %q", res.Created, skipped(res), want)
	}
	for _, f := range e.srv.Files() {
		if f.State == "temp" {
			t.Errorf("Desk keeps temp file %d (%s) that no state records", f.ID, f.Filename)
		}
	}
}

// TestFileChangedAfterPlan edits a file between plan and apply: apply must not record
// a hash that does not describe what it uploaded.
func TestFileChangedAfterPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content, want string
	}{
		{"same size", "ALPHA", "a.txt: upload to S3: the file changed since the plan was made: its content changed (blake3 "},
		{"other size", "alphabet", "a.txt: open file: the file changed since the plan was made: size is 8 bytes, the plan has 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.write(map[string]string{"a.txt": "alpha", "b.txt": "beta"})
			m := e.manifest("  - path: a.txt\n  - path: b.txt\n")
			p := e.plan(m)
			e.write(map[string]string{"a.txt": tt.content})
			res, err := apply.Run(context.Background(), apply.Options{Plan: p, Manifest: m, State: e.st, Store: e.store, Desk: e.client})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failures) != 1 || !strings.HasPrefix(res.Failures[0].Err.Error(), tt.want) || res.Created != 1 {
				t.Fatalf("failures %q, created %d; want one starting %q and b.txt created", failures(res), res.Created, tt.want)
			}
			var ce *apply.FileChangedError
			if !errors.As(res.Failures[0].Err, &ce) || ce.Hint() == "" {
				t.Errorf("failure %v is not an *apply.FileChangedError with a hint", res.Failures[0].Err)
			}
			if e.st.Attachments["a.txt"] != nil || len(e.st.Pending) != 0 {
				t.Errorf("state records a.txt: %+v pending %v", e.st.Attachments["a.txt"], e.st.Pending)
			}
			for _, f := range e.srv.Files() {
				if f.State == "temp" || (f.State == "active" && f.Filename == "a.txt") {
					t.Errorf("Desk keeps file %d (%s, %s)", f.ID, f.Filename, f.State)
				}
			}
			e.mustRun(m)
			e.converged(m)
		})
	}
}

// TestInterruptAbandoned: an upload cut short by the hard stop (ctx cancelled while
// its S3 POST runs) is counted as not finished, not as failed, and stays pending for
// the next apply, which finishes it.
func TestInterruptAbandoned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.write(map[string]string{"a.txt": "a"})
	m := e.manifest("  - path: a.txt\n")
	// The POST waits far longer than the test: only the cancel can end it.
	e.srv.Inject(desktest.Upload, desktest.Fault{Latency: time.Minute, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{onStart: func(apply.Event) { cancel() }} // Start comes once the ref is answered
	res, err := apply.Run(ctx, apply.Options{Plan: e.plan(m), Manifest: m, State: e.st, Store: e.store, Desk: e.client, Parallelism: 1, Progress: rec})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run error %v, want context.Canceled", err)
	}
	if len(res.Failures) != 0 || len(res.Abandoned) != 1 || res.Abandoned[0].Address != "a.txt" || res.Abandoned[0].Action != "create" {
		t.Fatalf("failures %q, abandoned %+v; want none and a.txt's create", failures(res), res.Abandoned)
	}
	if got := errString(res.Err()); !strings.HasPrefix(got, "1 of 1 change not finished: abandoned when apply was stopped (the next apply finishes them):\n  a.txt (create)") ||
		strings.Contains(got, "failed") {
		t.Errorf("Result.Err() = %q", got)
	}
	if len(e.st.Pending) != 1 {
		t.Errorf("pending %v, want the abandoned upload recorded", e.st.Pending)
	}
	e.srv.ClearFaults()
	e.mustRun(m)
	e.converged(m)
}
