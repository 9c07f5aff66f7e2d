// Package hashcache remembers what a plan read of each file (its BLAKE3 digest, and
// what manifest.Load learnt from its head), keyed by address and stat data, with git's
// racy-clean rule, so that planning an unchanged tree costs a stat per file instead of
// an open and a read. Its rules and trade-offs are written down in docs/manifest.md
// ("Hash cache").
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
// what Load learnt from its head, or both. It holds no pointers (the sniffed type is
// an index into Cache.types), so the garbage collector need not trace the records.
type record struct {
	key    Key
	digest [32]byte
	// marks are seen: asked for or learnt in this run, and so written by Save.
	marks atomic.Uint32
	facts uint8 // hasDigest, hasHead, savedPlan
	typ   uint8 // the sniffed media type, Cache.types[typ]; 0 for none
}

const seen uint32 = 1

const (
	hasDigest uint8 = 1 << iota
	hasHead
	savedPlan
)

func (r *record) has(f uint8) bool     { return r.facts&f != 0 }
func (r *record) marked(m uint32) bool { return r.marks.Load()&m != 0 }
func (r *record) mark(m uint32)        { r.marks.Or(m) }

// Cache is the digests and head facts of one manifest's files. It implements
// manifest.HeadCache. Its methods are safe for concurrent use.
type Cache struct {
	path     string
	manifest string // absolute manifest path, recorded so another manifest's cache is never used
	written  int64  // mtime of the cache file as read, in ns; 0 when there was none
	off      bool   // the platform's stamps do not identify files (manifest.StampIdentifiesFile)

	// ready is closed once Open's reading of the file is done; loaded, written and
	// types are set before.
	ready chan struct{}
	// done is set just before ready is closed: the lookups of a plan, one per file,
	// then test a flag instead of receiving from a channel.
	done atomic.Bool
	// loaded is what the file held. It is never changed after that, so lookups take no
	// lock; they mark its records through their atomics.
	loaded map[string]*record

	mu      sync.Mutex
	learnt  map[string]*record // by Put and PutHead in this run; wins over loaded
	changed bool               // a Put since Open, so Save has something new to write
	// types are the sniffed media types records name, types[0] being "" (none); new
	// ones are added under mu at indexes no lookup reads yet, and typeIndex finds them.
	types     [256]string
	typeIndex map[string]uint8
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
		path:      filepath.Join(root, Dir, "hashes-"+hex.EncodeToString(sum[:8])),
		manifest:  abs,
		loaded:    map[string]*record{},
		learnt:    map[string]*record{},
		typeIndex: map[string]uint8{"": 0},
	}
	if !manifest.StampIdentifiesFile {
		// Without a file's identity and change time a stamp cannot tell two files of
		// equal size and mtime apart, so the cache answers nothing and saves nothing.
		c.off = true
		c.ready = make(chan struct{})
		c.done.Store(true)
		close(c.ready)
		return c
	}
	// Read in the background: plan opens the cache before loading the manifest, whose
	// glob walk keeps one core busy meanwhile. Every method but Path waits for it.
	c.ready = make(chan struct{})
	go func() {
		defer close(c.ready)
		defer c.done.Store(true)
		if records, written, err := c.read(); err == nil {
			c.loaded, c.written = records, written
		}
	}()
	return c
}

// Ephemeral returns a cache that starts empty, learns nothing and is never written:
// for plans that must read every file. Load still reads each small file whole and
// hands its digest to the hash pass (manifest.Entry.Content), so each file is opened
// once.
func Ephemeral() *Cache {
	c := &Cache{loaded: map[string]*record{}, learnt: map[string]*record{}, typeIndex: map[string]uint8{"": 0}, ready: make(chan struct{})}
	c.done.Store(true)
	close(c.ready)
	return c
}

// Empty reports that the cache file held no record (manifest.HeadCache).
func (c *Cache) Empty() bool {
	c.wait()
	return len(c.loaded) == 0
}

