// Package hashcache remembers the BLAKE3 digest of the files a plan hashed, keyed by
// address and stat data, with git's racy-clean rule, so that planning an unchanged
// tree costs a stat per file instead of a read. Its rules and trade-offs are written
// down in docs/manifest.md ("Hash cache").
package hashcache

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/zeebo/blake3"
)

// Dir is the folder, beside the manifest, that holds the caches; desksync never
// commits or uploads anything in it.
const Dir = ".desksync"

const magic = "desksync hash cache 1"

// maxSize bounds what is read of a cache file; a larger one is not used.
const maxSize = 256 << 20

// MinSize is the smallest file worth a cache entry: Load opens every file anyway, and
// reading a smaller one costs about what looking it up does.
const MinSize = 16 << 10

// Key is the stat data a digest is valid for.
type Key struct {
	Size, MtimeNs, CtimeNs int64
	Ino, Dev               uint64
}

type record struct {
	key    Key
	digest [32]byte
	seen   bool // asked for or learnt in this run, and so written by Save
}

// Cache is the digests of one manifest's files. Its methods are safe for concurrent use.
type Cache struct {
	path     string
	manifest string // absolute manifest path, recorded so another manifest's cache is never used
	written  int64  // mtime of the cache file as read, in ns; 0 when there was none

	mu      sync.Mutex
	records map[string]*record
	changed bool // a Put since Open, so Save has something new to write
}

// Open returns the cache of the manifest at manifestPath in root (absolute, symlink-free).
// It never fails: a cache that is missing, unreadable, corrupt or another manifest's is
// an empty one, rebuilt by Save.
func Open(root, manifestPath string) *Cache {
	abs, err := filepath.Abs(manifestPath)
	if err != nil {
		abs = manifestPath
	}
	sum := blake3.Sum256([]byte(abs))
	c := &Cache{
		path:     filepath.Join(root, Dir, "hashes-"+hex.EncodeToString(sum[:8])),
		manifest: abs,
		records:  map[string]*record{},
	}
	if records, written, err := c.read(); err == nil {
		c.records, c.written = records, written
	}
	return c
}

// Path is where the cache is kept.
func (c *Cache) Path() string { return c.path }

// Has reports whether the cache holds an entry for addr, so that files it cannot
// answer for are not stat'ed for nothing.
func (c *Cache) Has(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.records[addr]
	return ok
}

// Get returns the digest recorded for addr when k matches the recorded stat data and
// the file is not racily clean.
func (c *Cache) Get(addr string, k Key) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.records[addr]
	if !ok || r.key != k || k.MtimeNs >= c.written || k.CtimeNs >= c.written {
		return "", false
	}
	r.seen = true
	return hex.EncodeToString(r.digest[:]), true
}

// Put records the digest of addr's content, read after its stat data k was taken.
func (c *Cache) Put(addr string, k Key, digest string) {
	if k.Size < MinSize {
		return
	}
	r := &record{key: k, seen: true}
	if n, err := hex.Decode(r.digest[:], []byte(digest)); err != nil || n != len(r.digest) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records[addr] = r
	c.changed = true
}

// Save writes what Get and Put saw in this run, and only that (addresses gone from the
// manifest drop out), atomically: a temporary file renamed over the cache. The last
// line is a checksum of the others, so a torn or edited file is never trusted. When
// nothing changed it writes nothing, which also keeps the cache older than the files.
func (c *Cache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.changed && c.written != 0 && c.allSeen() {
		return nil // the file on disk says exactly this already
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The folder is local to this checkout: keep git from offering it for a commit.
	if _, err := os.Lstat(filepath.Join(dir, ".gitignore")); errors.Is(err, fs.ErrNotExist) {
		_ = os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*\n"), 0o644)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	sum := blake3.New()
	w := bufio.NewWriterSize(io.MultiWriter(tmp, sum), 64<<10)
	fmt.Fprintf(w, "%s\nmanifest %s\n", magic, strconv.Quote(c.manifest))
	var line []byte
	for addr, r := range c.records {
		if !r.seen {
			continue
		}
		line = hex.AppendEncode(line[:0], r.digest[:])
		for _, n := range []int64{r.key.Size, r.key.MtimeNs, r.key.CtimeNs} {
			line = strconv.AppendInt(append(line, ' '), n, 10)
		}
		for _, n := range []uint64{r.key.Ino, r.key.Dev} {
			line = strconv.AppendUint(append(line, ' '), n, 10)
		}
		line = append(append(append(line, ' '), addr...), '\n')
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	fmt.Fprintf(tmp, "end %x\n", sum.Sum(nil))
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

func (c *Cache) allSeen() bool {
	for _, r := range c.records {
		if !r.seen {
			return false
		}
	}
	return true
}

// read parses the cache file, checking its checksum as it goes; any flaw makes the
// whole file unusable.
func (c *Cache) read() (map[string]*record, int64, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxSize {
		return nil, 0, errors.New("not a cache file")
	}
	sum := blake3.New()
	r := bufio.NewReaderSize(io.LimitReader(f, maxSize), 64<<10)
	header := fmt.Sprintf("%s\nmanifest %s\n", magic, strconv.Quote(c.manifest))
	got := make([]byte, len(header))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != header {
		return nil, 0, errors.New("foreign or damaged header")
	}
	sum.Write(got)
	records := make(map[string]*record)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, 0, errors.New("no checksum line")
		}
		if end, ok := bytes.CutPrefix(line, []byte("end ")); ok {
			if string(end) != hex.EncodeToString(sum.Sum(nil))+"\n" {
				return nil, 0, errors.New("checksum mismatch")
			}
			if _, err := r.ReadByte(); err != io.EOF {
				return nil, 0, errors.New("data after the checksum")
			}
			return records, fi.ModTime().UnixNano(), nil
		}
		sum.Write(line)
		addr, rec, err := parseLine(line[:len(line)-1])
		if err != nil {
			return nil, 0, err
		}
		records[addr] = rec
	}
}

// parseLine reads "DIGEST SIZE MTIME CTIME INO DEV ADDRESS"; the address, last, may
// hold spaces (never a newline: manifest addresses have no control characters).
func parseLine(line []byte) (string, *record, error) {
	r := &record{}
	f := bytes.SplitN(line, []byte(" "), 7)
	if len(f) != 7 || len(f[6]) == 0 {
		return "", nil, errors.New("malformed line")
	}
	if n, err := hex.Decode(r.digest[:], f[0]); err != nil || n != len(r.digest) || len(f[0]) != 64 {
		return "", nil, errors.New("malformed digest")
	}
	var err error
	for i, p := range []*int64{&r.key.Size, &r.key.MtimeNs, &r.key.CtimeNs} {
		if *p, err = strconv.ParseInt(string(f[i+1]), 10, 64); err != nil {
			return "", nil, err
		}
	}
	for i, p := range []*uint64{&r.key.Ino, &r.key.Dev} {
		if *p, err = strconv.ParseUint(string(f[i+4]), 10, 64); err != nil {
			return "", nil, err
		}
	}
	return string(f[6]), r, nil
}
