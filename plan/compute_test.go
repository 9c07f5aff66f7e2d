package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

type wantChange struct {
	addr    string
	action  Action
	reasons []string
}

func TestComputeActions(t *testing.T) {
	t.Parallel()
	logo := file{addr: "images/logo.png", content: "logo v1"}
	logoRenamed := logo
	logoRenamed.filename = "brand.png"
	logoInline := logo
	logoInline.disposition = "attachment-inline"
	logoBoth := logoInline
	logoBoth.filename = "brand.png"
	logoV2 := logo
	logoV2.content = "logo, version 2"
	logoSVG := logo
	logoSVG.mimeType = "image/svg+xml"
	logoAvatar := logo
	logoAvatar.typ = "avatar"
	logoV2Renamed := logoV2
	logoV2Renamed.filename = "brand.png"
	guide := file{addr: "docs/guide.pdf", content: strings.Repeat("g", 1258291), mimeType: "application/pdf"}
	guideV2 := guide
	guideV2.content = strings.Repeat("G", 1363149)
	big := file{addr: "a/big.bin", content: strings.Repeat("b", 14*1024), mimeType: "application/octet-stream"}
	gone := file{addr: "old/gone.png", content: "gone"}

	tests := []struct {
		name  string
		files []file
		state map[string]*state.Attachment
		want  []wantChange
	}{
		{
			name:  "create",
			files: []file{logo},
			want:  []wantChange{{"images/logo.png", Create, []string{"new file, 7 B"}}},
		},
		{
			name:  "create reports KiB",
			files: []file{big},
			want:  []wantChange{{"a/big.bin", Create, []string{"new file, 14.0 KiB"}}},
		},
		{
			name:  "no-op",
			files: []file{logo},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
		},
		{
			name:  "update filename",
			files: []file{logoRenamed},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want:  []wantChange{{"images/logo.png", Update, []string{`filename: "logo.png" -> "brand.png"`}}},
		},
		{
			name:  "update disposition",
			files: []file{logoInline},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want:  []wantChange{{"images/logo.png", Update, []string{`disposition: "attachment" -> "attachment-inline"`}}},
		},
		{
			name:  "update filename and disposition",
			files: []file{logoBoth},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want: []wantChange{{"images/logo.png", Update, []string{
				`filename: "logo.png" -> "brand.png"`, `disposition: "attachment" -> "attachment-inline"`}}},
		},
		{
			name:  "replace content",
			files: []file{logoV2},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want:  []wantChange{{"images/logo.png", Replace, []string{"content changed, 7 B -> 15 B"}}},
		},
		{
			name:  "replace content in MiB",
			files: []file{guideV2},
			state: map[string]*state.Attachment{"docs/guide.pdf": tracked(5, guide)},
			want:  []wantChange{{"docs/guide.pdf", Replace, []string{"content changed, 1.2 MiB -> 1.3 MiB"}}},
		},
		{
			name:  "replace mimeType",
			files: []file{logoSVG},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want:  []wantChange{{"images/logo.png", Replace, []string{`mimeType: "image/png" -> "image/svg+xml"`}}},
		},
		{
			name:  "replace type",
			files: []file{logoAvatar},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want:  []wantChange{{"images/logo.png", Replace, []string{`type: "attachment" -> "avatar"`}}},
		},
		{
			name:  "replace wins over update and lists both reasons",
			files: []file{logoV2Renamed},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo)},
			want: []wantChange{{"images/logo.png", Replace, []string{
				`filename: "logo.png" -> "brand.png"`, "content changed, 7 B -> 15 B"}}},
		},
		{
			name:  "delete",
			files: []file{logo},
			state: map[string]*state.Attachment{"images/logo.png": tracked(1, logo), "old/gone.png": tracked(2, gone)},
			want:  []wantChange{{"old/gone.png", Delete, []string{"not in the manifest"}}},
		},
		{
			name:  "deleted on Desk is uploaded again",
			files: []file{logo},
			state: map[string]*state.Attachment{"images/logo.png": func() *state.Attachment {
				a := tracked(1, logo)
				a.State = "deleted"
				return a
			}()},
			want: []wantChange{{"images/logo.png", Create, []string{"file 1 is deleted on Desk; uploading it again, 7 B"}}},
		},
		{
			name:  "mixed, sorted by address",
			files: []file{logoRenamed, guideV2, big, {addr: "z/same.txt", content: "same"}},
			state: map[string]*state.Attachment{
				"images/logo.png": tracked(1, logo),
				"docs/guide.pdf":  tracked(5, guide),
				"old/gone.png":    tracked(2, gone),
				"z/same.txt":      tracked(9, file{addr: "z/same.txt", content: "same"}),
			},
			want: []wantChange{
				{"a/big.bin", Create, []string{"new file, 14.0 KiB"}},
				{"docs/guide.pdf", Replace, []string{"content changed, 1.2 MiB -> 1.3 MiB"}},
				{"images/logo.png", Update, []string{`filename: "logo.png" -> "brand.png"`}},
				{"old/gone.png", Delete, []string{"not in the manifest"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mkManifest(t, tt.files...)
			st := mkState(tt.state)
			p, err := Compute(context.Background(), m, st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []wantChange
			for _, c := range p.Changes {
				got = append(got, wantChange{c.Address, c.Action, c.Reasons})
				checkChangeShape(t, c, p, st)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changes:\n got %+v\nwant %+v", got, tt.want)
			}
			if !p.StateExists || p.Lineage != st.Lineage || p.Serial != 12 || p.Tracked != len(tt.state) {
				t.Errorf("state identity = %v %q %d %d", p.StateExists, p.Lineage, p.Serial, p.Tracked)
			}
			if len(p.Files) != len(tt.files) {
				t.Errorf("Files has %d entries, want %d", len(p.Files), len(tt.files))
			}
			if p.HasChanges() != (len(tt.want) > 0) {
				t.Errorf("HasChanges() = %v with %d changes", p.HasChanges(), len(tt.want))
			}
		})
	}
}

// checkChangeShape asserts what Change's doc promises about Before and After.
func checkChangeShape(t *testing.T, c Change, p *Plan, st *state.State) {
	t.Helper()
	if (c.Before == nil) != (c.Action == Create) {
		t.Errorf("%s %s: Before = %+v", c.Action, c.Address, c.Before)
	}
	if (c.After == nil) != (c.Action == Delete) {
		t.Errorf("%s %s: After = %+v", c.Action, c.Address, c.After)
	}
	recorded := c.Address
	if c.Action == Move {
		recorded = c.PreviousAddress
	}
	if c.Before != nil && c.Before.ID != st.Attachments[recorded].ID {
		t.Errorf("%s %s: Before.ID = %d, want the state's %d", c.Action, c.Address, c.Before.ID, st.Attachments[recorded].ID)
	}
	if c.After != nil {
		if d := p.Files[c.Address]; d.Blake3 != c.After.Blake3 || d.Size != c.After.Size {
			t.Errorf("%s %s: After %+v disagrees with Files %+v", c.Action, c.Address, c.After, d)
		}
	}
	// An update or a move PATCHes the file it had; a create or replace has no Desk file yet.
	switch c.Action {
	case Update, Move:
		if c.After.ID != c.Before.ID {
			t.Errorf("update %s: After.ID = %d, want %d", c.Address, c.After.ID, c.Before.ID)
		}
	case Create, Replace:
		if c.After.ID != 0 {
			t.Errorf("%s %s: After.ID = %d, want 0", c.Action, c.Address, c.After.ID)
		}
	}
}

func TestComputeWithoutState(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "b.png", content: "b"}, file{addr: "a.png", content: "a"})
	p, err := Compute(context.Background(), m, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.StateExists || p.Lineage != "" || p.Serial != 0 || p.Tracked != 0 {
		t.Errorf("plan without state records state identity: %+v", p)
	}
	if got := p.Summary(); got != (Summary{Create: 2}) {
		t.Errorf("Summary() = %+v, want 2 creates", got)
	}
	if p.Changes[0].Address != "a.png" || p.Changes[1].Address != "b.png" {
		t.Errorf("changes not sorted: %s, %s", p.Changes[0].Address, p.Changes[1].Address)
	}
	if p.Files["a.png"] != (FileDigest{Size: 1, Blake3: b3("a")}) {
		t.Errorf("Files[a.png] = %+v", p.Files["a.png"])
	}
}

