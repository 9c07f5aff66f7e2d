package refresh_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/refresh"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan"
	"github.com/desksync/desksync/state"
	"github.com/zeebo/blake3"
)

func b3(s string) string {
	sum := blake3.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestDiffs(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcde\n", plan.MaxDiffSize/16+1)
	tests := []struct {
		name     string
		mimeType string
		remote   string // content on Desk
		local    string
		filename string // the manifest's filename; differs from Desk's for an update
		disturb  func(t *testing.T, srv *desktest.Server, id int64)
		// wantDiff is the diff with FILE standing for the Desk file ID.
		wantDiff    string
		wantReasons []string
		// wantCalls is how many GETs of the record and downloads were made.
		wantGets, wantDownloads int
	}{
		{
			name: "markdown", mimeType: "text/markdown",
			remote: "# Guide\n\nInstall it.\nRun it.\nDone.\n", local: "# Guide\n\nInstall it.\nConfigure it.\nRun it.\nDone.\n",
			wantDiff:    "--- desk/doc (file FILE)\n+++ local/doc\n@@ -1,5 +1,6 @@\n # Guide\n \n Install it.\n+Configure it.\n Run it.\n Done.\n",
			wantReasons: []string{"content changed, 35 B -> 49 B"},
			wantGets:    1, wantDownloads: 1,
		},
		{
			name: "svg", mimeType: "image/svg+xml",
			remote:      `<svg xmlns="http://www.w3.org/2000/svg"><circle r="4" fill="red"/></svg>`,
			local:       `<svg xmlns="http://www.w3.org/2000/svg"><circle r="4" fill="green"/></svg>`,
			wantDiff:    "--- desk/doc (file FILE)\n+++ local/doc\n@@ -1 +1 @@\n-<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\" fill=\"red\"/></svg>\n\\ No newline at end of file\n+<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\" fill=\"green\"/></svg>\n\\ No newline at end of file\n",
			wantReasons: []string{"content changed, 72 B -> 74 B"},
			wantGets:    1, wantDownloads: 1,
		},
		{
			name: "binary type: decided without a request", mimeType: "image/png",
			remote: "\x89PNG one", local: "\x89PNG two!",
			wantReasons: []string{"content changed, 8 B -> 9 B", plan.NoteBinary},
		},
		{
			name: "text type with binary content on Desk", mimeType: "text/plain",
			remote: "a\x00b", local: "ab\n",
			wantReasons: []string{"content changed, 3 B -> 3 B", plan.NoteBinary},
			wantGets:    1, wantDownloads: 1,
		},
		{
			name: "large locally: decided without a request", mimeType: "text/plain",
			remote: "small\n", local: big,
			wantReasons: []string{"content changed, 6 B -> 1.0 MiB", plan.NoteLarge},
		},
		{
			name: "large on Desk: no download", mimeType: "text/plain",
			remote: big, local: "small\n",
			wantReasons: []string{"content changed, 1.0 MiB -> 6 B", plan.NoteLarge},
			wantGets:    1,
		},
		{
			name: "gone from Desk", mimeType: "text/plain",
			remote: "a\n", local: "b\n",
			disturb:     func(t *testing.T, srv *desktest.Server, id int64) { check(t, srv.Remove(id)) },
			wantReasons: []string{"content changed, 2 B -> 2 B", "file FILE is gone from Desk, not diffed (plan --refresh plans it again)"},
			wantGets:    1,
		},
		{
			name: "update of a binary file: no note, as its content stays", mimeType: "image/png",
			remote: "\x89PNG same", local: "\x89PNG same", filename: "renamed.png",
			wantReasons: []string{`filename: "doc" -> "renamed.png"`},
		},
		{
			name: "update with the same content shows no diff", mimeType: "text/plain",
			remote: "same\n", local: "same\n", filename: "renamed.txt",
			wantReasons: []string{`filename: "doc" -> "renamed.txt"`},
			wantGets:    1, wantDownloads: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			f := e.upload("doc", tt.mimeType, tt.remote)
			if tt.disturb != nil {
				tt.disturb(t, e.srv, f.ID)
			}
			root, err := filepath.EvalSymlinks(writeFiles(t, map[string]string{"doc": tt.local}))
			check(t, err)
			filename := tt.filename
			if filename == "" {
				filename = "doc"
			}
			m := &manifest.Manifest{Root: root, Path: filepath.Join(root, "desksync.yaml"), Entries: []manifest.Entry{{
				Address: "doc", Resolved: "doc", Filename: filename, Disposition: "attachment", Type: "attachment", MimeType: tt.mimeType,
			}}}
			st := newState(map[string]*state.Attachment{"doc": record(f, b3(tt.remote))})
			p, err := plan.Compute(context.Background(), m, st, plan.Options{})
			check(t, err)
			e.srv.ResetRequests()

			check(t, refresh.Diffs(context.Background(), e.client, p, m, 2))
			if len(p.Changes) != 1 {
				t.Fatalf("%d changes, want 1", len(p.Changes))
			}
			id := fmt.Sprint(f.ID)
			if want := strings.ReplaceAll(tt.wantDiff, "FILE", id); p.Changes[0].Diff != want {
				t.Errorf("Diff:\n got %q\nwant %q", p.Changes[0].Diff, want)
			}
			var want []string
			for _, r := range tt.wantReasons {
				want = append(want, strings.ReplaceAll(r, "FILE", id))
			}
			if !reflect.DeepEqual(p.Changes[0].Reasons, want) {
				t.Errorf("Reasons:\n got %q\nwant %q", p.Changes[0].Reasons, want)
			}
			if g, d := e.requests(desktest.Get), e.requests(desktest.Download); g != tt.wantGets || d != tt.wantDownloads {
				t.Errorf("%d GETs and %d downloads, want %d and %d", g, d, tt.wantGets, tt.wantDownloads)
			}
		})
	}
}

