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
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/desksync/desksync/manifest"

	"github.com/zeebo/blake3"
)

// Dir is the folder, beside the manifest, that holds the caches; desksync never
// commits or uploads anything in it.
const Dir = ".desksync"

const magic = "desksync hash cache 2"

// maxSize bounds what is read of a cache file; a larger one is not used.
const maxSize = 256 << 20

// Key is the stat data a record is valid for.
type Key = manifest.Stamp

// KeyOf is the stat data of fi that the cache compares.
func KeyOf(fi fs.FileInfo) Key { return manifest.StampOf(fi) }

// record is what the cache knows of one address under one key: the file's digest,
// what Load learnt from its head, or both.
type record struct {
	key       Key
	digest    [32]byte
	hasDigest bool
	head      manifest.Head
	hasHead   bool
	// seen: asked for or learnt in this run, and so written by Save.
	seen atomic.Bool
	// verified: Load found the file at key in this run, so the digest stands without
	// another stat.
	verified atomic.Bool
}

// Cache is the digests and head facts of one manifest's files. It implements
// manifest.HeadCache. Its methods are safe for concurrent use.
type Cache struct {
	path     string
	manifest string // absolute manifest path, recorded so another manifest's cache is never used
	written  int64  // mtime of the cache file as read, in ns; 0 when there was none

	// loaded is what the file held. It is never changed after Open, so lookups take no
	// lock; they mark its records through their atomics.
	loaded map[string]*record

	mu      sync.Mutex
	learnt  map[string]*record // by Put and PutHead in this run; wins over loaded
	changed bool               // a Put since Open, so Save has something new to write
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
		loaded:   map[string]*record{},
		learnt:   map[string]*record{},
	}
	if records, written, err := c.read(); err == nil {
		c.loaded, c.written = records, written
	}
	return c
}

// Path is where the cache is kept.
func (c *Cache) Path() string { return c.path }

// racy reports whether k may describe a change made in the same clock tick as the
// cache's write, after the file was read: git's racy-clean rule.
func (c *Cache) racy(k Key) bool { return k.MtimeNs >= c.written || k.CtimeNs >= c.written }

// current is the record of addr: learnt in this run, else loaded.
func (c *Cache) current(addr string) *record {
	c.mu.Lock()
	r, ok := c.learnt[addr]
	c.mu.Unlock()
	if ok {
		return r
	}
	return c.loaded[addr]
}

// Has reports whether the cache holds a digest for addr, so that files it cannot
// answer for are not stat'ed for nothing.
func (c *Cache) Has(addr string) bool {
	r := c.current(addr)
	return r != nil && r.hasDigest
}

// Get returns the digest recorded for addr when k matches the recorded stat data and
// the file is not racily clean.
func (c *Cache) Get(addr string, k Key) (string, bool) {
	r := c.current(addr)
	if r == nil || !r.hasDigest || r.key != k || c.racy(k) {
		return "", false
	}
	r.seen.Store(true)
	return hex.EncodeToString(r.digest[:]), true
}

// Verified returns the digest and size of addr when manifest.Load, through Head or
// PutHead, found the file at the recorded stat data in this run: the one stat Load
// made stands for the hash pass too, as git status stats each file once.
func (c *Cache) Verified(addr string) (digest string, size int64, ok bool) {
	r := c.loaded[addr]
	if r == nil || !r.verified.Load() {
		// Not found by Head; PutHead may have kept the digest under the same key.
		c.mu.Lock()
		r = c.learnt[addr]
		c.mu.Unlock()
	}
	if r == nil || !r.verified.Load() || !r.hasDigest {
		return "", 0, false
	}
	return hex.EncodeToString(r.digest[:]), r.key.Size, true
}

// learn returns the record of addr to change in this run: the one already learnt
// when its key is k, else a new one, keeping what loaded holds under k unless that is
// racily clean.
func (c *Cache) learn(addr string, k Key) *record {
	if r, ok := c.learnt[addr]; ok && r.key == k {
		return r
	}
	r := &record{key: k}
	if old, ok := c.loaded[addr]; ok && old.key == k && !c.racy(k) {
		r.digest, r.hasDigest, r.head, r.hasHead = old.digest, old.hasDigest, old.head, old.hasHead
	}
	c.learnt[addr] = r
	c.changed = true
	return r
}

// Put records the digest of addr's content, read after its stat data k was taken.
func (c *Cache) Put(addr string, k Key, digest string) {
	var d [32]byte
	if n, err := hex.Decode(d[:], []byte(digest)); err != nil || n != len(d) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.learn(addr, k)
	r.digest, r.hasDigest = d, true
	r.seen.Store(true)
}

// Head returns what Load learnt from the head of addr when k matches the recorded
// stat data and the file is not racily clean (manifest.HeadCache). It looks only at
// what the file held: Load asks once per file, before it learns anything.
func (c *Cache) Head(addr string, k Key) (manifest.Head, bool) {
	r := c.loaded[addr]
	if r == nil || !r.hasHead || r.key != k || c.racy(k) {
		return manifest.Head{}, false
	}
	r.seen.Store(true)
	r.verified.Store(true)
	return r.head, true
}

// PutHead records what the head of addr said, read after its stat data k was taken
// (manifest.HeadCache). A digest recorded under the same k, not racily clean, stays.
func (c *Cache) PutHead(addr string, k Key, h manifest.Head) {
	if !validType(h.Sniffed) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.learn(addr, k)
	r.head, r.hasHead = h, true
	r.seen.Store(true)
	r.verified.Store(true)
}

