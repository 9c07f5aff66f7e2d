package manifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
)

// tree builds a folder for one test: base/root holds the manifest and files,
// base/outside holds what the manifest must never reach. Keys are relative to root
// ("../outside/x" lands outside). A value "link:T" makes a symlink to T, with @OUT
// replaced by the absolute outside folder and @ROOT by the absolute root; "dir:" makes
// a folder; anything else is the file's content. It returns the manifest's path.
func tree(t *testing.T, manifestText string, files map[string]string) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	out := filepath.Join(base, "outside")
	for _, d := range []string{root, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(v, "link:"):
			target := strings.NewReplacer("@OUT", out, "@ROOT", root).Replace(strings.TrimPrefix(v, "link:"))
			err = os.Symlink(filepath.FromSlash(target), p)
		case v == "dir:":
			err = os.MkdirAll(p, 0o755)
		default:
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mp := filepath.Join(root, "desksync.yaml")
	if err := os.WriteFile(mp, []byte(manifestText), 0o644); err != nil {
		t.Fatal(err)
	}
	return mp
}

// relErr is err's text with the test's temporary folder cut from each position, so
// tables can say "desksync.yaml:3:5: ...".
func relErr(mp string, err error) string {
	return strings.ReplaceAll(err.Error(), filepath.Dir(mp)+string(filepath.Separator), "")
}

// hintOf returns err's Hint, or "<no Hint method>".
func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return "<no Hint method>"
}

// load is Load that fails the test on error.
func load(t *testing.T, mp string, opts manifest.Options) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(mp, opts)
	if err != nil {
		t.Fatalf("Load: %v", relErr(mp, err))
	}
	return m
}
