package apply_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
)

// TestRunFailures injects one Desk or S3 failure into an apply of three changes and
// checks that the failure names the address, the step and the status, that the other
// changes proceed, that the state stays consistent (nothing pending, the old file of a
// failed replace still active), and that the next apply converges.
func TestRunFailures(t *testing.T) {
	t.Parallel()
	const three = "  - path: a.txt\n  - path: b.txt\n  - path: c.txt\n"
	tests := []struct {
		name string
		// setup, if set, applies this manifest first (so there is something to
		// replace or delete) and then the files of change.
		setup    string
		change   map[string]string
		manifest string
		fault    func(e *env)
		want     apply.Result // counts of the failing apply
		errs     []string     // its failures, exactly
		status   int          // the *desk.APIError status behind the failure
		// fixed, if set, is the manifest that the next apply uses (for a failure
		// that is the manifest's fault rather than Desk's).
		fixed string
	}{
		{
			name:     "Desk 400 on ref",
			manifest: three,
			fault:    func(e *env) { e.srv.Inject(desktest.Ref, desktest.Fault{Status: 400}) },
			want:     apply.Result{Created: 2, Total: 3},
			errs:     []string{`create a.txt: create ref: 400 Bad Request: injected fault: status 400`},
			status:   400,
		},
		{
			name:     "Desk 400 validation of the ref",
			manifest: "  - path: a.txt\n    type: document\n  - path: b.txt\n  - path: c.txt\n",
			fault:    func(*env) {},
			want:     apply.Result{Created: 2, Total: 3},
			errs:     []string{`create a.txt: create ref: 400 Bad Request: type: "document" is not a known file type; use one of attachment, image, avatar, logo`},
			status:   400,
			fixed:    "  - path: a.txt\n  - path: b.txt\n  - path: c.txt\n",
		},
		{
			name:     "S3 403 on upload",
			manifest: three,
			fault:    func(e *env) { e.srv.Inject(desktest.Upload, desktest.Fault{Status: 403}) },
			want:     apply.Result{Created: 2, Total: 3},
			errs:     []string{`create a.txt: upload to S3: 403 Forbidden: AccessDenied: Access Denied`},
			status:   403,
		},
		{
			name:     "500 on PATCH after retries",
			manifest: three,
			fault:    func(e *env) { e.srv.Inject(desktest.Patch, desktest.Fault{Status: 500, Times: 3}) },
			want:     apply.Result{Created: 2, Total: 3},
			errs:     []string{`create a.txt: activate file 1: 500 Internal Server Error: injected fault: status 500 (gave up after 3 attempts)`},
			status:   500,
		},
		{
			name:     "S3 403 on the upload of a replace keeps the old file",
			setup:    three,
			change:   map[string]string{"a.txt": "a, changed", "b.txt": "b, changed"},
			manifest: three,
			fault:    func(e *env) { e.srv.Inject(desktest.Upload, desktest.Fault{Status: 403}) },
			want:     apply.Result{Replaced: 1, Total: 2},
			errs:     []string{`replace a.txt: upload to S3: 403 Forbidden: AccessDenied: Access Denied`},
			status:   403,
		},
		{
			name:     "500 on DELETE after retries keeps the attachment",
			setup:    three,
			manifest: "  - path: c.txt\n",
			fault:    func(e *env) { e.srv.Inject(desktest.Delete, desktest.Fault{Status: 500, Times: 3}) },
			want:     apply.Result{Deleted: 1, Total: 2},
			errs:     []string{`delete a.txt: delete file 1: 500 Internal Server Error: injected fault: status 500 (gave up after 3 attempts)`},
			status:   500,
		},
		{
			name:     "404 on DELETE counts as deleted",
			setup:    three,
			manifest: "  - path: c.txt\n",
			fault: func(e *env) {
				if err := e.srv.Remove(e.st.Attachments["a.txt"].ID); err != nil {
					e.t.Fatal(err)
				}
			},
			want: apply.Result{Deleted: 2, Total: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.write(map[string]string{"a.txt": "a", "b.txt": "bb", "c.txt": "ccc"})
			if tt.setup != "" {
				// One at a time, so that Desk IDs follow the addresses.
				if res, err := e.run(e.manifest(tt.setup), func(o *apply.Options) { o.Parallelism = 1 }); err != nil || res.Err() != nil {
					t.Fatalf("setup apply: %v %v", err, res.Err())
				}
				if tt.change != nil {
					e.write(tt.change)
				}
			}
			before := e.st.Clone()
			m := e.manifest(tt.manifest)
			tt.fault(e)
			// One at a time, so that the fault meets a.txt, the first address.
			res, err := e.run(m, func(o *apply.Options) { o.Parallelism = 1 })
			if err != nil {
				t.Fatalf("Run returned %v; a failing change must not stop the run", err)
			}
			if !sameCounts(*res, apply.Result{Created: tt.want.Created, Updated: tt.want.Updated,
				Replaced: tt.want.Replaced, Deleted: tt.want.Deleted, Total: tt.want.Total,
				Failures: make([]apply.Failure, len(tt.errs))}) {
				t.Errorf("result %+v, want %+v", *res, tt.want)
			}
			if got := failures(res); !slices.Equal(got, tt.errs) {
				t.Errorf("failures\n%q\nwant\n%q", got, tt.errs)
			}
			for _, f := range res.Failures {
				var ae *apply.ActionError
				var de *desk.APIError
				if !errors.As(f.Err, &ae) || ae.Address != f.Address || !errors.As(f.Err, &de) || de.Status != tt.status {
					t.Errorf("failure %v: want an *apply.ActionError for %s wrapping a *desk.APIError with status %d", f.Err, f.Address, tt.status)
				}
			}
			if len(tt.errs) > 0 && res.Err() == nil {
				t.Error("Result.Err() is nil despite failures")
			}

			// The state is consistent: saved, nothing pending or deposed, and the
			// failed address keeps exactly what it had.
			e.stateSaved()
			if len(e.st.Pending) > 0 || len(e.st.Deposed) > 0 {
				t.Errorf("state keeps pending %v / deposed %v", e.st.Pending, e.st.Deposed)
			}
			if len(tt.errs) > 0 {
				was, now := before.Attachments["a.txt"], e.st.Attachments["a.txt"]
				if (was == nil) != (now == nil) || (was != nil && *was != *now) {
					t.Errorf("a.txt changed in state from %+v to %+v", was, now)
				}
			}
			for _, f := range e.srv.Files() {
				if f.State == "temp" {
					t.Errorf("Desk keeps temp file %d (%s)", f.ID, f.Filename)
				}
				if a := before.Attachments["a.txt"]; a != nil && f.ID == a.ID && len(tt.errs) > 0 && f.State != "active" {
					t.Errorf("the old file %d of a.txt is %s, want still active", f.ID, f.State)
				}
			}

			// With the fault gone, the next apply finishes the job.
			e.srv.ClearFaults()
			if tt.fixed != "" {
				m = e.manifest(tt.fixed)
			}
			e.mustRun(m)
			e.converged(m)
		})
	}
}

