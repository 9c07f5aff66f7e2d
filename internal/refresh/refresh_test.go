package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/desksync/desksync/desk"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/refresh"
	"github.com/desksync/desksync/state"
)

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// disturb changes the Desk file behind desksync's back.
		disturb func(t *testing.T, srv *desktest.Server, id int64)
		// want is the drift notes; wantAtt the refreshed record (nil: dropped).
		want    []string
		wantAtt func(a state.Attachment) *state.Attachment
	}{
		{
			name:    "unchanged",
			disturb: func(*testing.T, *desktest.Server, int64) {},
			want:    nil,
			wantAtt: func(a state.Attachment) *state.Attachment { return &a },
		},
		{
			name:    "purged: 404",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) { check(t, srv.Remove(id)) },
			want:    []string{"deleted on Desk (drift)"},
			wantAtt: func(state.Attachment) *state.Attachment { return nil },
		},
		{
			name: "state deleted",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) {
				check(t, srv.Edit(id, func(f *desktest.FileRecord) { f.State = "deleted" }))
			},
			want:    []string{"deleted on Desk (drift)"},
			wantAtt: func(state.Attachment) *state.Attachment { return nil },
		},
		{
			name: "renamed",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) {
				check(t, srv.Edit(id, func(f *desktest.FileRecord) { f.Filename = "renamed.md" }))
			},
			want:    []string{`filename changed on Desk: "guide.md" -> "renamed.md" (drift)`},
			wantAtt: func(a state.Attachment) *state.Attachment { a.Filename = "renamed.md"; return &a },
		},
		{
			name: "disposition and filename",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) {
				check(t, srv.Edit(id, func(f *desktest.FileRecord) { f.Filename = "x.md"; f.Disposition = "attachment-inline" }))
			},
			want: []string{
				`filename changed on Desk: "guide.md" -> "x.md" (drift)`,
				`disposition changed on Desk: "attachment" -> "attachment-inline" (drift)`,
			},
			wantAtt: func(a state.Attachment) *state.Attachment {
				a.Filename, a.Disposition = "x.md", "attachment-inline"
				return &a
			},
		},
		{
			name: "content of another size",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) {
				check(t, srv.SetContent(id, []byte("# Guide, rewritten on Desk\n")))
			},
			want:    []string{"size changed on Desk: 8 B -> 27 B (drift)"},
			wantAtt: func(a state.Attachment) *state.Attachment { a.Size, a.Blake3 = 27, refresh.UnknownBlake3; return &a },
		},
		{
			// Desk exposes no content hash, so a same-size edit cannot be seen: a
			// documented limit (docs/drift.md).
			name: "content of the same size is not seen",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) {
				check(t, srv.SetContent(id, []byte("# GUIDE\n")))
			},
			want:    nil,
			wantAtt: func(a state.Attachment) *state.Attachment { return &a },
		},
		{
			name: "temp on Desk",
			disturb: func(t *testing.T, srv *desktest.Server, id int64) {
				check(t, srv.Edit(id, func(f *desktest.FileRecord) { f.State = "temp" }))
			},
			want:    []string{`state on Desk is "temp", not active (drift)`},
			wantAtt: func(a state.Attachment) *state.Attachment { a.State = "temp"; return &a },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			guide := e.upload("guide.md", "text/markdown", "# Guide\n")
			logo := e.upload("logo.png", "image/png", "\x89PNG")
			st := newState(map[string]*state.Attachment{
				"docs/guide.md": record(guide, hashA),
				"logo.png":      record(logo, hashB),
			})
			// An interrupted upload for the address is apply's to clean up: refresh
			// keeps it whatever it finds.
			st.SetPending("docs/guide.md", state.Pending{ID: 99, Blake3: hashB, StartedAt: uploaded})
			orig := st.Clone()
			tt.disturb(t, e.srv, guide.ID)

			rep, err := refresh.Run(context.Background(), st, e.client, 2)
			if err != nil {
				t.Fatal(err)
			}
			var notes []string
			for _, d := range rep.Drift {
				if d.Address != "docs/guide.md" || d.ID != guide.ID {
					t.Errorf("drift %+v is not for docs/guide.md (file %d)", d, guide.ID)
				}
				notes = append(notes, d.String())
			}
			if !reflect.DeepEqual(notes, tt.want) {
				t.Errorf("drift:\n got %q\nwant %q", notes, tt.want)
			}
			if got := rep.Notes()["docs/guide.md"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Notes() = %q, want %q", got, tt.want)
			}
			wantAtt := tt.wantAtt(*orig.Attachments["docs/guide.md"])
			if got := rep.State.Attachments["docs/guide.md"]; !reflect.DeepEqual(got, wantAtt) {
				t.Errorf("refreshed record:\n got %+v\nwant %+v", got, wantAtt)
			}
			if got := rep.State.Attachments["logo.png"]; !reflect.DeepEqual(got, orig.Attachments["logo.png"]) {
				t.Errorf("untouched record changed: %+v", got)
			}
			if !reflect.DeepEqual(rep.State.Pending, orig.Pending) {
				t.Errorf("pending changed: %+v", rep.State.Pending)
			}
			if rep.Checked != 2 {
				t.Errorf("Checked = %d, want 2", rep.Checked)
			}
			if !reflect.DeepEqual(st, orig) {
				t.Errorf("Run modified the state it was given")
			}
			if _, err := state.Decode(mustEncode(t, rep.State)); err != nil {
				t.Errorf("the refreshed state does not round-trip: %v", err)
			}
			// The refresh is its mutations: replayed on the state given (as a journal
			// is), they make the refreshed state, and no drift means no step.
			replayed := orig.Clone()
			for _, m := range rep.Mutations {
				if err := replayed.Apply(m); err != nil {
					t.Fatalf("replay %+v: %v", m, err)
				}
			}
			if !reflect.DeepEqual(replayed, rep.State) {
				t.Errorf("replaying Mutations %+v gives\n%+v\nnot the refreshed state\n%+v", rep.Mutations, replayed, rep.State)
			}
			if len(tt.want) == 0 && len(rep.Mutations) > 0 {
				t.Errorf("no drift, yet mutations %+v", rep.Mutations)
			}
		})
	}
}

