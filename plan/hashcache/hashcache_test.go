package hashcache_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/zeebo/blake3"
)

const big = 16 << 10

const digestA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// raw is the digest a hex string spells.
func raw(digest string) (d [32]byte) {
	if _, err := hex.Decode(d[:], []byte(digest)); err != nil {
		panic(err)
	}
	return d
}

// saved writes a cache holding addr -> digestA under key k and returns the reopened cache.
func saved(t *testing.T, root string, k hashcache.Key) *hashcache.Cache {
	t.Helper()
	c := hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
	c.Put("docs/a b.txt", k, raw(digestA))
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	return hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
}

func TestCacheHit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	past := time.Now().Add(-time.Hour).UnixNano()
	k := hashcache.Key{Size: big, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1}
	c := saved(t, root, k)
	if d, ok := c.Get("docs/a b.txt", k); !ok || hex.EncodeToString(d[:]) != digestA {
		t.Fatalf("Get = %q, %v; want the saved digest", d, ok)
	}
	for name, other := range map[string]hashcache.Key{
		"size": {Size: big + 1, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1},
		// touched: same content, new mtime
		"mtime":  {Size: big, MtimeNs: past + 1, CtimeNs: past, Ino: 7, Dev: 1},
		"ctime":  {Size: big, MtimeNs: past, CtimeNs: past + 1, Ino: 7, Dev: 1},
		"inode":  {Size: big, MtimeNs: past, CtimeNs: past, Ino: 8, Dev: 1},
		"device": {Size: big, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 2},
	} {
		if _, ok := c.Get("docs/a b.txt", other); ok {
			t.Errorf("a different %s still hit the cache", name)
		}
	}
	if _, ok := c.Get("other.txt", k); ok {
		t.Error("another address hit the cache")
	}
}

// TestCacheRacyClean: an entry whose mtime is not older than the cache's own write is
// never trusted, since the file may have changed within the same clock tick.
func TestCacheRacyClean(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	future := time.Now().Add(time.Hour).UnixNano()
	k := hashcache.Key{Size: big, MtimeNs: future, CtimeNs: 1, Ino: 7, Dev: 1}
	c := saved(t, root, k)
	if _, ok := c.Get("docs/a b.txt", k); ok {
		t.Fatal("a racily clean entry was trusted")
	}
	fi, err := os.Stat(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	same := fi.ModTime().UnixNano()
	k = hashcache.Key{Size: big, MtimeNs: same, CtimeNs: 1, Ino: 7, Dev: 1}
	c = saved(t, root, k)
	if fi, _ := os.Stat(c.Path()); fi.ModTime().UnixNano() > same {
		t.Skip("the cache's mtime moved on; the equal case cannot be built here")
	}
	if _, ok := c.Get("docs/a b.txt", k); ok {
		t.Fatal("an entry as new as the cache was trusted")
	}
}

// TestCacheCorruptOrForeign: a damaged cache, or another manifest's, is an empty one,
// and the next Save rebuilds it.
func TestCacheCorruptOrForeign(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-time.Hour).UnixNano()
	k := hashcache.Key{Size: big, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1}
	for name, damage := range map[string]func(t *testing.T, root, path string){
		"flipped digest byte": func(t *testing.T, _, path string) {
			edit(t, path, func(s string) string { return strings.Replace(s, "aaaa", "aaab", 1) })
		},
		"truncated": func(t *testing.T, _, path string) { edit(t, path, func(s string) string { return s[:len(s)-10] }) },
		"checksum removed": func(t *testing.T, _, path string) {
			edit(t, path, func(s string) string { return s[:strings.LastIndex(s, "end ")] })
		},
		"data after the end": func(t *testing.T, _, path string) { edit(t, path, func(s string) string { return s + "x" }) },
		"garbage":            func(t *testing.T, _, path string) { os.WriteFile(path, []byte("\x00\xff not a cache"), 0o644) },
		"empty":              func(t *testing.T, _, path string) { os.WriteFile(path, nil, 0o644) },
		"a folder":           func(t *testing.T, _, path string) { os.Remove(path); os.Mkdir(path, 0o755) },
		"another manifest's, copied over": func(t *testing.T, root, path string) {
			other := hashcache.Open(root, filepath.Join(root, "other.yaml"))
			other.Put("docs/a b.txt", k, raw(strings.Repeat("b", 64)))
			if err := other.Save(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(other.Path())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			c := saved(t, root, k)
			damage(t, root, c.Path())
			c = hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
			if d, ok := c.Get("docs/a b.txt", k); ok {
				t.Fatalf("damaged cache used: %x", d)
			}
			if name == "a folder" {
				return
			}
			c.Put("docs/a b.txt", k, raw(digestA))
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			c = hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
			if d, ok := c.Get("docs/a b.txt", k); !ok || hex.EncodeToString(d[:]) != digestA {
				t.Fatalf("rebuilt cache: Get = %q, %v", d, ok)
			}
		})
	}
}