// wait returns once the cache file has been read (or found unusable).
func (c *Cache) wait() {
	if !c.done.Load() {
		<-c.ready
	}
}

// Path is where the cache is kept.
func (c *Cache) Path() string { return c.path }

// racy reports whether k may describe a change made in the same clock tick as the
// cache's write, after the file was read: git's racy-clean rule.
func (c *Cache) racy(k Key) bool { return c.off || k.MtimeNs >= c.written || k.CtimeNs >= c.written }

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
	c.wait()
	r := c.current(addr)
	return r != nil && r.has(hasDigest)
}

// Get returns the digest recorded for addr, raw, when k matches the recorded stat data
// and the file is not racily clean.
func (c *Cache) Get(addr string, k Key) ([32]byte, bool) {
	c.wait()
	r := c.current(addr)
	if r == nil || !r.has(hasDigest) || r.key != k || c.racy(k) {
		return [32]byte{}, false
	}
	r.mark(seen)
	return r.digest, true
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
		r.digest, r.facts, r.typ = old.digest, old.facts, old.typ
	}
	c.learnt[addr] = r
	c.changed = true
	return r
}

// Put records the digest of addr's content, read after its stat data k was taken.
func (c *Cache) Put(addr string, k Key, digest [32]byte) {
	c.wait()
	if c.path == "" {
		return // Ephemeral: nothing asks again in this run
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.learn(addr, k)
	r.digest, r.facts = digest, r.facts|hasDigest
	r.mark(seen)
}

// Head returns what Load learnt from the head of addr when k matches the recorded
// stat data and the file is not racily clean (manifest.HeadCache), with the file's
// digest when the record has one: the stat Load made then stands for the hash pass
// too, as git status stats each file once. It looks only at what the file held: Load
// asks once per file, before it learns anything.
func (c *Cache) Head(addr string, k Key) (manifest.Head, bool) {
	c.wait()
	r := c.loaded[addr]
	if r == nil || !r.has(hasHead) || r.key != k || c.racy(k) {
		return manifest.Head{}, false
	}
	r.mark(seen)
	return manifest.Head{SavedPlan: r.has(savedPlan), Sniffed: c.types[r.typ], Whole: r.has(hasDigest), Digest: r.digest}, true
}

// PutHead records what the head of addr said, read after its stat data k was taken
// (manifest.HeadCache). A digest recorded under the same k, not racily clean, stays.
func (c *Cache) PutHead(addr string, k Key, h manifest.Head) {
	c.wait()
	if c.path == "" {
		return // Ephemeral: the digest of a file read whole reaches the hash pass with its entry
	}
	if !validType(h.Sniffed) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	typ, ok := c.typeOf(h.Sniffed)
	if !ok {
		return // more types than a record can name: this file is read again next time
	}
	r := c.learn(addr, k)
	r.facts, r.typ = r.facts&hasDigest|hasHead, typ
	if h.SavedPlan {
		r.facts |= savedPlan
	}
	if h.Whole && k.Size >= 0 {
		r.digest, r.facts = h.Digest, r.facts|hasDigest
	}
	r.mark(seen)
}

// typeOf returns the index of media type t in c.types, adding it when there is room.
// Callers hold mu, or are Open's read.
func (c *Cache) typeOf(t string) (uint8, bool) {
	if i, ok := c.typeIndex[t]; ok {
		return i, true
	}
	n := len(c.typeIndex)
	if n == len(c.types) {
		return 0, false
	}
	c.types[n] = t
	c.typeIndex[t] = uint8(n)
	return uint8(n), true
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
	c.wait()
	if c.path == "" {
		return nil // Ephemeral
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return nil
	}
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
		if r.marked(seen) {
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
		if r.has(hasDigest) {
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
		case !r.has(hasHead):
			line = append(line, " -"...)
		case r.has(savedPlan):
			line = append(line, " p"...)
		case r.typ == 0:
			line = append(line, " a"...)
		default:
			line = append(append(line, " a:"...), c.types[r.typ]...)
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
		if !r.marked(seen) {
			return false
		}
	}
	return true
}

// read parses the cache file, checking its checksum first; any flaw makes the whole
// file unusable.
func (c *Cache) read() (map[string]*record, int64, error) {
	// Look before opening: opening a FIFO put in its place would block.
	if fi, err := os.Lstat(c.path); err != nil || !fi.Mode().IsRegular() {
		return nil, 0, errors.New("not a cache file")
	}
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
	// Streamed, the checksum checked at the end: a whole-file buffer would add its size
	// to plan's peak memory.
	r := bufio.NewReaderSize(io.LimitReader(f, maxSize), 64<<10)
	header := fmt.Sprintf("%s\nmanifest %s\n", magic, strconv.Quote(c.manifest))
	got := make([]byte, len(header))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != header {
		return nil, 0, errors.New("foreign or damaged header")
	}
	sum := blake3.New()
	sum.Write(got)
	records := make(map[string]*record, fi.Size()/128)
	var block []record // records are allocated a block at a time
	addrs := addressArena{into: records}
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
			addrs.flush()
			return records, fi.ModTime().UnixNano(), nil
		}
		sum.Write(line)
		if len(block) == 0 {
			block = make([]record, 1024)
		}
		rec := &block[0]
		block = block[1:]
		addr, err := c.parseLine(line[:len(line)-1], rec)
		if err != nil {
			return nil, 0, err
		}
		addrs.add(addr, rec)
	}
}

