package manifest_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
)

// brief is an Entry without Resolved and Pos, for compact tables.
type brief struct {
	Address, Filename, Disposition, Type, MimeType string
}

func briefs(es []manifest.Entry) []brief {
	out := make([]brief, len(es))
	for i, e := range es {
		out[i] = brief{e.Address, e.Filename, e.Disposition, e.Type, e.MimeType}
	}
	return out
}

func TestLoad(t *testing.T) {
	t.Parallel()
	svg := `<svg xmlns="http://www.w3.org/2000/svg"/>`
	tests := []struct {
		name     string
		manifest string
		files    map[string]string
		opts     manifest.Options
		want     []brief
	}{
		{
			name:     "empty list",
			manifest: "version: 1\nattachments: []\n",
			want:     []brief{},
		},
		{
			name: "defaults over built-ins, entry over defaults",
			manifest: "version: 1\ndefaults:\n  disposition: attachment-inline\n  type: help_image\nattachments:\n" +
				"  - path: b.png\n  - path: a.png\n    filename: Logo.png\n    type: attachment\n    disposition: attachment\n",
			files: map[string]string{"a.png": png, "b.png": png},
			want: []brief{
				{"a.png", "Logo.png", "attachment", "attachment", "image/png"},
				{"b.png", "b.png", "attachment-inline", "help_image", "image/png"},
			},
		},
		{
			name:     "built-in defaults",
			manifest: "version: 1\nattachments:\n  - path: ./docs//guide.pdf\n",
			files:    map[string]string{"docs/guide.pdf": "%PDF-1.4"},
			want:     []brief{{"docs/guide.pdf", "guide.pdf", "attachment", "attachment", "application/pdf"}},
		},
		{
			name: "plain entry over glob over defaults",
			manifest: "version: 1\ndefaults:\n  mimeType: application/x-default\n  type: fromdefaults\nattachments:\n" +
				"  - path: \"img/*.svg\"\n    disposition: attachment-inline\n    mimeType: image/svg+xml\n" +
				"  - path: img/b.svg\n    filename: B.svg\n    mimeType: Image/SVG+XML\n",
			files: map[string]string{"img/a.svg": svg, "img/b.svg": svg},
			want: []brief{
				{"img/a.svg", "a.svg", "attachment-inline", "fromdefaults", "image/svg+xml"},
				{"img/b.svg", "B.svg", "attachment-inline", "fromdefaults", "image/svg+xml"},
			},
		},
		{
			name: "mime types by extension and by sniffing",
			manifest: "version: 1\nattachments:\n" +
				"  - path: \"data/*\"\n",
			files: map[string]string{
				"data/a.md": "# hi", "data/b.csv": "a,b", "data/c.json": "{}", "data/d.SVG": svg,
				"data/e.woff2": "wOF2", "data/f.docx": "PK",
				"data/png-no-ext": png, "data/notes": "plain words\n", "data/page": "<!DOCTYPE html><p>",
				"data/bin": "\x00\x01\x02\x03", "data/empty": "",
			},
			want: []brief{
				{"data/a.md", "a.md", "attachment", "attachment", "text/markdown"},
				{"data/b.csv", "b.csv", "attachment", "attachment", "text/csv"},
				{"data/bin", "bin", "attachment", "attachment", "application/octet-stream"},
				{"data/c.json", "c.json", "attachment", "attachment", "application/json"},
				{"data/d.SVG", "d.SVG", "attachment", "attachment", "image/svg+xml"},
				{"data/e.woff2", "e.woff2", "attachment", "attachment", "font/woff2"},
				{"data/empty", "empty", "attachment", "attachment", "text/plain"},
				{"data/f.docx", "f.docx", "attachment", "attachment", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
				{"data/notes", "notes", "attachment", "attachment", "text/plain"},
				{"data/page", "page", "attachment", "attachment", "text/html"},
				{"data/png-no-ext", "png-no-ext", "attachment", "attachment", "image/png"},
			},
		},
		{
			// Each file once, however many ways the pattern has to reach it.
			name:     "** twice, and a brace that names one folder twice",
			manifest: "version: 1\nattachments:\n  - path: \"{help,help}/**/**/*.svg\"\n",
			files:    map[string]string{"help/top.svg": svg, "help/img/a.svg": svg, "help/img/deep/b.svg": svg},
			want: []brief{
				{"help/img/a.svg", "a.svg", "attachment", "attachment", "image/svg+xml"},
				{"help/img/deep/b.svg", "b.svg", "attachment", "attachment", "image/svg+xml"},
				{"help/top.svg", "top.svg", "attachment", "attachment", "image/svg+xml"},
			},
		},
		{
			name:     "** crosses folders, skips hidden names and never enters .git",
			manifest: "version: 1\nattachments:\n  - path: \"help/**/*.svg\"\n",
			files: map[string]string{
				"help/top.svg": svg, "help/img/a.svg": svg, "help/img/deep/er/b.svg": svg, "help/img/c.png": png,
				"help/.hidden.svg": svg, "help/.cache/x.svg": svg, "help/.git/y.svg": svg, "other/z.svg": svg,
			},
			want: []brief{
				{"help/img/a.svg", "a.svg", "attachment", "attachment", "image/svg+xml"},
				{"help/img/deep/er/b.svg", "b.svg", "attachment", "attachment", "image/svg+xml"},
				{"help/top.svg", "top.svg", "attachment", "attachment", "image/svg+xml"},
			},
		},
		{
			name:     "a spelled-out dot matches hidden names, but .git and .desksync stay closed",
			manifest: "version: 1\nattachments:\n  - path: \"**/.*.md\"\n  - path: \".git*/**\"\n",
			files: map[string]string{
				".github/CONTRIBUTING.md": "c", "docs/.draft.md": "d", ".gitignore-notes/n.md": "n",
				".git/HEAD.md": "h", ".desksync/sandbox/s.md": "s", "docs/.git/x.md": "x",
			},
			want: []brief{
				{".github/CONTRIBUTING.md", "CONTRIBUTING.md", "attachment", "attachment", "text/markdown"},
				{".gitignore-notes/n.md", "n.md", "attachment", "attachment", "text/markdown"},
				{"docs/.draft.md", ".draft.md", "attachment", "attachment", "text/markdown"},
			},
		},
		{
			name:     "trailing ** takes every file below, except the manifest and the state",
			manifest: "version: 1\nstate: desksync.state.json\nattachments:\n  - path: \"**\"\n",
			files: map[string]string{
				"a.txt": "a", "sub/b.txt": "b", "desksync.state.json": "{}", "desksync.state.json.lock": "{}",
				"desksync.state.json.backup": "{}",
			},
			want: []brief{
				{"a.txt", "a.txt", "attachment", "attachment", "text/plain"},
				{"sub/b.txt", "b.txt", "attachment", "attachment", "text/plain"},
			},
		},
		{
			name:     "braces, classes and ?",
			manifest: "version: 1\nattachments:\n  - path: \"{img,icons}/[ab]?.{png,svg}\"\n",
			files:    map[string]string{"img/a1.png": png, "icons/b2.svg": svg, "img/c1.png": png, "img/a12.png": png, "docs/a1.png": png},
			want: []brief{
				{"icons/b2.svg", "b2.svg", "attachment", "attachment", "image/svg+xml"},
				{"img/a1.png", "a1.png", "attachment", "attachment", "image/png"},
			},
		},
		{
			name:     "exactly MaxEntries files",
			manifest: "version: 1\nattachments:\n  - path: a.txt\n  - path: \"*.md\"\n",
			files:    map[string]string{"a.txt": "a", "b.md": "b", "c.md": "c"},
			opts:     manifest.Options{MaxEntries: 3},
			want: []brief{
				{"a.txt", "a.txt", "attachment", "attachment", "text/plain"},
				{"b.md", "b.md", "attachment", "attachment", "text/markdown"},
				{"c.md", "c.md", "attachment", "attachment", "text/markdown"},
			},
		},
		{
			name:     "path as a number",
			manifest: "version: 1\nattachments:\n  - path: 2024\n",
			files:    map[string]string{"2024": "report"},
			want:     []brief{{"2024", "2024", "attachment", "attachment", "text/plain"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := tree(t, tt.manifest, tt.files)
			m := load(t, mp, tt.opts)
			if got := briefs(m.Entries); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries:\n got: %+v\nwant: %+v", got, tt.want)
			}
			for _, e := range m.Entries {
				if e.Resolved != e.Address {
					t.Errorf("%s: Resolved = %q, want the address (no links here)", e.Address, e.Resolved)
				}
			}
		})
	}
}

func TestLoadPositionsAndRoot(t *testing.T) {
	t.Parallel()
	mp := tree(t, "version: 1\nattachments:\n  - path: \"*.txt\"\n  -   path: b.txt\n", map[string]string{"a.txt": "a", "b.txt": "b"})
	m := load(t, mp, manifest.Options{})
	root, _ := filepath.EvalSymlinks(filepath.Dir(mp))
	if m.Path != mp || m.Root != root || m.StatePath != filepath.Join(root, "desksync.state.json") {
		t.Errorf("Path, Root, StatePath = %q, %q, %q", m.Path, m.Root, m.StatePath)
	}
	want := []manifest.Position{{File: mp, Line: 3, Column: 5}, {File: mp, Line: 4, Column: 7}}
	for i, e := range m.Entries {
		if e.Pos != want[i] {
			t.Errorf("%s: Pos = %+v, want %+v", e.Address, e.Pos, want[i])
		}
	}
}

func TestLoadRelativeNameAndSymlinkedRoot(t *testing.T) {
	// A relative manifest name is kept as given in errors; the root is resolved
	// through a symlinked folder so containment compares real paths.
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(base, "via")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(real, "desksync.yaml"), "version: 1\nattachments:\n  - path: a.txt\n  - path: nope.txt\n")
	write(t, filepath.Join(real, "a.txt"), "a")
	t.Chdir(base)
	_, err := manifest.Load("via/desksync.yaml", manifest.Options{})
	want := `via/desksync.yaml:4:11: attachments[1].path: "nope.txt" does not exist`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	write(t, filepath.Join(real, "desksync.yaml"), "version: 1\nattachments:\n  - path: a.txt\n")
	m, err := manifest.Load("via/desksync.yaml", manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if realRoot, _ := filepath.EvalSymlinks(real); m.Root != realRoot {
		t.Errorf("Root = %q, want %q", m.Root, realRoot)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadStatePath(t *testing.T) {
	t.Parallel()
	abs := filepath.Join(t.TempDir(), "elsewhere.json")
	tests := []struct {
		name, state string
		want        func(root string) string
	}{
		{"default", "", func(root string) string { return filepath.Join(root, "desksync.state.json") }},
		{"relative", "state: .state/prod.json\n", func(root string) string { return filepath.Join(root, ".state", "prod.json") }},
		{"s3 URL, passed through", "state: s3://bucket/team/desksync.state.json\n", func(string) string { return "s3://bucket/team/desksync.state.json" }},
		{"the pipeline's, anywhere", "state: mine.json\n@" + abs, func(string) string { return abs }},
		{"the pipeline's s3 URL", "@s3://b/k.json", func(string) string { return "s3://b/k.json" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, override, _ := strings.Cut(tt.state, "@")
			mp := tree(t, "version: 1\n"+text+"attachments: []\n", nil)
			m := load(t, mp, manifest.Options{State: override})
			if want := tt.want(m.Root); m.StatePath != want {
				t.Errorf("StatePath = %q, want %q", m.StatePath, want)
			}
		})
	}
}

func TestLoadSymlinksInsideRoot(t *testing.T) {
	t.Parallel()
	mp := tree(t, "version: 1\nattachments:\n  - path: logo.png\n  - path: abs.png\n  - path: \"current/*.txt\"\n  - path: \"**/*.md\"\n",
		map[string]string{
			"assets/v2/logo-final.png": png,
			"logo.png":                 "link:assets/v2/logo-final.png",
			"abs.png":                  "link:@ROOT/assets/v2/logo-final.png",
			"releases/2.0/notes.txt":   "notes",
			"current":                  "link:releases/2.0",
			"releases/2.0/r.md":        "md",
		})
	m := load(t, mp, manifest.Options{})
	type ar struct{ Address, Resolved string }
	var got []ar
	for _, e := range m.Entries {
		got = append(got, ar{e.Address, e.Resolved})
	}
	// ** does not descend into the symlinked folder "current", so r.md is listed once.
	want := []ar{
		{"abs.png", "assets/v2/logo-final.png"},
		{"current/notes.txt", "releases/2.0/notes.txt"},
		{"logo.png", "assets/v2/logo-final.png"},
		{"releases/2.0/r.md", "releases/2.0/r.md"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries:\n got: %+v\nwant: %+v", got, want)
	}
	// Open goes through Resolved, so even the absolute link (which os.Root itself
	// refuses to follow) reads the target.
	for _, e := range m.Entries[:1] {
		f, err := m.Open(e)
		if err != nil {
			t.Fatalf("Open(%s): %v", e.Address, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != png {
			t.Errorf("Open(%s) read %q", e.Address, b)
		}
	}
}

func TestOpenRefusesSwappedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		swap      func(t *testing.T, root, outside string)
		linuxOnly bool
		want      string
	}{
		{
			name: "replaced by a symlink outside the root",
			swap: func(t *testing.T, root, outside string) {
				write(t, filepath.Join(outside, "secret"), "s")
				os.Remove(filepath.Join(root, "a.txt"))
				if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "a.txt")); err != nil {
					t.Fatal(err)
				}
			},
			want: `desksync.yaml:3:5: cannot open "a.txt": it is now a symlink, or one is on its way`,
		},
		{
			name: "replaced by a symlink inside the root",
			swap: func(t *testing.T, root, _ string) {
				write(t, filepath.Join(root, ".git-config"), "token")
				os.Remove(filepath.Join(root, "a.txt"))
				if err := os.Symlink(".git-config", filepath.Join(root, "a.txt")); err != nil {
					t.Fatal(err)
				}
			},
			linuxOnly: true, // elsewhere os.OpenInRoot follows links that stay inside
			want:      `desksync.yaml:3:5: cannot open "a.txt": it is now a symlink, or one is on its way`,
		},
		{
			name: "replaced by a FIFO: refused, not waited on",
			swap: func(t *testing.T, root, _ string) {
				os.Remove(filepath.Join(root, "a.txt"))
				if err := mkfifo(filepath.Join(root, "a.txt")); err != nil {
					t.Skip(err)
				}
			},
			linuxOnly: true,
			want:      `desksync.yaml:3:5: cannot open "a.txt": not a regular file`,
		},
		{
			name: "replaced by a folder",
			swap: func(t *testing.T, root, _ string) {
				os.Remove(filepath.Join(root, "a.txt"))
				if err := os.Mkdir(filepath.Join(root, "a.txt"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: `desksync.yaml:3:5: cannot open "a.txt": not a regular file`,
		},
		{
			name: "removed",
			swap: func(t *testing.T, root, _ string) { os.Remove(filepath.Join(root, "a.txt")) },
			want: `desksync.yaml:3:5: cannot open "a.txt": no such file`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.linuxOnly && runtime.GOOS != "linux" {
				t.Skip("Linux only")
			}
			mp := tree(t, "version: 1\nattachments:\n  - path: a.txt\n", map[string]string{"a.txt": "a"})
			m := load(t, mp, manifest.Options{})
			tt.swap(t, m.Root, filepath.Join(filepath.Dir(m.Root), "outside"))
			f, err := m.Open(m.Entries[0])
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if got := relErr(mp, err); got != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.want)
			}
			if !strings.HasPrefix(hintOf(err), "the file changed since") {
				t.Errorf("hint = %q", hintOf(err))
			}
		})
	}
}

func TestLoadManifestFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	write(t, big, "version: 1\nattachments: []\n"+strings.Repeat("#", manifest.MaxManifestSize))
	tests := []struct {
		name, path, want, hint string
	}{
		{"missing", filepath.Join(dir, "nope.yaml"), filepath.Join(dir, "nope.yaml") + ": cannot read the manifest: no such file",
			"create desksync.yaml, or name the manifest with -m/--manifest or DESKSYNC_MANIFEST"},
		{"folder", dir, dir + ": cannot read the manifest: is a folder", "name the manifest file itself, e.g. desksync.yaml"},
		{"too big", big, big + ": manifest is 1048577 bytes, more than the 1048576 allowed", "use globs instead of listing every file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := manifest.Load(tt.path, manifest.Options{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.want)
			}
			if got := hintOf(err); got != tt.hint {
				t.Errorf("hint = %q, want %q", got, tt.hint)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	t.Parallel()
	mp := tree(t, "version: 1\nattachments:\n  - path: a.txt\n  - path: \"locked/*.txt\"\n", map[string]string{"a.txt": "a", "locked/b.txt": "b"})
	root := filepath.Dir(mp)
	if err := os.Chmod(filepath.Join(root, "a.txt"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "locked"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "locked"), 0o755) })
	_, err := manifest.Load(mp, manifest.Options{})
	want := `desksync.yaml:3:11: attachments[0].path: "a.txt" cannot be read: permission denied` + "\n" +
		`desksync.yaml:4:11: attachments[1].path: glob cannot read folder "locked": permission denied`
	if err == nil || relErr(mp, err) != want {
		t.Fatalf("err = %v, want\n%s", err, want)
	}
}

// BenchmarkLoad loads a manifest whose globs expand to 10,000 files in 100 folders.
func BenchmarkLoad(b *testing.B) {
	root := b.TempDir()
	for d := 0; d < 100; d++ {
		dir := filepath.Join(root, "f", fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.txt", i)), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	mp := filepath.Join(root, "desksync.yaml")
	if err := os.WriteFile(mp, []byte("version: 1\nattachments:\n  - path: \"f/**/*.txt\"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		m, err := manifest.Load(mp, manifest.Options{})
		if err != nil || len(m.Entries) != 10000 {
			b.Fatalf("Load: %d entries, %v", len(m.Entries), err)
		}
	}
}