// TestCacheTwoManifests: two manifests in one folder keep separate caches.
func TestCacheTwoManifests(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	past := time.Now().Add(-time.Hour).UnixNano()
	k := hashcache.Key{Size: big, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1}
	a := hashcache.Open(root, filepath.Join(root, "a.yaml"))
	b := hashcache.Open(root, filepath.Join(root, "b.yaml"))
	if a.Path() == b.Path() {
		t.Fatalf("both manifests use %s", a.Path())
	}
	a.Put("x", k, raw(digestA))
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if _, ok := hashcache.Open(root, filepath.Join(root, "b.yaml")).Get("x", k); ok {
		t.Fatal("b used a's cache")
	}
}

func TestCacheIsIgnoredByGit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	c := hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, hashcache.Dir, ".gitignore"))
	if err != nil || string(data) != "*\n" {
		t.Fatalf(".gitignore = %q, %v", data, err)
	}
}

func edit(t *testing.T, path string, f func(string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(f(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCacheKeepsSmallFiles: every file is cached, however small, since Load may then
// skip opening it.
func TestCacheKeepsSmallFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	past := time.Now().Add(-time.Hour).UnixNano()
	k := hashcache.Key{Size: 0, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1}
	c := saved(t, root, k)
	if d, ok := c.Get("docs/a b.txt", k); !ok || hex.EncodeToString(d[:]) != digestA {
		t.Fatalf("an empty file: Get = %q, %v", d, ok)
	}
}

// TestCacheUnchangedIsNotRewritten: a run that only read the cache leaves the file as
// it was; one that learnt something, or no longer asked for an entry, rewrites it.
func TestCacheUnchangedIsNotRewritten(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	past := time.Now().Add(-time.Hour).UnixNano()
	k := hashcache.Key{Size: big, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1}
	c := saved(t, root, k)
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(c.Path(), old, old); err != nil {
		t.Fatal(err)
	}
	c = hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
	if _, ok := c.Get("docs/a b.txt", k); !ok {
		t.Fatal("miss")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(c.Path()); !fi.ModTime().Equal(old) {
		t.Fatal("an unchanged cache was rewritten")
	}
	c = hashcache.Open(root, filepath.Join(root, "desksync.yaml"))
	if err := c.Save(); err != nil { // the entry was not asked for: it drops out
		t.Fatal(err)
	}
	if _, ok := hashcache.Open(root, filepath.Join(root, "desksync.yaml")).Get("docs/a b.txt", k); ok {
		t.Fatal("an entry no plan asked for was kept")
	}
}

// TestCacheHeadsRoundTrip: head facts (a saved plan, a sniffed type, none sniffed) and
// digests survive Save and Open, each alone or together, and times before 1970 too.
func TestCacheHeadsRoundTrip(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mp := filepath.Join(root, "desksync.yaml")
	past := time.Now().Add(-time.Hour).UnixNano()
	key := func(ino uint64) hashcache.Key {
		return hashcache.Key{Size: 5, MtimeNs: past, CtimeNs: past, Ino: ino, Dev: 1}
	}
	old := hashcache.Key{Size: 5, MtimeNs: -1_000_000_123, CtimeNs: past, Ino: 9, Dev: 1}
	heads := map[string]manifest.Head{
		"plan.json":   {SavedPlan: true},
		"a b.bin":     {Sniffed: "text/plain"},
		"c.png":       {},
		"only-digest": {},
	}
	c := hashcache.Open(root, mp)
	for i, addr := range []string{"plan.json", "a b.bin", "c.png"} {
		c.PutHead(addr, key(uint64(i)), heads[addr])
	}
	c.Put("a b.bin", key(1), raw(digestA))
	c.Put("only-digest", key(3), raw(digestA))
	c.PutHead("old", old, manifest.Head{Sniffed: "image/png"})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = hashcache.Open(root, mp)
	for i, addr := range []string{"plan.json", "a b.bin", "c.png"} {
		want := heads[addr]
		if addr == "a b.bin" { // its digest comes with its head, for the hash pass
			want.Whole, want.Digest = true, raw(digestA)
		}
		if h, ok := c.Head(addr, key(uint64(i))); !ok || h != want {
			t.Errorf("%s: Head = %+v, %v; want %+v", addr, h, ok, want)
		}
	}
	if _, ok := c.Head("only-digest", key(3)); ok {
		t.Error("a head was made up for a record with a digest only")
	}
	if h, ok := c.Head("old", old); !ok || h.Sniffed != "image/png" {
		t.Errorf("a file from before 1970: Head = %+v, %v", h, ok)
	}
}

// FuzzCacheFile: whatever lines a cache file holds, with its header and checksum made
// right so that the parser sees them, Open does not panic, and a cache it accepts
// answers lookups and saves a file it reads back the same.
func FuzzCacheFile(f *testing.F) {
	root := f.TempDir()
	mp := filepath.Join(root, "desksync.yaml")
	c := hashcache.Open(root, mp)
	past := time.Now().Add(-time.Hour).UnixNano()
	c.Put("a b", hashcache.Key{Size: 1, MtimeNs: past, CtimeNs: past, Ino: 2, Dev: 3}, raw(digestA))
	c.PutHead("p.json", hashcache.Key{Size: 1, MtimeNs: -5, CtimeNs: past}, manifest.Head{SavedPlan: true})
	c.PutHead("t", hashcache.Key{}, manifest.Head{Sniffed: "text/plain"})
	if err := c.Save(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(c.Path())
	if err != nil {
		f.Fatal(err)
	}
	lines := strings.Split(string(good), "\n")
	header := strings.Join(lines[:2], "\n") + "\n"
	f.Add(strings.Join(lines[2:len(lines)-2], "\n") + "\n")
	f.Add("- 1 2 3 4 5 - x\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		sum := blake3.Sum256([]byte(header + body))
		data := fmt.Sprintf("%s%send %x\n", header, body, sum)
		if err := os.WriteFile(c.Path(), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got := hashcache.Open(root, mp)
		for _, addr := range []string{"a b", "t", "x"} {
			got.Head(addr, hashcache.Key{})
			got.Get(addr, hashcache.Key{})
		}
	})
}

// TestCacheNotARegularFile: a FIFO or a symlink where the cache belongs is ignored, and
// looking at it does not block.
func TestCacheNotARegularFile(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-time.Hour).UnixNano()
	k := hashcache.Key{Size: big, MtimeNs: past, CtimeNs: past, Ino: 7, Dev: 1}
	for name, replace := range map[string]func(path, real string) error{
		"fifo":    func(path, _ string) error { return mkfifo(path) },
		"symlink": func(path, real string) error { return os.Symlink(real, path) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			c := saved(t, root, k)
			c.Get("docs/a b.txt", k) // the background read is done
			real := filepath.Join(root, "elsewhere")
			if err := os.Rename(c.Path(), real); err != nil {
				t.Fatal(err)
			}
			if err := replace(c.Path(), real); err != nil {
				t.Skip(err)
			}
			done := make(chan bool)
			go func() {
				_, ok := hashcache.Open(root, filepath.Join(root, "desksync.yaml")).Get("docs/a b.txt", k)
				done <- ok
			}()
			select {
			case ok := <-done:
				if ok {
					t.Fatalf("a %s in the cache's place was used", name)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("reading a %s in the cache's place blocked", name)
			}
		})
	}
}
