package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/internal/fsclock"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
)

// warmTree is a manifest of one glob over files/ with the given contents, written an
// hour in the past, so that what a test changes later stands out.
func warmTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	for name, content := range files {
		p := filepath.Join(root, "files", name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	yaml := "version: 1\nattachments:\n  - path: \"files/*\"\n"
	if err := os.WriteFile(filepath.Join(root, "desksync.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "desksync.yaml")
}

// warmPlan does what "desksync plan" does: the cache opened before Load, consulted by
// Load and Compute, saved after. It returns the entries by address and the digests.
func warmPlan(t *testing.T, manifestPath string) (map[string]manifest.Entry, map[string]FileDigest) {
	t.Helper()
	root, err := manifest.RootOf(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel stamps files with a coarse clock: let it tick past every file written
	// so far, so the cache written below is strictly newer (else all is racily clean).
	fsclock.Tick(t)
	c := hashcache.Open(root, manifestPath)
	m, err := manifest.Load(manifestPath, manifest.Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compute(context.Background(), m, nil, Options{HashCache: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	entries := map[string]manifest.Entry{}
	for _, e := range m.Entries {
		entries[e.Address] = e
	}
	return entries, p.Files
}

// poison records, under the current stamp of each named file, a head and a digest no
// read could produce, so a later plan that shows them took them from the cache.
func poison(t *testing.T, manifestPath string, names ...string) {
	t.Helper()
	root, _ := manifest.RootOf(manifestPath)
	c := hashcache.Open(root, manifestPath)
	for _, name := range names {
		fi, err := os.Lstat(filepath.Join(root, "files", name))
		if err != nil {
			t.Fatal(err)
		}
		k := hashcache.KeyOf(fi)
		c.PutHead("files/"+name, k, manifest.Head{Sniffed: "x-poisoned/head"})
		c.Put("files/"+name, k, rawB3("poison"))
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
}

const poisoned = "x-poisoned/head"

// TestWarmLoadTakesHeadFromCache: on an unchanged file the second plan takes the
// sniffed type and the digest from the cache (no open, no read); without the cache,
// Load and Hash read the bytes.
func TestWarmLoadTakesHeadFromCache(t *testing.T) {
	t.Parallel()
	mp := warmTree(t, map[string]string{"a.bin": "hello, plain text", "b.bin": "\x89PNG\r\n\x1a\nrest"})
	entries, _ := warmPlan(t, mp)
	if got := entries["files/a.bin"].MimeType; got != "text/plain" {
		t.Fatalf("cold: a.bin is %q, want text/plain", got)
	}
	poison(t, mp, "a.bin")
	entries, files := warmPlan(t, mp)
	if got := entries["files/a.bin"].MimeType; got != poisoned {
		t.Errorf("warm: a.bin is %q, want the cached %q", got, poisoned)
	}
	if got := files["files/a.bin"].Blake3; got != b3("poison") {
		t.Errorf("warm: a.bin digest %s, want the cached one", got)
	}
	if got := entries["files/b.bin"].MimeType; got != "image/png" {
		t.Errorf("warm: b.bin is %q, want image/png", got)
	}
	// --no-cache: no cache given to Load or Compute.
	m, err := manifest.Load(mp, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compute(context.Background(), m, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Entries {
		if e.Address == "files/a.bin" && (e.MimeType != "text/plain" || p.Files[e.Address].Blake3 != b3("hello, plain text")) {
			t.Errorf("without the cache: %s %s, want the file's own", e.MimeType, p.Files[e.Address].Blake3)
		}
	}
}

// TestWarmLoadHeadRewrittenStampPutBack: a file rewritten in place with the same size
// and its mtime put back still gets a new ctime, which user space cannot set, so the
// cache misses and the head is read again: here the new content is a saved plan,
// which the glob must skip.
func TestWarmLoadHeadRewrittenStampPutBack(t *testing.T) {
	t.Parallel()
	planHead := `{"desksync_plan":1,"x":"` // padded below to the old size
	old := strings.Repeat("a", 200)
	mp := warmTree(t, map[string]string{"a.json": old, "b.bin": "other"})
	warmPlan(t, mp)
	poison(t, mp, "a.json")
	p := filepath.Join(filepath.Dir(mp), "files", "a.json")
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	next := planHead + strings.Repeat("b", len(old)-len(planHead)-2) + `"}`
	if err := os.WriteFile(p, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(p)
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("size and mtime were not put back")
	}
	entries, _ := warmPlan(t, mp)
	if e, ok := entries["files/a.json"]; ok {
		t.Fatalf("a saved plan written over an attachment (size and mtime put back) is still planned, as %q", e.MimeType)
	}
	if _, ok := entries["files/b.bin"]; !ok {
		t.Fatal("b.bin lost")
	}
}

// TestWarmLoadSavedPlanOverAttachment: "plan --out" over a file the cache knows as an
// attachment: the new content has a new size, mtime and ctime, so the warm path reads
// it and recognises the plan.
func TestWarmLoadSavedPlanOverAttachment(t *testing.T) {
	t.Parallel()
	mp := warmTree(t, map[string]string{"release.json": `{"not":"a plan"}`, "b.bin": "other"})
	warmPlan(t, mp)
	warmPlan(t, mp) // the cache is warm, release.json known as an attachment
	p := filepath.Join(filepath.Dir(mp), "files", "release.json")
	if err := Write(p, &Plan{Changes: []Change{}, Files: map[string]FileDigest{}}); err != nil {
		t.Fatal(err)
	}
	entries, _ := warmPlan(t, mp)
	if _, ok := entries["files/release.json"]; ok {
		t.Fatal("a saved plan written over a cached attachment is planned for upload")
	}
}

// TestWarmLoadRacyFile: a file whose mtime is not older than the cache's own write
// may have changed in the same clock tick after it was read: its head and digest are
// read again, never taken from the cache.
func TestWarmLoadRacyFile(t *testing.T) {
	t.Parallel()
	mp := warmTree(t, map[string]string{"a.bin": "hello, plain text"})
	p := filepath.Join(filepath.Dir(mp), "files", "a.bin")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	warmPlan(t, mp)
	poison(t, mp, "a.bin")
	entries, files := warmPlan(t, mp)
	if got := entries["files/a.bin"].MimeType; got != "text/plain" {
		t.Errorf("racy file: type %q taken from the cache", got)
	}
	if got := files["files/a.bin"].Blake3; got != b3("hello, plain text") {
		t.Errorf("racy file: digest %s taken from the cache", got)
	}
}

// TestWarmLoadCorruptCache: a cache edited by hand (its checksum no longer matches)
// is ignored whole, heads included, and rebuilt.
func TestWarmLoadCorruptCache(t *testing.T) {
	t.Parallel()
	mp := warmTree(t, map[string]string{"a.bin": "hello, plain text"})
	warmPlan(t, mp)
	poison(t, mp, "a.bin")
	root, _ := manifest.RootOf(mp)
	path := hashcache.Open(root, mp).Path()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), poisoned, "x-poisoned/heae", 1))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	entries, files := warmPlan(t, mp)
	if got := entries["files/a.bin"].MimeType; got != "text/plain" {
		t.Errorf("corrupt cache: type %q", got)
	}
	if got := files["files/a.bin"].Blake3; got != b3("hello, plain text") {
		t.Errorf("corrupt cache: digest %s", got)
	}
	if _, err := os.ReadFile(path); err != nil {
		t.Fatalf("not rebuilt: %v", err)
	}
	poison(t, mp, "a.bin") // the rebuilt cache is used again
	if entries, _ := warmPlan(t, mp); entries["files/a.bin"].MimeType != poisoned {
		t.Error("the rebuilt cache is not used")
	}
}

// TestWarmLoadSymlinkSwappedIn: a cached file replaced by a symlink leading outside
// the root is refused by Load as on a cold run; the cache is never asked about it.
func TestWarmLoadSymlinkSwappedIn(t *testing.T) {
	t.Parallel()
	mp := warmTree(t, map[string]string{"a.bin": "hello, plain text"})
	warmPlan(t, mp)
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("hello, plain text"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(mp), "files", "a.bin")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
	root, _ := manifest.RootOf(mp)
	_, err := manifest.Load(mp, manifest.Options{Cache: hashcache.Open(root, mp)})
	if err == nil || !strings.Contains(err.Error(), "outside the manifest's folder") {
		t.Fatalf("Load = %v, want the symlink refused", err)
	}
}