func TestComputeCleanups(t *testing.T) {
	t.Parallel()
	logo := file{addr: "images/logo.png", content: "logo"}
	since := time.Date(2026, 11, 26, 10, 5, 0, 0, time.UTC)
	st := mkState(map[string]*state.Attachment{"images/logo.png": tracked(1, logo)})
	st.Pending = map[string]*state.Pending{"images/new.png": {ID: 130, Blake3: b3("new"), StartedAt: since}}
	st.Deposed = []state.Deposed{{Address: "docs/guide.pdf", ID: 118, Since: since}}
	m := mkManifest(t, logo)

	p, err := Compute(context.Background(), m, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Cleanup{
		{Address: "docs/guide.pdf", ID: 118, Kind: "deposed", Since: since},
		{Address: "images/new.png", ID: 130, Kind: "pending", Blake3: b3("new"), Since: since},
	}
	if !reflect.DeepEqual(p.Cleanups, want) {
		t.Errorf("Cleanups:\n got %+v\nwant %+v", p.Cleanups, want)
	}
	if len(p.Changes) != 0 || !p.HasChanges() {
		t.Errorf("cleanups alone: %d changes, HasChanges() = %v; want 0 and true", len(p.Changes), p.HasChanges())
	}
	descs := []string{p.Cleanups[0].Description(), p.Cleanups[1].Description()}
	wantDescs := []string{
		`old file 118 not yet deleted: left by the replace of an earlier apply that failed or was interrupted before its delete, or by "desksync state merge" when both branches changed this address; it will be deleted`,
		"unfinished upload: temp file 130 of an earlier apply that failed or was interrupted before activating it; it will be checked and removed or adopted",
	}
	if !reflect.DeepEqual(descs, wantDescs) {
		t.Errorf("descriptions:\n got %q\nwant %q", descs, wantDescs)
	}
}

func TestComputeWarnsOfMassDelete(t *testing.T) {
	t.Parallel()
	atts := map[string]*state.Attachment{}
	var keep []file
	for i, name := range strings.Fields("a b c d e f g h i j") {
		f := file{addr: name + ".png", content: name}
		atts[f.addr] = tracked(int64(i+1), f)
		if i < 6 {
			keep = append(keep, f)
		}
	}
	m := mkManifest(t, keep...)
	p, err := Compute(context.Background(), m, mkState(atts), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"refusing to delete 4 of 10 tracked attachments: more than the default limit of 30% (no --max-delete was given); " +
		"if that is intended, run again with --max-delete 4 (or a percentage, e.g. --max-delete 40%)"}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("Warnings:\n got %q\nwant %q", p.Warnings, want)
	}

	lim, _ := ParseDeleteLimit("4")
	p, err = Compute(context.Background(), m, mkState(atts), Options{DeleteLimit: lim})
	if err != nil {
		t.Fatal(err)
	}
	if p.Warnings != nil {
		t.Errorf("with --max-delete 4: Warnings = %q, want none", p.Warnings)
	}
}

