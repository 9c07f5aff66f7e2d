package apply_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/apply"
	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/desktime"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
)

// TestDeleteChecksTheRecord points a state record at a Desk file it does not describe
// (someone else's file, see SECURITY.md) and checks that apply GETs it,
// refuses to delete it with an error naming the record and Desk's filename and size,
// and sends no DELETE; a record without filename and size (state version 1) is
// refused the same way.
func TestDeleteChecksTheRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// forge edits the state so that a.txt's record names other, the Desk file
		// "other.pdf" of 9 bytes; the manifest then has only keep.txt.
		forge func(st *state.State, other int64)
		want  []string // substrings of the one failure
	}{
		{
			name: "attachment",
			forge: func(st *state.State, other int64) {
				st.Attachments["a.txt"].ID = other
			},
			want: []string{"a.txt: delete file ", `the state's attachment record says "a.txt" (5 bytes), Desk has "other.pdf" (9 bytes)`},
		},
		{
			name: "deposed",
			forge: func(st *state.State, other int64) {
				st.Deposed = append(st.Deposed, state.Deposed{Address: "a.txt", ID: other, Filename: "a.txt", Size: 5})
			},
			want: []string{"a.txt: delete old file ", `the state's deposed record says "a.txt" (5 bytes), Desk has "other.pdf" (9 bytes)`},
		},
		{
			name: "deposed, version 1",
			forge: func(st *state.State, other int64) {
				st.Deposed = append(st.Deposed, state.Deposed{Address: "a.txt", ID: other})
			},
			want: []string{"a.txt: delete old file ", `its deposed record has no filename to check it against`, `Desk has "other.pdf" (9 bytes)`},
		},
		{
			name: "pending",
			forge: func(st *state.State, other int64) {
				st.Pending["keep.txt"] = &state.Pending{ID: other, Blake3: strings.Repeat("0", 64), Filename: "keep.txt", Size: 4}
			},
			want: []string{"keep.txt: delete leftover temp file ", `the state's pending record says "keep.txt" (4 bytes), Desk has "other.pdf" (9 bytes)`},
		},
		{
			name: "pending, version 1",
			forge: func(st *state.State, other int64) {
				st.Pending["keep.txt"] = &state.Pending{ID: other, Blake3: strings.Repeat("0", 64)}
			},
			want: []string{"keep.txt: delete leftover temp file ", "its pending record has no filename to check it against"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.write(map[string]string{"a.txt": "alpha", "keep.txt": "keep", "other.pdf": "not yours"})
			// other.pdf stands for a file of another team: on Desk, not in this state.
			e.mustRun(e.manifest("  - path: a.txt\n  - path: keep.txt\n  - path: other.pdf\n"))
			other := e.st.Attachments["other.pdf"].ID
			e.st.Forget("other.pdf")
			if tt.name != "attachment" {
				e.st.Forget("a.txt") // only the forged record points anywhere
			}
			if e.st.Pending == nil {
				e.st.Pending = map[string]*state.Pending{}
			}
			tt.forge(e.st, other)
			if err := e.store.Save(t.Context(), e.st); err != nil {
				t.Fatal(err)
			}
			m := e.manifest("  - path: keep.txt\n")
			e.srv.ResetRequests()

			res, err := e.run(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := e.count(desktest.Delete); n != 0 {
				t.Errorf("%d DELETE requests, want none: %v", n, e.endpoints())
			}
			if e.count(desktest.Get) == 0 {
				t.Errorf("no GET before the refused delete: %v", e.endpoints())
			}
			var mismatch *apply.DeleteMismatchError
			if len(res.Failures) == 0 || !errors.As(res.Failures[0].Err, &mismatch) || mismatch.ID != other || mismatch.Hint() == "" {
				t.Fatalf("failures %q, want a *apply.DeleteMismatchError for file %d with a hint", failures(res), other)
			}
			msg := res.Failures[0].Err.Error()
			for _, w := range append(tt.want, fmt.Sprintf("file %d", other)) {
				if !strings.Contains(msg, w) {
					t.Errorf("failure %q lacks %q", msg, w)
				}
			}
			for _, f := range e.srv.Files() {
				if f.ID == other && f.State != "active" {
					t.Errorf("the other file is %s", f.State)
				}
			}
			e.stateSaved()
		})
	}
}

