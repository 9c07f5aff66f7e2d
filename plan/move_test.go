package plan

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/desksync/desksync/internal/hint"
	"github.com/desksync/desksync/state"
)

type wantMove struct {
	addr, from string
	action     Action
	reasons    []string
}

func TestComputeMoves(t *testing.T) {
	t.Parallel()
	terms := file{addr: "pdfs/legal/terms.pdf", content: "terms", mimeType: "application/pdf"}
	termsRenamed := terms
	termsRenamed.addr = "pdfs/legal/terms-of-service.pdf"
	termsFolder := terms
	termsFolder.addr = "archive/terms.pdf"
	termsInline := termsFolder
	termsInline.disposition = "attachment-inline"
	termsEdited := termsRenamed
	termsEdited.content = "terms, v2"
	termsSVG := termsRenamed
	termsSVG.mimeType = "image/svg+xml"
	a1 := file{addr: "old/a1.png", content: "same"}
	a2 := file{addr: "old/a2.png", content: "same"}
	n1 := file{addr: "new/b1.png", content: "same", filename: "a1.png"}
	n2 := file{addr: "new/b2.png", content: "same", filename: "a2.png"}
	n3 := file{addr: "new/b3.png", content: "same"}

	tests := []struct {
		name  string
		files []file
		state map[string]*state.Attachment
		want  []wantMove
	}{
		{
			name:  "rename keeps the Desk file and PATCHes the upload name",
			files: []file{termsRenamed},
			state: map[string]*state.Attachment{terms.addr: tracked(7, terms)},
			want: []wantMove{{termsRenamed.addr, terms.addr, Move, []string{
				"moved from pdfs/legal/terms.pdf", `filename: "terms.pdf" -> "terms-of-service.pdf"`}}},
		},
		{
			name:  "folder move changes nothing on Desk",
			files: []file{termsFolder},
			state: map[string]*state.Attachment{terms.addr: tracked(7, terms)},
			want:  []wantMove{{termsFolder.addr, terms.addr, Move, []string{"moved from pdfs/legal/terms.pdf"}}},
		},
		{
			name:  "move with a new disposition",
			files: []file{termsInline},
			state: map[string]*state.Attachment{terms.addr: tracked(7, terms)},
			want: []wantMove{{termsInline.addr, terms.addr, Move, []string{
				"moved from pdfs/legal/terms.pdf", `disposition: "attachment" -> "attachment-inline"`}}},
		},
		{
			name:  "other content is a create and a delete",
			files: []file{termsEdited},
			state: map[string]*state.Attachment{terms.addr: tracked(7, terms)},
			want: []wantMove{
				{termsEdited.addr, "", Create, []string{"new file, 9 B"}},
				{terms.addr, "", Delete, []string{"not in the manifest"}},
			},
		},
		{
			name:  "other mimeType is a create and a delete",
			files: []file{termsSVG},
			state: map[string]*state.Attachment{terms.addr: tracked(7, terms)},
			want: []wantMove{
				{termsSVG.addr, "", Create, []string{"new file, 5 B"}},
				{terms.addr, "", Delete, []string{"not in the manifest"}},
			},
		},
		{
			name:  "a file deleted on Desk is not moved",
			files: []file{termsFolder},
			state: map[string]*state.Attachment{terms.addr: func() *state.Attachment {
				a := tracked(7, terms)
				a.State = "deleted"
				return a
			}()},
			want: []wantMove{
				{termsFolder.addr, "", Create, []string{"new file, 5 B"}},
				{terms.addr, "", Delete, []string{"not in the manifest"}},
			},
		},
		{
			name:  "same content pairs one to one in sorted address order",
			files: []file{n3, n2, n1},
			state: map[string]*state.Attachment{a2.addr: tracked(2, a2), a1.addr: tracked(1, a1)},
			want: []wantMove{
				{n1.addr, a1.addr, Move, []string{"moved from old/a1.png"}},
				{n2.addr, a2.addr, Move, []string{"moved from old/a2.png"}},
				{n3.addr, "", Create, []string{"new file, 4 B"}},
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
			var got []wantMove
			for _, c := range p.Changes {
				got = append(got, wantMove{c.Address, c.PreviousAddress, c.Action, c.Reasons})
				checkChangeShape(t, c, p, st)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changes:\n got %+v\nwant %+v", got, tt.want)
			}
			for _, c := range p.Changes {
				if c.Action == Move && (c.Before.ID != st.Attachments[c.PreviousAddress].ID || c.After.ID != c.Before.ID) {
					t.Errorf("move %s does not keep Desk file %d: before %d, after %d", c.Address, st.Attachments[c.PreviousAddress].ID, c.Before.ID, c.After.ID)
				}
			}
			if s := p.Summary(); s.Delete != countAction(p, Delete) || s.Move != countAction(p, Move) {
				t.Errorf("summary %+v", s)
			}
		})
	}
}

