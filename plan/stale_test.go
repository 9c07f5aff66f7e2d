package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/state"
)

func TestCheckStale(t *testing.T) {
	t.Parallel()
	a := file{addr: "a.png", content: "a"}
	b := file{addr: "b.png", content: "b"}
	tests := []struct {
		name string
		// noState makes the plan without a state file.
		noState bool
		// then changes the world after the plan was made.
		then func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State)
		want string // "" = not stale
	}{
		{
			name: "unchanged",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				return m, st
			},
		},
		{
			name:    "unchanged, no state",
			noState: true,
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				return m, nil
			},
		},
		{
			name:    "a state now exists",
			noState: true,
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				return m, mkState(nil)
			},
			want: "a state now exists (the plan was made without one)",
		},
		{
			name: "state removed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				return m, nil
			},
			want: "the state it was made from no longer exists",
		},
		{
			name: "lineage changed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				st.Lineage = "9e2d0000-0000-4000-8000-000000000002"
				return m, st
			},
			want: "state lineage changed (4f1c9b0e-0000-4000-8000-000000000001 -> 9e2d0000-0000-4000-8000-000000000002)",
		},
		{
			name: "serial changed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				st.Serial = 14
				return m, st
			},
			want: "state serial changed (12 -> 14)",
		},
		{
			name: "file changed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				rewrite(t, m, "b.png", "B")
				return m, st
			},
			want: "file b.png changed since the plan",
		},
		{
			name: "same size, other bytes, in several files",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				rewrite(t, m, "a.png", "x")
				rewrite(t, m, "b.png", "y")
				return m, st
			},
			want: "files a.png, b.png changed since the plan",
		},
		{
			name: "file removed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				m.Entries = m.Entries[:1]
				return m, st
			},
			want: "file b.png was removed from the manifest",
		},
		{
			name: "files added, first few named",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				for _, n := range []string{"f", "e", "d", "c"} {
					rewrite(t, m, n+".png", n)
					m.Entries = append(m.Entries, entry(file{addr: n + ".png"}))
				}
				return m, st
			},
			want: "the manifest now has files the plan did not: c.png, d.png, e.png and 1 more",
		},
		{
			name: "added and removed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				rewrite(t, m, "c.png", "c")
				m.Entries = []manifest.Entry{m.Entries[0], entry(file{addr: "c.png"})}
				return m, st
			},
			want: "file b.png was removed from the manifest; the manifest now has files the plan did not: c.png",
		},
		{
			name: "attributes changed in the manifest",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				m.Entries[0].Disposition = "attachment-inline"
				return m, st
			},
			want: "the manifest changed since the plan (the filename, disposition, type or mimeType of an entry)",
		},
		{
			name: "attributes of a planned change changed",
			then: func(t *testing.T, m *manifest.Manifest, st *state.State) (*manifest.Manifest, *state.State) {
				m.Entries[1].Filename = "bee.png" // b.png is a create in the plan
				return m, st
			},
			want: "the manifest changed since the plan (the filename, disposition, type or mimeType of an entry, e.g. b.png)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mkManifest(t, a, b)
			var st *state.State
			if !tt.noState {
				st = mkState(map[string]*state.Attachment{"a.png": tracked(1, a)})
			}
			p, err := Compute(context.Background(), m, st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m, st = tt.then(t, m, st)
			err = CheckStale(context.Background(), p, m, st)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckStale: %v", err)
				}
				return
			}
			var se *StaleError
			if !errors.As(err, &se) || !errors.Is(err, ErrStale) {
				t.Fatalf("err = %v, want a *StaleError matching ErrStale", err)
			}
			if se.Reason != tt.want || se.Error() != "saved plan is stale: "+tt.want {
				t.Errorf("got  %s\nwant saved plan is stale: %s", se.Error(), tt.want)
			}
			if se.Hint() != `run "desksync plan --out FILE" again` {
				t.Errorf("Hint() = %q", se.Hint())
			}
		})
	}
}

// TestCheckStaleAfterReload checks staleness through a saved file, as apply does.
func TestCheckStaleAfterReload(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "a.png", content: "a"})
	p, err := Compute(context.Background(), m, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.out")
	if err := Write(path, p); err != nil {
		t.Fatal(err)
	}
	saved, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckStale(context.Background(), saved, m, nil); err != nil {
		t.Fatalf("fresh saved plan: %v", err)
	}
	rewrite(t, m, "a.png", "A")
	if err := CheckStale(context.Background(), saved, m, nil); !errors.Is(err, ErrStale) {
		t.Fatalf("after edit: err = %v, want ErrStale", err)
	}
}

func TestCheckStaleUnreadableFile(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "a.png", content: "a"})
	p, err := Compute(context.Background(), m, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(m.Root, "a.png"))
	err = CheckStale(context.Background(), p, m, nil)
	const want = `desksync.yaml:4:5: cannot open "a.png": no such file`
	if err == nil || err.Error() != want || errors.Is(err, ErrStale) {
		t.Fatalf("err = %v, want %q (not ErrStale)", err, want)
	}
}

func rewrite(t *testing.T, m *manifest.Manifest, addr, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(m.Root, addr), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
