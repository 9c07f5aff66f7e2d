package apply_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk/desktest"
)

// TestRunChanges applies a first manifest, then a second, and checks the counts, the
// Desk calls of the second apply, and convergence after each.
func TestRunChanges(t *testing.T) {
	t.Parallel()
	const base = "  - path: a.txt\n  - path: img/b.png\n  - path: c.md\n"
	baseFiles := map[string]string{"a.txt": "alpha\n", "img/b.png": "\x89PNG\r\n\x1a\nbeta", "c.md": "# gamma\n"}
	tests := []struct {
		name     string
		files    map[string]string // written after the first apply
		manifest string            // the second manifest
		want     apply.Result
		calls    []string // endpoints of the second apply, in order
	}{
		{
			name:     "no-op",
			manifest: base,
			want:     apply.Result{},
			calls:    nil,
		},
		{
			name:     "create",
			files:    map[string]string{"d.txt": "delta\n"},
			manifest: base + "  - path: d.txt\n",
			want:     apply.Result{Created: 1, Total: 1},
			calls:    []string{"Ref 201", "Upload 201", "Patch 200"},
		},
		{
			name:     "update filename",
			manifest: "  - path: a.txt\n    filename: renamed.txt\n  - path: img/b.png\n  - path: c.md\n",
			want:     apply.Result{Updated: 1, Total: 1},
			calls:    []string{"Patch 200"},
		},
		{
			name:     "update disposition",
			manifest: "  - path: a.txt\n  - path: img/b.png\n    disposition: attachment-inline\n  - path: c.md\n",
			want:     apply.Result{Updated: 1, Total: 1},
			calls:    []string{"Patch 200"},
		},
		{
			name:     "replace content",
			files:    map[string]string{"c.md": "# gamma, longer now\n"},
			manifest: base,
			want:     apply.Result{Replaced: 1, Total: 1},
			calls:    []string{"Ref 201", "Upload 201", "Patch 200", "Get 200", "Delete 204"},
		},
		{
			name:     "replace mimeType",
			manifest: "  - path: a.txt\n    mimeType: application/octet-stream\n  - path: img/b.png\n  - path: c.md\n",
			want:     apply.Result{Replaced: 1, Total: 1},
			calls:    []string{"Ref 201", "Upload 201", "Patch 200", "Get 200", "Delete 204"},
		},
		{
			name:     "delete",
			manifest: "  - path: a.txt\n  - path: c.md\n",
			want:     apply.Result{Deleted: 1, Total: 1},
			calls:    []string{"Get 200", "Delete 204"},
		},
		{
			name:     "mix",
			files:    map[string]string{"a.txt": "alpha two\n", "e.txt": "epsilon\n"},
			manifest: "  - path: a.txt\n  - path: img/b.png\n    filename: logo.png\n  - path: e.txt\n",
			want:     apply.Result{Created: 1, Updated: 1, Replaced: 1, Deleted: 1, Total: 4},
			// uploads first (two, in parallel), then the update, then both deletes
			calls: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.write(baseFiles)
			m := e.manifest(base)
			if got := *e.mustRun(m); !sameCounts(got, apply.Result{Created: 3, Total: 3}) {
				t.Fatalf("first apply: %+v", got)
			}
			e.converged(m)
			serial := e.st.Serial

			e.srv.ResetRequests()
			if tt.files != nil {
				e.write(tt.files)
			}
			m = e.manifest(tt.manifest)
			got := e.mustRun(m)
			if !sameCounts(*got, tt.want) {
				t.Errorf("result %+v, want %+v", *got, tt.want)
			}
			if tt.calls != nil || tt.name == "no-op" {
				if calls := e.endpoints(); !slices.Equal(calls, tt.calls) {
					t.Errorf("Desk calls %v, want %v", calls, tt.calls)
				}
			}
			if tt.name == "mix" {
				// Phases are barriers: every upload call before the PATCH of the
				// update, and both checked DELETEs last.
				calls := e.endpoints()
				last := slices.Sorted(slices.Values(calls[min(7, len(calls)):]))
				if len(calls) != 11 || calls[6] != "Patch 200" || !slices.Equal(last, []string{"Delete 204", "Delete 204", "Get 200", "Get 200"}) {
					t.Errorf("Desk calls %v, want 2×(Ref, Upload, Patch), Patch, 2×(Get, Delete)", calls)
				}
			}
			e.converged(m)
			if tt.name == "no-op" && e.st.Serial != serial {
				t.Errorf("a no-op apply wrote the state (serial %d -> %d)", serial, e.st.Serial)
			}
		})
	}
}

func sameCounts(a, b apply.Result) bool {
	return a.Created == b.Created && a.Updated == b.Updated && a.Replaced == b.Replaced &&
		a.Deleted == b.Deleted && a.Cleaned == b.Cleaned && a.Total == b.Total &&
		len(a.Failures) == len(b.Failures) && len(a.Skipped) == len(b.Skipped)
}

