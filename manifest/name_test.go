package manifest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
)

// TestCheckAddressIsLoadsRule: CheckAddress refuses exactly the names Load refuses
// when a glob matches them, so that init, which drafts by it, never writes a manifest
// Load rejects, and never leaves out a file Load would take.
func TestCheckAddressIsLoadsRule(t *testing.T) {
	names := []string{
		"plain.txt", "café.txt", "with space.pdf", "odd[1].txt", "a\nb.txt", "tab\t.md", "bell\a.txt",
		`back\slash.txt`, "\xff.txt", "x\x85.txt", "c1\u0085.txt", "del\x7f.txt", "nbsp\u00a0.txt",
		"bidi\u202e.txt", strings.Repeat("é", 120) + ".txt", // 244 bytes: within both limits

	}
	for _, name := range names {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "d", name), []byte("x"), 0o644); err != nil {
			t.Logf("skipping %q: %v", name, err)
			continue
		}
		mpath := filepath.Join(dir, "desksync.yaml")
		if err := os.WriteFile(mpath, []byte("version: 1\nattachments:\n  - path: \"d/**\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := manifest.Load(mpath, manifest.Options{})
		why := manifest.CheckAddress("d/" + name)
		if (err != nil) != (why != "") {
			t.Errorf("%q: Load error %v, CheckAddress %q: they must agree", name, err, why)
		}
	}
}

// TestCheckAddressRefusesWhatNoManifestProduces: an address is a clean path inside the
// manifest's folder, whoever asks; state mv re-keys records by this rule.
func TestCheckAddressRefusesWhatNoManifestProduces(t *testing.T) {
	for _, a := range []string{"", ".", "..", "../x.txt", "/etc/passwd", "a//b.txt", "a/./b.txt", "a/../b.txt", "a/", `a\b.txt`, "a/b\x01.txt", "a/" + strings.Repeat("x", 256)} {
		if why := manifest.CheckAddress(a); why == "" {
			t.Errorf("CheckAddress(%q) = \"\", want a reason", a)
		}
	}
	for _, a := range []string{"x.txt", "a/b/c.txt", ".hidden", "a/..b.txt"} {
		if why := manifest.CheckAddress(a); why != "" {
			t.Errorf("CheckAddress(%q) = %q, want \"\"", a, why)
		}
	}
}
