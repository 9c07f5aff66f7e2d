package command

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestInitLeavesOutNamesTheManifestRefuses: files whose names a manifest cannot hold
// (a newline, another control character, a backslash, invalid UTF-8), at the top and
// deep in a folder, are left out with a warning naming each, and the manifest init
// writes validates, covering every other file, with the folders that hold no such
// name still one glob each.
func TestInitLeavesOutNamesTheManifestRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := []string{"docs/a\nb.txt", "docs/deep/\xff.txt", "top\xfe.txt", "tab\t.md", `back\slash.txt`, "docs/deep/x\x85.txt", "docs/c1\u0085.txt"}
	good := []string{"docs/ok.txt", "docs/deep/fine.txt", "docs/deep/er/more.txt", "docs/other/x.txt", "images/logo.png", "README.md"}
	for _, name := range append(append([]string{}, bad...), good...) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Skipf("this file system refuses the name %q: %v", name, err)
		}
	}
	r := runCLI(t, dir, nil, "init")
	if r.code != 0 {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if want := "covering 6 files: docs/ (4), images/ (1), 1 top-level file."; !strings.Contains(r.stdout, want) {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	for _, name := range bad {
		if want := "warning: left out " + quoteGo(name); !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q\n%s", want, r.stderr)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "desksync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`"images/**"`, `"docs/ok.txt"`, `"docs/deep/fine.txt"`, `"docs/deep/er/**"`, `"docs/other/**"`} {
		if !strings.Contains(string(data), "  - path: "+p+"\n") {
			t.Errorf("manifest has no path %s:\n%s", p, data)
		}
	}
	v := runCLI(t, dir, nil, "validate")
	if v.code != 0 || !strings.Contains(v.stdout, "valid: 6 attachments") {
		t.Errorf("validate: exit %d\n%s%s\nmanifest:\n%s", v.code, v.stdout, v.stderr, data)
	}
}

// TestInitByExtensionSkipsTheLeftOut: with many top-level files listed by extension,
// an extension that a left-out file shares is listed by name instead, so that "*.png"
// does not bring the refused name back.
func TestInitByExtensionSkipsTheLeftOut(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"bad\n.png": "x"}
	for _, n := range []string{"a1.png", "a2.png", "a3.png", "a4.png", "a5.png", "a6.png", "b1.svg", "b2.svg", "b3.svg", "b4.svg", "c.pdf"} {
		files[n] = "x"
	}
	writeFiles(t, dir, files)
	r := runCLI(t, dir, nil, "init")
	if r.code != 0 || !strings.Contains(r.stdout, "covering 11 files") {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "desksync.yaml"))
	if strings.Contains(string(data), `"*.png"`) || !strings.Contains(string(data), `"*.svg"`) || !strings.Contains(string(data), `"a6.png"`) {
		t.Errorf("manifest:\n%s", data)
	}
	if v := runCLI(t, dir, nil, "validate"); v.code != 0 {
		t.Errorf("validate: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
}

// TestInitWritesNoManifestLoadRefuses: a draft that manifest.Load refuses (here a
// top-level symlink to a file outside the folder) leaves no manifest behind; the
// error says why, as plan would.
func TestInitWritesNoManifestLoadRefuses(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret": "s"})
	writeFiles(t, dir, map[string]string{"docs/a.md": "a"})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "notes.txt")); err != nil {
		t.Skip(err)
	}
	r := runCLI(t, dir, nil, "init")
	if r.code != 1 || !strings.Contains(r.stderr, "notes.txt") || !strings.Contains(r.stderr, "init wrote no manifest") {
		t.Errorf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, "desksync.yaml")); err == nil {
		t.Error("init left a manifest that does not validate")
	}
}

// quoteGo is how the warnings quote a name.
func quoteGo(s string) string { return strconv.Quote(s) }