// TestUploadProtocol checks one upload on the wire: ref, S3 POST, PATCH, in that
// order, the S3 POST without the API key, and the state saved after the ref (pending)
// and after activation.
func TestUploadProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.write(map[string]string{"logo.png": "\x89PNG\r\n\x1a\nsome bytes"})
	m := e.manifest("  - path: logo.png\n")
	serial := e.st.Serial
	e.mustRun(m)

	reqs := e.srv.Requests()
	var got []desktest.Endpoint
	for _, r := range reqs {
		got = append(got, r.Endpoint)
		switch r.Endpoint {
		case desktest.Upload:
			if r.Authorization != "" {
				t.Errorf("the S3 POST carried Authorization %q", r.Authorization)
			}
		default:
			if r.Authorization != "Bearer "+testKey {
				t.Errorf("%s carried Authorization %q", r.Endpoint, r.Authorization)
			}
		}
	}
	if want := []desktest.Endpoint{desktest.Ref, desktest.Upload, desktest.Patch}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	if e.st.Serial != serial+2 {
		t.Errorf("serial went %d -> %d, want two saves (pending, then active)", serial, e.st.Serial)
	}
	e.converged(m)
}

// TestProgressEvents checks what a renderer is told about a run: totals, and a
// Start/Finish pair per action in phase order.
func TestProgressEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.write(map[string]string{"a.txt": "a", "b.txt": "b"})
	e.mustRun(e.manifest("  - path: a.txt\n  - path: b.txt\n"))

	e.write(map[string]string{"a.txt": "a2", "c.txt": "ccc"})
	m := e.manifest("  - path: a.txt\n  - path: c.txt\n")
	rec := &recorder{}
	res, err := e.run(m, func(o *apply.Options) { o.Progress = rec; o.Parallelism = 1 })
	if err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res.Err())
	}
	want := []string{
		"start replace a.txt", "done replace a.txt",
		"start create c.txt", "done create c.txt",
		"start delete b.txt", "done delete b.txt",
		"start delete a.txt", "done delete a.txt", // the old half of the replace
	}
	if !slices.Equal(rec.events, want) {
		t.Errorf("events\n%v\nwant\n%v", rec.events, want)
	}
	if rec.begin != (apply.Totals{Actions: 4, Bytes: 5}) {
		t.Errorf("Begin(%+v), want 4 actions, 5 bytes", rec.begin)
	}
	if rec.end != res {
		t.Errorf("End got %p, want the result %p", rec.end, res)
	}
	e.converged(m)
}

func TestRunRejectsIncompleteOptions(t *testing.T) {
	t.Parallel()
	_, err := apply.Run(context.Background(), apply.Options{})
	if err == nil || err.Error() != "apply: options lack Plan, State, Store, Desk" {
		t.Errorf("Run(empty options) = %v", err)
	}
}

func TestResultErr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *apply.Result
		want string
	}{
		{"all done", &apply.Result{Created: 2, Total: 2}, ""},
		{"one of one", &apply.Result{Total: 1, Failures: []apply.Failure{fail("a.txt", "boom")}},
			"1 of 1 change failed:\n  a.txt: create ref: boom"},
		{"failed", &apply.Result{Total: 5, Failures: []apply.Failure{fail("a.txt", "boom"), fail("b.txt", "bang")}},
			"2 of 5 changes failed:\n  a.txt: create ref: boom\n  b.txt: create ref: bang"},
		{"skipped", &apply.Result{Total: 5, Skipped: []apply.Failure{{Address: "c.txt", Action: "update", Err: apply.ErrInterrupted}}},
			"1 of 5 changes not started:\n  c.txt (update): not started: apply was interrupted"},
		{"both", &apply.Result{Total: 5, Failures: []apply.Failure{fail("a.txt", "boom")},
			Skipped: []apply.Failure{{Address: "c.txt", Action: "update", Err: apply.ErrInterrupted}}},
			"1 of 5 changes failed:\n  a.txt: create ref: boom\n1 of 5 changes not started:\n  c.txt (update): not started: apply was interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.res.Err()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Err() = %v, want nil", err)
				}
				return
			}
			var fe *apply.FailedError
			if !errors.As(err, &fe) || err.Error() != tt.want || fe.Hint() == "" {
				t.Errorf("Err() = %v, want %q with a hint", err, tt.want)
			}
		})
	}
}

// fail is a failed create of address whose ref request failed with msg.
func fail(address, msg string) apply.Failure {
	return apply.Failure{Address: address, Action: "create",
		Err: &apply.ActionError{Address: address, Step: "create ref", Err: errors.New(msg)}}
}