// TestWrongKey runs an apply of 20 new files with a key Desk refuses
// (SECURITY.md): at most Parallelism requests are sent and refused, no action counts as
// started or failed, all 20 are not started, and the error is one line with the hint
// to check the key.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	const files, parallelism = 20, 4
	e := newEnv(t, envOptions{})
	m := manyFiles(e, files)
	wrong, err := desk.NewTuned(desk.Config{URL: e.ts.URL, APIKey: "not-the-key", Retries: 2},
		desktime.Knobs{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	res, err := e.run(m, func(o *apply.Options) { o.Desk = wrong; o.Parallelism = parallelism; o.Progress = rec })
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.Requests()); n == 0 || n > parallelism {
		t.Errorf("%d requests sent, want 1 to %d: %v", n, parallelism, e.endpoints())
	}
	if len(rec.events) != 0 || len(res.Failures) != 0 || len(res.Skipped) != files {
		t.Errorf("progress %v, %d failures, %d not started; want no events, no failures, %d not started", rec.events, len(res.Failures), len(res.Skipped), files)
	}
	for _, s := range res.Skipped {
		if !errors.Is(s.Err, apply.ErrRefused) {
			t.Errorf("%s not started because %v, want ErrRefused", s.Address, s.Err)
		}
	}
	ferr := res.Err()
	msg := errString(ferr)
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "Desk refused the API key (401 Unauthorized") || !strings.HasSuffix(msg, "20 of 20 changes not started") {
		t.Errorf("Result.Err() = %q, want one line saying the key was refused and 20 changes not started", msg)
	}
	var fe *apply.FailedError
	if !errors.As(ferr, &fe) || !strings.Contains(fe.Hint(), "DESK_API_KEY") {
		t.Errorf("hint %q does not name DESK_API_KEY", fe.Hint())
	}
	if len(e.st.Attachments) != 0 || len(e.st.Pending) != 0 {
		t.Errorf("state changed: %v %v", e.st.Attachments, e.st.Pending)
	}
	e.mustRun(m)
	e.converged(m)
}

// TestMove applies plan.Move (docs/plans.md): a folder change keeps the Desk
// file with no request at all, a new upload name costs exactly one PATCH; the record is
// re-keyed either way.
func TestMove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, entry string
		calls       []string
	}{
		{"folder only", "  - path: new/a.txt\n", nil},
		{"new filename", "  - path: new/a.txt\n    filename: renamed.txt\n", []string{"Patch 200"}},
		{"new disposition", "  - path: new/a.txt\n    disposition: attachment-inline\n", []string{"Patch 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.write(map[string]string{"old/a.txt": "alpha"})
			e.mustRun(e.manifest("  - path: old/a.txt\n"))
			id := e.st.Attachments["old/a.txt"].ID

			e.write(map[string]string{"new/a.txt": "alpha", "old/a.txt": ""})
			m := e.manifest(tt.entry)
			p := movePlan(e, m, "old/a.txt", "new/a.txt")
			e.srv.ResetRequests()
			res, err := apply.Run(t.Context(), apply.Options{Plan: p, Manifest: m, State: e.st, Store: e.store, Desk: e.client})
			if err != nil || res.Err() != nil || res.Moved != 1 {
				t.Fatalf("apply: %v %v, moved %d", err, res.Err(), res.Moved)
			}
			if got := e.endpoints(); !slices.Equal(got, tt.calls) {
				t.Errorf("Desk calls %v, want %v", got, tt.calls)
			}
			if a := e.st.Attachments["new/a.txt"]; a == nil || a.ID != id || e.st.Attachments["old/a.txt"] != nil {
				t.Errorf("state %v, want file %d re-keyed to new/a.txt", e.st.Attachments, id)
			}
			e.converged(m)
		})
	}
}

// movePlan is the plan of m with the create of to and the delete of from made into one
// move, as plan.Compute makes them where it finds the pair.
func movePlan(e *env, m *manifest.Manifest, from, to string) *plan.Plan {
	e.t.Helper()
	p := e.plan(m)
	var before, after *plan.Attrs
	var changes []plan.Change
	for _, ch := range p.Changes {
		switch {
		case ch.Address == from && ch.Action == plan.Delete:
			before = ch.Before
		case ch.Address == to && ch.Action == plan.Create:
			after = ch.After
		case ch.Address == to && ch.Action == plan.Move:
			return p
		default:
			changes = append(changes, ch)
		}
	}
	if before == nil || after == nil {
		e.t.Fatalf("plan %+v has no delete of %s and create of %s", p.Changes, from, to)
	}
	p.Changes = append(changes, plan.Change{Address: to, PreviousAddress: from, Action: plan.Move, Before: before, After: after})
	return p
}

// Whichever action records the refusal, the line quotes Desk's answer once: one stopped by
// the client's latch carries a "not sent" AuthError wrapping the answer that set it.
func TestRefusalLineQuotesDesksAnswer(t *testing.T) {
	answer := &desk.APIError{Op: "create ref", Status: 401, Message: "wrong key"}
	for _, refused := range []error{
		&desk.AuthError{Op: "create ref", Err: answer},
		&desk.AuthError{Op: "update file 3", Err: answer, NotSent: true},
	} {
		e := &apply.FailedError{Refused: refused, Total: 2, Skipped: make([]apply.Failure, 2)}
		want := "Desk refused the API key (401 Unauthorized: wrong key): apply stopped; 2 of 2 changes not started"
		if got := e.RefusalLine(); got != want {
			t.Errorf("RefusalLine() with %v\n got %q\nwant %q", refused, got, want)
		}
	}
}