// TestActionErrorNamesTheRequestOnce checks that a failure line does not say the
// request twice: a Desk error loses its own "desk: create ref for …" prefix under the
// address and step, while an error wrapping one keeps every word.
func TestActionErrorNamesTheRequestOnce(t *testing.T) {
	apiErr := &desk.APIError{Op: `create ref for "a.png"`, Status: 500, Message: "boom", Attempts: 6}
	tests := []struct {
		err  error
		want string
	}{
		{apiErr, `a.png: create ref: 500 Internal Server Error: boom (gave up after 6 attempts)`},
		{&desk.ResponseError{Op: `create ref for "a.png"`, URL: "https://x.example/ref.json", Msg: "no url"},
			`a.png: create ref: unusable answer from https://x.example/ref.json: no url`},
		{fmt.Errorf("%w (and more)", apiErr),
			`a.png: create ref: desk: create ref for "a.png": 500 Internal Server Error: boom (gave up after 6 attempts) (and more)`},
		{errors.New("plain"), `a.png: create ref: plain`},
	}
	for _, tt := range tests {
		e := &apply.ActionError{Address: "a.png", Step: "create ref", Err: tt.err}
		if got := e.Error(); got != tt.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
		}
		if !errors.Is(e, tt.err) {
			t.Errorf("%v does not unwrap to its cause", e)
		}
	}
}

// TestFailedErrorHint checks that an incomplete apply passes on the remedy of each kind
// of failure, once each, before saying how to finish.
func TestFailedErrorHint(t *testing.T) {
	server := &desk.APIError{Op: "update file 1", Status: 503}
	auth := &desk.APIError{Op: `create ref for "b"`, Status: 401}
	e := &apply.FailedError{Total: 3, Failures: []apply.Failure{
		{Address: "a", Action: "update", Err: &apply.ActionError{Address: "a", Step: "update file 1", Err: server}},
		{Address: "b", Action: "create", Err: &apply.ActionError{Address: "b", Step: "create ref", Err: auth}},
		{Address: "c", Action: "update", Err: &apply.ActionError{Address: "c", Step: "update file 2", Err: server}},
		{Address: "d", Action: "create", Err: errors.New("no remedy known")},
	}}
	want := server.Hint() + "\n" + auth.Hint() + "\n" +
		"the state records everything that finished; fix the causes above and run desksync apply again"
	if got := e.Hint(); got != want {
		t.Errorf("Hint() =\n%s\nwant\n%s", got, want)
	}
}