func countAction(p *Plan, a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// TestComputeScope: --target and --exclude limit every kind of change, deletes and
// cleanups included, and the files the plan hashes and records: outside the scope,
// only untracked files, the possible new halves of a move out of it.
func TestComputeScope(t *testing.T) {
	t.Parallel()
	logo := file{addr: "images/logo.png", content: "logo"}
	icon := file{addr: "images/icons/x.png", content: "x"}
	guide := file{addr: "docs/guide.pdf", content: "guide"}
	st := mkState(map[string]*state.Attachment{
		"images/gone.png": tracked(1, file{addr: "images/gone.png", content: "gone"}),
		"docs/old.pdf":    tracked(2, file{addr: "docs/old.pdf", content: "old"}),
	})
	st.Deposed = []state.Deposed{{Address: "docs/old.pdf", ID: 9}, {Address: "images/logo.png", ID: 8}}
	m := mkManifest(t, logo, icon, guide)

	tests := []struct {
		name             string
		target, exclude  []string
		changes, cleanup []string
	}{
		{"whole", nil, nil,
			[]string{"docs/guide.pdf", "docs/old.pdf", "images/gone.png", "images/icons/x.png", "images/logo.png"},
			[]string{"docs/old.pdf", "images/logo.png"}},
		{"folder", []string{"images"}, nil,
			[]string{"images/gone.png", "images/icons/x.png", "images/logo.png"}, []string{"images/logo.png"}},
		{"glob", []string{"**/*.pdf"}, nil, []string{"docs/guide.pdf", "docs/old.pdf"}, []string{"docs/old.pdf"}},
		{"address", []string{"images/logo.png"}, nil, []string{"images/logo.png"}, []string{"images/logo.png"}},
		{"exclude", nil, []string{"images/icons/**", "docs/old.pdf"},
			[]string{"docs/guide.pdf", "images/gone.png", "images/logo.png"}, []string{"images/logo.png"}},
		{"target and exclude", []string{"images"}, []string{"images/gone.png"},
			[]string{"images/icons/x.png", "images/logo.png"}, []string{"images/logo.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scope, err := NewScope(tt.target, tt.exclude)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compute(context.Background(), m, st, Options{Scope: scope, DeleteLimit: DeleteLimit{Count: 10, Explicit: true}})
			if err != nil {
				t.Fatal(err)
			}
			var changes, cleanups []string
			for _, c := range p.Changes {
				changes = append(changes, c.Address)
				if c.After != nil {
					if _, ok := p.Files[c.Address]; !ok {
						t.Errorf("%s: not in Files", c.Address)
					}
				}
			}
			for _, c := range p.Cleanups {
				cleanups = append(cleanups, c.Address)
			}
			if !reflect.DeepEqual(changes, tt.changes) || !reflect.DeepEqual(cleanups, tt.cleanup) {
				t.Errorf("changes %q, cleanups %q\nwant %q, %q", changes, cleanups, tt.changes, tt.cleanup)
			}
			for addr := range p.Files {
				if !scope.Match(addr) && st.Attachments[addr] != nil {
					t.Errorf("Files holds %s, tracked and outside the scope", addr)
				}
			}
			if p.Scope.Partial() != (tt.target != nil || tt.exclude != nil) {
				t.Errorf("Scope = %+v", p.Scope)
			}
			// A partial plan is not stale for files outside its scope.
			if err := CheckStale(context.Background(), p, m, st); err != nil {
				t.Errorf("CheckStale: %v", err)
			}
		})
	}
}

func TestNewScopeRefusesBadPatterns(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		target, exclude []string
		want            string
	}{
		{[]string{"images/[a"}, nil, `--target "images/[a": not a valid glob`},
		{nil, []string{""}, `--exclude "": empty pattern`},
		{[]string{"/etc/passwd"}, nil, `--target "/etc/passwd": addresses are relative to the manifest's folder, so a pattern cannot start with /`},
		{[]string{`\srv\x`}, nil, `--target "\\srv\\x": addresses are relative to the manifest's folder, so a pattern cannot start with /`},
		{[]string{"../up"}, nil, `--target "../up": addresses lie inside the manifest's folder, so a pattern cannot leave it with ..`},
	} {
		_, err := NewScope(tt.target, tt.exclude)
		if err == nil || err.Error() != tt.want {
			t.Errorf("err = %v, want %s", err, tt.want)
		}
	}
}

