package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
)

// TestSmallFilesOpenedOnce: the read that takes a small file's head for Load also
// gives its digest, so the hash pass does not open it again, with a first run's empty
// cache and with the one-run cache of --no-cache alike. The proof is that the file
// is gone by the time the hash pass runs; a file larger than one read is still read
// by the hash pass, and so its removal is an error.
func TestSmallFilesOpenedOnce(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", manifest.WholeFileSize+1)
	for _, tt := range []struct {
		name  string
		cache func(root, mp string) *hashcache.Cache
	}{
		{"first run", hashcache.Open},
		{"no-cache", func(string, string) *hashcache.Cache { return hashcache.Ephemeral() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := warmTree(t, map[string]string{"small.txt": "hello", "empty.txt": "", "big.bin": big})
			root, err := manifest.RootOf(mp)
			if err != nil {
				t.Fatal(err)
			}
			c := tt.cache(root, mp)
			m, err := manifest.Load(mp, manifest.Options{Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"small.txt", "empty.txt"} {
				if err := os.Remove(filepath.Join(root, "files", name)); err != nil {
					t.Fatal(err)
				}
			}
			p, err := Compute(context.Background(), m, nil, Options{HashCache: c})
			if err != nil {
				t.Fatalf("the hash pass opened a small file again: %v", err)
			}
			for name, content := range map[string]string{"small.txt": "hello", "empty.txt": "", "big.bin": big} {
				if got := p.Files["files/"+name]; got.Blake3 != b3(content) || got.Size != int64(len(content)) {
					t.Errorf("%s: %d %s, want %d %s", name, got.Size, got.Blake3, len(content), b3(content))
				}
			}

			m, err = manifest.Load(mp, manifest.Options{Cache: tt.cache(root, mp)})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(root, "files", "big.bin")); err != nil {
				t.Fatal(err)
			}
			var fe *FileError
			if _, err := Compute(context.Background(), m, nil, Options{HashCache: tt.cache(root, mp)}); !errors.As(err, &fe) || fe.Address != "files/big.bin" {
				t.Errorf("a large file gone before the hash pass: %v, want its FileError", err)
			}
		})
	}
}

// TestHashIgnoresWhatLoadLearnt: the digest Load learnt of a file (Entry.Content) stands
// for a plan's hash pass, never for Hash, which a saved plan's verification uses: Hash
// reads the bytes as they are now.
func TestHashIgnoresWhatLoadLearnt(t *testing.T) {
	t.Parallel()
	mp := warmTree(t, map[string]string{"small.txt": "hello"})
	root, err := manifest.RootOf(mp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(mp, manifest.Options{Cache: hashcache.Ephemeral()})
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Entries[0].Content; !c.Known || c.Size != 5 {
		t.Fatalf("Load learnt %+v of a small file it read whole", c)
	}
	if err := os.WriteFile(filepath.Join(root, "files", "small.txt"), []byte("HELLO"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Hash(context.Background(), m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := got["files/small.txt"]; d.Blake3 != b3("HELLO") {
		t.Errorf("Hash gave %s, the digest Load learnt before the file changed; want the file's own, %s", d.Blake3, b3("HELLO"))
	}
}