func TestComputeRefusesOversizeFile(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "small.png", content: "ok"}, file{addr: "video/huge.mp4", content: strings.Repeat("v", 3000)})
	_, err := Compute(context.Background(), m, nil, Options{MaxFileSize: 2048})
	const want = "video/huge.mp4 is 2.9 KiB (3000 bytes), more than the 2.0 KiB limit for one attachment"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var tl *FileTooLargeError
	if !errors.As(err, &tl) || tl.Address != "video/huge.mp4" || tl.Size != 3000 || tl.Max != 2048 {
		t.Errorf("errors.As(*FileTooLargeError) = %+v", tl)
	}
	if !strings.Contains(tl.Hint(), "remove it from the manifest") {
		t.Errorf("Hint() = %q", tl.Hint())
	}

	// A negative limit turns the check off; the 5 GiB default lets it through too.
	for _, max := range []int64{-1, 0} {
		if _, err := Compute(context.Background(), m, nil, Options{MaxFileSize: max}); err != nil {
			t.Errorf("MaxFileSize %d: %v", max, err)
		}
	}
}

func TestComputeFileErrors(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		break_ func(t *testing.T, m *manifest.Manifest)
		want   string
	}{
		{
			name:   "missing file",
			break_: func(t *testing.T, m *manifest.Manifest) { os.Remove(filepath.Join(m.Root, "b.png")) },
			want:   `desksync.yaml:4:5: cannot open "b.png": no such file`,
		},
		{
			name: "symlink swapped in to leave the root",
			break_: func(t *testing.T, m *manifest.Manifest) {
				p := filepath.Join(m.Root, "b.png")
				os.Remove(p)
				if err := os.Symlink(filepath.Join(outside, "secret"), p); err != nil {
					t.Fatal(err)
				}
			},
			want: `desksync.yaml:4:5: cannot open "b.png": it is now a symlink, or one is on its way`,
		},
		{
			name: "directory in place of the file",
			break_: func(t *testing.T, m *manifest.Manifest) {
				p := filepath.Join(m.Root, "b.png")
				os.Remove(p)
				os.Mkdir(p, 0o755)
			},
			want: `desksync.yaml:4:5: cannot open "b.png": not a regular file`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mkManifest(t, file{addr: "a.png", content: "a"}, file{addr: "b.png", content: "b"})
			tt.break_(t, m)
			_, err := Compute(context.Background(), m, nil, Options{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Address != "b.png" {
				t.Errorf("errors.As(*FileError) = %+v", fe)
			}
			if fe.Hint() != "the file changed since the manifest was loaded; run the command again" {
				t.Errorf("Hint() = %q", fe.Hint())
			}
		})
	}
}

func TestFileTooLargeHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max  int64
		want string
	}{
		{DefaultMaxFileSize, "remove it from the manifest or make it smaller: Desk uploads each file in one S3 POST, which takes at most 5 GiB"},
		{1 << 20, "remove it from the manifest or make it smaller, or raise --max-file-size (default 5 GiB)"},
	}
	for _, tt := range tests {
		e := &FileTooLargeError{Address: "a", Size: tt.max + 1, Max: tt.max}
		if got := e.Hint(); got != tt.want {
			t.Errorf("Hint() with Max %d = %q, want %q", tt.max, got, tt.want)
		}
	}
}