func mustEncode(t *testing.T, st *state.State) []byte {
	t.Helper()
	b, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunNilStateReadsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep, err := refresh.Run(context.Background(), nil, e.client, 0)
	if err != nil || len(rep.Drift) != 0 || rep.Checked != 0 {
		t.Fatalf("Run(nil) = %+v, %v", rep, err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests for an empty state", n)
	}
}

func TestRunReadError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.upload("a.txt", "text/plain", "a\n")
	b := e.upload("b.txt", "text/plain", "b\n")
	st := newState(map[string]*state.Attachment{"a.txt": record(a, hashA), "b.txt": record(b, hashB)})
	// Two attempts per file (Retries: 1), all failing.
	e.srv.Inject(desktest.Get, desktest.Fault{Status: 500, Times: 4})
	rep, err := refresh.Run(context.Background(), st, e.client, 1)
	if rep != nil {
		t.Errorf("a failed refresh returned a report: %+v", rep)
	}
	want := fmt.Sprintf("refresh: could not read 2 of the tracked files from Desk; nothing was recorded:\n"+
		"  a.txt (file %d): desk: get file %d: 500 Internal Server Error: injected fault: status 500 (gave up after 2 attempts)\n"+
		"  b.txt (file %d): desk: get file %d: 500 Internal Server Error: injected fault: status 500 (gave up after 2 attempts)", a.ID, a.ID, b.ID, b.ID)
	if err == nil || err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
	var re *refresh.ReadError
	var api *desk.APIError
	if !errors.As(err, &re) || !errors.As(err, &api) || api.Status != 500 {
		t.Errorf("err is not a *ReadError wrapping the 500: %#v", err)
	}
	if h := re.Hint(); h != "the server failed; desksync retried with backoff; try again later" {
		t.Errorf("Hint() = %q", h)
	}
}

func TestRunParallelism(t *testing.T) {
	t.Parallel()
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprint(par), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			atts := map[string]*state.Attachment{}
			for i := range 9 {
				f := e.upload(fmt.Sprintf("f%d.txt", i), "text/plain", "x")
				atts[f.Filename] = record(f, hashA)
			}
			e.mu.Lock()
			e.holdGETs, e.full = par, make(chan struct{})
			e.getDelay = 20 * time.Millisecond
			e.mu.Unlock()
			if _, err := refresh.Run(context.Background(), newState(atts), e.client, par); err != nil {
				t.Fatal(err)
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.maxInFlight != par {
				t.Errorf("at most %d GETs ran at once, want exactly %d", e.maxInFlight, par)
			}
			if n := e.requests(desktest.Get); n != 9 {
				t.Errorf("%d GETs, want one per tracked file (9)", n)
			}
		})
	}
}