// TestNewScopeNormalises: patterns are written as addresses are, whatever the
// platform, so the common spellings of a folder all select it.
func TestNewScopeNormalises(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"./images/": "images", "images/": "images", `images\`: "images", `articles\fr`: "articles/fr",
		".//a//b/./c": "a/b/c", "./": "**", ".": "**", "img/**/*.png": "img/**/*.png", "a/../b": "b",
	} {
		s, err := NewScope([]string{in}, []string{in})
		if err != nil {
			t.Errorf("NewScope(%q): %v", in, err)
			continue
		}
		if s.Target[0] != want || s.Exclude[0] != want {
			t.Errorf("NewScope(%q) = %q, %q; want %q", in, s.Target, s.Exclude, want)
		}
	}
}

// TestComputeScopeNoMatch: a pattern matching no address of the manifest or the
// state fails, naming the nearest address or folder; one matching only a tracked,
// pending or deposed address is fine.
func TestComputeScopeNoMatch(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "articles/fr/b.txt", content: "b"}, file{addr: "images/logo.png", content: "logo"})
	st := mkState(map[string]*state.Attachment{"docs/old.pdf": tracked(1, file{addr: "docs/old.pdf", content: "old"})})
	st.Deposed = []state.Deposed{{Address: "gone/x.png", ID: 9}}
	for _, tt := range []struct {
		target, exclude []string
		want            string
	}{
		{[]string{"articels"}, nil, "--target articels matches no address in the manifest or the state; did you mean --target articles?"},
		{nil, []string{"images/logo.jpg"}, "--exclude images/logo.jpg matches no address in the manifest or the state; did you mean --exclude images/logo.png?"},
		{[]string{"zzzzzzzzzz"}, nil, "--target zzzzzzzzzz matches no address in the manifest or the state; addresses are paths"},
		{[]string{"docs/old.pdf", "gone", "**/*.txt"}, nil, ""},
	} {
		scope, err := NewScope(tt.target, tt.exclude)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compute(context.Background(), m, st, Options{Scope: scope, DeleteLimit: DeleteLimit{Count: 10, Explicit: true}})
		got := ""
		if err != nil {
			got = err.Error() + "; " + strings.Join(hint.Of(err), "; ")
		}
		if tt.want == "" && err != nil || !strings.HasPrefix(got, tt.want) {
			t.Errorf("%q %q: %q, want %q", tt.target, tt.exclude, got, tt.want)
		}
	}
}

// FuzzScope: a pattern is refused by NewScope or matches without panicking, and an
// address it targets is one the same pattern as an exclude leaves out.
func FuzzScope(f *testing.F) {
	for _, seed := range [][2]string{
		{"images", "images/logo.png"}, {"**/*.png", "a/b.png"}, {"images/[a", "images/a"},
		{"{a,b}/*", "a/x"}, {"/etc/passwd", "etc/passwd"}, {"", ""}, {"a\\", "a"}, {"**/", "x/"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, addr string) {
		s, err := NewScope([]string{pattern}, nil)
		if err != nil {
			return
		}
		s.Match(addr)
		ex, _ := NewScope(nil, []string{pattern})
		if s.Match(addr) && ex.Match(addr) {
			t.Fatalf("%q both targeted and excluded by %q", addr, pattern)
		}
	})
}

// TestReplaceSavedPlanRoundTrip: a plan with --replace is written and read back whole,
// also when refresh found the replaced file gone from Desk (then it is a create), and a
// replace of what is not a tracked, listed address fails.
func TestReplaceSavedPlanRoundTrip(t *testing.T) {
	t.Parallel()
	a := file{addr: "a.txt", content: "a"}
	b := file{addr: "b.txt", content: "b"}
	m := mkManifest(t, a, b)
	gone := tracked(2, b)
	gone.State = "deleted"
	st := mkState(map[string]*state.Attachment{"a.txt": tracked(1, a), "b.txt": gone})
	replace, err := NewReplace([]string{"./b.txt", `a.txt`, "a.txt"})
	if err != nil || !reflect.DeepEqual(replace, []string{"a.txt", "b.txt"}) {
		t.Fatalf("NewReplace = %q, %v", replace, err)
	}
	p, err := Compute(context.Background(), m, st, Options{Replace: replace, Refreshed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 || p.Changes[0].Action != Replace || p.Changes[0].Reasons[0] != ReplaceReason || p.Changes[1].Action != Create {
		t.Fatalf("changes %+v", p.Changes)
	}
	path := t.TempDir() + "/r.plan"
	if err := Write(path, p); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Replace, replace) || Verify(back, p) != nil {
		t.Errorf("read back replace %q, verify %v", back.Replace, Verify(back, p))
	}
	for _, addr := range []string{"c.txt", "img"} {
		if _, err := Compute(context.Background(), m, st, Options{Replace: []string{addr}}); err == nil || !strings.Contains(err.Error(), "--replace "+addr) {
			t.Errorf("--replace %s: %v", addr, err)
		}
	}
}