// TestDiffsSkipsCreatesAndDeletes checks that only updates and replaces are fetched.
func TestDiffsSkipsCreatesAndDeletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.upload("old.txt", "text/plain", "old\n")
	root, err := filepath.EvalSymlinks(writeFiles(t, map[string]string{"new.txt": "new\n"}))
	check(t, err)
	m := &manifest.Manifest{Root: root, Entries: []manifest.Entry{{
		Address: "new.txt", Resolved: "new.txt", Filename: "new.txt", Disposition: "attachment", Type: "attachment", MimeType: "text/plain",
	}}}
	p, err := plan.Compute(context.Background(), m, newState(map[string]*state.Attachment{"old.txt": record(old, hashA)}), plan.Options{})
	check(t, err)
	e.srv.ResetRequests()
	check(t, refresh.Diffs(context.Background(), e.client, p, m, 0))
	for _, c := range p.Changes {
		if c.Diff != "" || len(c.Reasons) != 1 {
			t.Errorf("%s %s: Diff %q, Reasons %q", c.Action, c.Address, c.Diff, c.Reasons)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestDiffsError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.upload("a.txt", "text/plain", "a\n")
	root, err := filepath.EvalSymlinks(writeFiles(t, map[string]string{"a.txt": "b\n"}))
	check(t, err)
	m := &manifest.Manifest{Root: root, Entries: []manifest.Entry{{
		Address: "a.txt", Resolved: "a.txt", Filename: "a.txt", Disposition: "attachment", Type: "attachment", MimeType: "text/plain",
	}}}
	p, err := plan.Compute(context.Background(), m, newState(map[string]*state.Attachment{"a.txt": record(f, b3("a\n"))}), plan.Options{})
	check(t, err)
	e.srv.Inject(desktest.Download, desktest.Fault{Status: 403})
	err = refresh.Diffs(context.Background(), e.client, p, m, 1)
	want := fmt.Sprintf(`diff a.txt (Desk file %d): desk: download "`, f.ID)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Fatalf("err = %v, want it to start %q and name the 403", err, want)
	}
	var de *refresh.DiffError
	if !errors.As(err, &de) || de.Address != "a.txt" || de.ID != f.ID {
		t.Fatalf("err is not a *DiffError for a.txt: %#v", err)
	}
	if h := de.Hint(); h != "run plan without --diff to see the plan without content diffs" {
		t.Errorf("Hint() = %q", h)
	}
}
