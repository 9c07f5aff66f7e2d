package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
)

func TestHashMatchesBLAKE3(t *testing.T) {
	t.Parallel()
	// Sizes around the worker's read buffer catch a dropped or repeated tail.
	var files []file
	for i, n := range []int{0, 1, 1023, 1024, hashBufferSize - 1, hashBufferSize, hashBufferSize + 1, 3*hashBufferSize + 17} {
		files = append(files, file{addr: fmt.Sprintf("f%02d.bin", i), content: strings.Repeat(string(rune('a'+i)), n)})
	}
	m := mkManifest(t, files...)
	for _, workers := range []int{0, 1, 3, 100} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			got, err := Hash(context.Background(), m, workers)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(files) {
				t.Fatalf("%d digests, want %d", len(got), len(files))
			}
			for _, f := range files {
				want := FileDigest{Size: int64(len(f.content)), Blake3: b3(f.content)}
				if got[f.addr] != want {
					t.Errorf("%s: %+v, want %+v", f.addr, got[f.addr], want)
				}
			}
		})
	}
}

func TestHashEmptyManifest(t *testing.T) {
	t.Parallel()
	got, err := Hash(context.Background(), mkManifest(t), 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Hash(empty) = %v, %v", got, err)
	}
}

func TestHashCancelled(t *testing.T) {
	t.Parallel()
	m := mkManifest(t, file{addr: "a", content: "a"}, file{addr: "b", content: "b"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, m, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestHashCacheInCompute drives Compute twice with a hash cache, the way plan does:
// an unchanged file comes from the cache, and a file replaced between the two plans
// (same size, mtime put back) or merely touched is read again.
func TestHashCacheInCompute(t *testing.T) {
	t.Parallel()
	content := func(c string) string { return strings.Repeat(c, 100) }
	m := mkManifest(t, file{addr: "a.txt", content: content("1")}, file{addr: "b.txt", content: content("b")}, file{addr: "c.txt", content: content("c")})
	past := time.Now().Add(-time.Hour)
	for _, e := range m.Entries {
		if err := os.Chtimes(filepath.Join(m.Root, e.Address), past, past); err != nil {
			t.Fatal(err)
		}
	}
	plan := func() map[string]FileDigest {
		t.Helper()
		c := hashcache.Open(m.Root, m.Path)
		p, err := Compute(context.Background(), m, nil, Options{HashCache: c})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
		return p.Files
	}
	plan()
	// Poison the cache for b.txt: a hit now returns the wrong digest, which proves that
	// an unchanged file is taken from the cache rather than read.
	c := hashcache.Open(m.Root, m.Path)
	fi, err := os.Lstat(filepath.Join(m.Root, "b.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c.Put("b.txt", hashcache.KeyOf(fi), rawB3("poison"))
	for _, a := range []string{"a.txt", "c.txt"} {
		fi, _ := os.Lstat(filepath.Join(m.Root, a))
		if _, ok := c.Get(a, hashcache.KeyOf(fi)); ok != manifest.StampIdentifiesFile {
			t.Fatalf("%s: cached after a plan = %v, want %v", a, !manifest.StampIdentifiesFile, manifest.StampIdentifiesFile)
		}
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	// a.txt replaced by another file of the same size, its mtime put back.
	p := filepath.Join(m.Root, "a.txt")
	if err := os.WriteFile(p+".new", []byte(content("2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, past, past); err != nil {
		t.Fatal(err)
	}
	// c.txt rewritten in place with the same size, then touched back: ctime still moves.
	if err := os.WriteFile(filepath.Join(m.Root, "c.txt"), []byte(content("C")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(m.Root, "c.txt"), past, past); err != nil {
		t.Fatal(err)
	}

	got := plan()
	if got["a.txt"].Blake3 != b3(content("2")) {
		t.Errorf("a.txt replaced: digest %s, want that of the new content", got["a.txt"].Blake3)
	}
	if got["c.txt"].Blake3 != b3(content("C")) {
		t.Errorf("c.txt rewritten: digest %s, want that of the new content", got["c.txt"].Blake3)
	}
	if !manifest.StampIdentifiesFile {
		// No cache on this platform: every file is read.
		if got["b.txt"].Blake3 != b3(content("b")) {
			t.Errorf("b.txt unchanged: digest %s, want that of its content (no cache here)", got["b.txt"].Blake3)
		}
	} else if got["b.txt"].Blake3 != b3("poison") {
		t.Errorf("b.txt unchanged: digest %s, want the cached one", got["b.txt"].Blake3)
	}
	// Hash, which the saved plan's staleness check uses, never trusts the cache.
	direct, err := Hash(context.Background(), m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if direct["b.txt"].Blake3 != b3(content("b")) {
		t.Errorf("Hash used the cache")
	}
}