// validType reports whether t can be written in a cache line: a media type such as
// sniffing gives, or "" for none.
func validType(t string) bool {
	if len(t) > 127 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
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
	records := make(map[string]*record, len(c.loaded)+len(c.learnt))
	for addr, r := range c.loaded {
		if r.seen.Load() {
			records[addr] = r
		}
	}
	for addr, r := range c.learnt {
		records[addr] = r
	}
	// In address order, the order Load asks in: the records read back lie in memory
	// in the order they are looked up.
	for _, addr := range slices.Sorted(maps.Keys(records)) {
		r := records[addr]
		line = line[:0]
		if r.hasDigest {
			line = hex.AppendEncode(line, r.digest[:])
		} else {
			line = append(line, '-')
		}
		for _, n := range []int64{r.key.Size, r.key.MtimeNs, r.key.CtimeNs} {
			line = strconv.AppendInt(append(line, ' '), n, 10)
		}
		for _, n := range []uint64{r.key.Ino, r.key.Dev} {
			line = strconv.AppendUint(append(line, ' '), n, 10)
		}
		switch {
		case !r.hasHead:
			line = append(line, " -"...)
		case r.head.SavedPlan:
			line = append(line, " p"...)
		case r.head.Sniffed == "":
			line = append(line, " a"...)
		default:
			line = append(append(line, " a:"...), r.head.Sniffed...)
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
	for _, r := range c.loaded {
		if !r.seen.Load() {
			return false
		}
	}
	return true
}

// read parses the cache file, checking its checksum first; any flaw makes the whole
// file unusable.
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
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, 0, err
	}
	header := fmt.Sprintf("%s\nmanifest %s\n", magic, strconv.Quote(c.manifest))
	if !bytes.HasPrefix(data, []byte(header)) {
		return nil, 0, errors.New("foreign or damaged header")
	}
	// The last line is "end " and the BLAKE3 of everything before it.
	cut := bytes.LastIndex(data, []byte("\nend "))
	if cut < len(header)-1 || !bytes.HasSuffix(data, []byte("\n")) {
		return nil, 0, errors.New("no checksum line")
	}
	sum := blake3.Sum256(data[:cut+1])
	if string(data[cut+len("\nend "):]) != hex.EncodeToString(sum[:])+"\n" {
		return nil, 0, errors.New("checksum mismatch")
	}
	body := data[len(header) : cut+1]
	// One allocation for all records and one for all addresses, rather than two per
	// file: less for the garbage collector to trace.
	n := bytes.Count(body, []byte("\n"))
	recs := make([]record, n)
	ends := make([]int, n)
	var addrs []byte
	types := map[string]string{} // one string per media type, not one per record
	for i := range recs {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		body = rest
		addr, err := parseLine(line, &recs[i], types)
		if err != nil {
			return nil, 0, err
		}
		addrs = append(addrs, addr...)
		ends[i] = len(addrs)
	}
	all := string(addrs)
	records := make(map[string]*record, n)
	start := 0
	for i, end := range ends {
		records[all[start:end]] = &recs[i]
		start = end
	}
	return records, fi.ModTime().UnixNano(), nil
}

// parseLine reads "DIGEST SIZE MTIME CTIME INO DEV HEAD ADDRESS", DIGEST and HEAD being
// "-" when unknown; HEAD is "p" for a saved plan, else "a" or "a:" and the sniffed
// media type. The address, last, may hold spaces (never a newline: manifest addresses
// have no control characters).
func parseLine(line []byte, r *record, types map[string]string) ([]byte, error) {
	bad := errors.New("malformed line")
	var f [7][]byte
	for i := range f {
		var ok bool
		if f[i], line, ok = bytes.Cut(line, []byte(" ")); !ok {
			return nil, bad
		}
	}
	if len(line) == 0 {
		return nil, bad
	}
	if string(f[0]) != "-" {
		if n, err := hex.Decode(r.digest[:], f[0]); err != nil || n != len(r.digest) || len(f[0]) != 64 {
			return nil, errors.New("malformed digest")
		}
		r.hasDigest = true
	}
	for i, p := range []*int64{&r.key.Size, &r.key.MtimeNs, &r.key.CtimeNs} {
		n, ok := parseInt(f[i+1])
		if !ok {
			return nil, bad
		}
		*p = n
	}
	for i, p := range []*uint64{&r.key.Ino, &r.key.Dev} {
		n, ok := parseUint(f[i+4])
		if !ok {
			return nil, bad
		}
		*p = n
	}
	switch head := f[6]; {
	case string(head) == "-":
	case string(head) == "p":
		r.hasHead, r.head.SavedPlan = true, true
	case string(head) == "a":
		r.hasHead = true
	case bytes.HasPrefix(head, []byte("a:")) && len(head) > 2 && validType(string(head[2:])):
		t, ok := types[string(head[2:])]
		if !ok {
			t = string(head[2:])
			types[t] = t
		}
		r.hasHead, r.head.Sniffed = true, t
	default:
		return nil, bad
	}
	return line, nil
}

// parseInt reads a decimal number as strconv.AppendInt writes it (times before 1970
// are negative).
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, ok := parseUint(b)
	switch {
	case !ok:
		return 0, false
	case neg && n <= -math.MinInt64 && n != 0:
		return -int64(n-1) - 1, true
	case !neg && n <= math.MaxInt64:
		return int64(n), true
	}
	return 0, false
}

// parseUint reads a decimal number without sign or leading zeros (but "0").
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
