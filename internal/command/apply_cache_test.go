package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/fsclock"
	"github.com/desksync/desksync/internal/testdesk"
	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/zeebo/blake3"
)

// TestApplyNoOpTakesDigestsFromCache: apply's own plan decides "unchanged" through the
// hash cache, as plan does, so a daily apply with nothing to do reads no file. The
// proof is a cache record, under a rewritten file's new stamp, that claims the old
// content: only an apply that believed it without reading the file skips the upload.
// --no-cache reads the bytes and uploads them.
func TestApplyNoOpTakesDigestsFromCache(t *testing.T) {
	t.Parallel()
	d := testdesk.Start(t, testdesk.Options{Emulator: desktest.Options{APIKey: randomKey(t)}})
	srv, env := d.Emulator, d.Env()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: \"*.txt\"\n",
		"a.txt":         "one",
		"b.txt":         "two",
	})
	// The kernel stamps files with a coarse clock: let it tick past the files, so the
	// cache apply writes is strictly newer than them (else all would be racily clean).
	fsclock.Tick(t)
	if r := runCLI(t, dir, env, "apply", "--auto-approve"); r.code != 0 {
		t.Fatalf("first apply: %s", r.stderr)
	}
	caches, _ := filepath.Glob(filepath.Join(dir, hashcache.Dir, "hashes-*"))
	if len(caches) != 1 {
		t.Fatalf("apply left hash caches %q, want one", caches)
	}

	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsclock.Tick(t) // and past the rewritten a.txt, for the cache written below
	root, err := manifest.RootOf(filepath.Join(dir, "desksync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := hashcache.Open(root, filepath.Join(dir, "desksync.yaml"))
	for name, claim := range map[string]string{"a.txt": "one", "b.txt": "two"} {
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256([]byte(claim))
		c.PutHead(name, hashcache.KeyOf(fi), manifest.Head{})
		c.Put(name, hashcache.KeyOf(fi), sum)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	srv.ResetRequests()
	r := runCLI(t, dir, env, "apply", "--auto-approve")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("warm apply: exit %d, want 0 and \"No changes\"\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if reqs := srv.Requests(); len(reqs) > 1 {
		t.Errorf("warm no-op apply sent %d requests, want at most the site check: %+v", len(reqs), reqs)
	}

	if r := runCLI(t, dir, env, "apply", "--auto-approve", "--no-cache"); r.code != 0 {
		t.Fatalf("apply --no-cache: %s", r.stderr)
	}
	found := false
	for _, f := range srv.Files() {
		if f.Filename != "a.txt" || f.State != "active" {
			continue
		}
		data, err := srv.Content(f.ID)
		if err != nil {
			t.Fatal(err)
		}
		found = found || string(data) == "changed"
	}
	if !found {
		t.Errorf("apply --no-cache did not upload a.txt's new content")
	}
}