// addressArena turns the addresses of a cache file into map keys a chunk at a time:
// one string per 64 KiB of addresses instead of one per file.
type addressArena struct {
	into    map[string]*record
	buf     []byte
	pending []*record
	ends    []int
}

func (a *addressArena) add(addr []byte, r *record) {
	a.buf = append(a.buf, addr...)
	a.pending, a.ends = append(a.pending, r), append(a.ends, len(a.buf))
	if len(a.buf) >= 64<<10 {
		a.flush()
	}
}

func (a *addressArena) flush() {
	all, start := string(a.buf), 0
	for i, r := range a.pending {
		a.into[all[start:a.ends[i]]] = r
		start = a.ends[i]
	}
	a.buf, a.pending, a.ends = a.buf[:0], a.pending[:0], a.ends[:0]
}

// parseLine reads "DIGEST SIZE MTIME CTIME INO DEV HEAD ADDRESS", DIGEST and HEAD being
// "-" when unknown; HEAD is "p" for a saved plan, else "a" or "a:" and the sniffed
// media type. The address, last, may hold spaces (never a newline: manifest addresses
// have no control characters).
func (c *Cache) parseLine(line []byte, r *record) ([]byte, error) {
	bad := errMalformed{}
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
		if len(f[0]) != hex.EncodedLen(len(r.digest)) {
			return nil, errors.New("malformed digest")
		}
		if _, err := hex.Decode(r.digest[:], f[0]); err != nil {
			return nil, errors.New("malformed digest")
		}
		r.facts |= hasDigest
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
		r.facts |= hasHead | savedPlan
	case string(head) == "a":
		r.facts |= hasHead
	case bytes.HasPrefix(head, []byte("a:")) && len(head) > 2 && validType(string(head[2:])):
		typ, ok := c.typeIndex[string(head[2:])] // most lines name a type seen before
		if !ok {
			if typ, ok = c.typeOf(string(head[2:])); !ok {
				return nil, errors.New("too many media types")
			}
		}
		r.facts, r.typ = r.facts|hasHead, typ
	default:
		return nil, bad
	}
	return line, nil
}

// errMalformed is a cache line that does not parse; a value, so that the happy path
// allocates nothing.
type errMalformed struct{}

func (errMalformed) Error() string { return "malformed line" }

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
	for _, ch := range b[:min(len(b), 19)] { // 19 digits cannot overflow
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
	}
	if len(b) == 20 {
		ch := b[19]
		if ch < '0' || ch > '9' || n > (math.MaxUint64-uint64(ch-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
	}
	return n, true
}
