package plan

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/desksync/desksync/manifest"
	"github.com/desksync/desksync/plan/hashcache"
	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
)

// hashBufferSize is the read size per worker: BLAKE3 hashes a large write with SIMD
// across many 1 KiB chunks at once, so big reads keep it busy while staying in L2.
const hashBufferSize = 256 << 10

// Hash returns the size and BLAKE3 hex digest of every file the manifest lists, by
// address. Files are streamed (memory does not grow with their size), runtime.NumCPU()
// at once when workers <= 0. The first error, naming the address, stops the others.
func Hash(ctx context.Context, m *manifest.Manifest, workers int) (map[string]FileDigest, error) {
	digests, err := hashAll(ctx, m, workers, 0, nil)
	if err != nil {
		return nil, err
	}
	return byAddress(m, digests), nil
}

// byAddress maps each entry's address to its digest, digests being in m.Entries' order.
func byAddress(m *manifest.Manifest, digests []FileDigest) map[string]FileDigest {
	out := make(map[string]FileDigest, len(m.Entries))
	for i, e := range m.Entries {
		out[e.Address] = digests[i]
	}
	return out
}

// hasher is one worker's reusable hash state and read buffer, and the string its
// digests' hex is written into.
type hasher struct {
	h   *blake3.Hasher
	buf []byte
	sum [32]byte // of the file hashed last
	hex strings.Builder
}

// hexOf returns d in hex, a piece of hs.hex: a Builder never changes the bytes it has
// written, so its String stays valid while it grows, and a plan of many files makes one
// allocation per block of digests instead of one per file.
func (hs *hasher) hexOf(d *[32]byte) string {
	const size = 2 * len(d)
	if hs.hex.Cap()-hs.hex.Len() < size {
		hs.hex = strings.Builder{}
		hs.hex.Grow(256 * size)
	}
	var buf [size]byte
	hex.Encode(buf[:], d[:])
	hs.hex.Write(buf[:])
	s := hs.hex.String()
	return s[len(s)-size:]
}

// hashAll is Hash with a size limit (0 = none), checked before a byte is hashed so an
// oversize file is refused at once rather than after minutes of reading, and with a
// hash cache (nil = none) that spares reading files whose stat data it knows. The
// digests are in m.Entries' order.
func hashAll(ctx context.Context, m *manifest.Manifest, workers int, maxSize int64, cache *hashcache.Cache) ([]FileDigest, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = max(1, min(workers, len(m.Entries)))
	digests := make([]FileDigest, len(m.Entries))
	// Each worker takes the next file from a shared counter, in address (and so
	// directory) order; one goroutine per file would cost a start and a stack growth each.
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range workers {
		g.Go(func() error {
			hs := &hasher{h: blake3.New(), buf: make([]byte, hashBufferSize)}
			for i := int(next.Add(1) - 1); i < len(m.Entries); i = int(next.Add(1) - 1) {
				if err := gctx.Err(); err != nil {
					return err
				}
				d, err := hashCached(gctx, m, m.Entries[i], hs, maxSize, cache)
				if err != nil {
					return err
				}
				digests[i] = d
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // cancelled before any file was started
	}
	return digests, nil
}

// hashCached takes the digest manifest.Load learnt through the cache in this run
// (e.Content: the file read whole, or found at the stat data the cache records), or
// the cache's when it has an entry for the file and the file's stat data (one lstat of
// its symlink-free path) matches; otherwise it hashes the file and tells the cache.
// Without a cache it reads every file, e.Content or not: saved-plan verification.
func hashCached(ctx context.Context, m *manifest.Manifest, e manifest.Entry, hs *hasher, maxSize int64, cache *hashcache.Cache) (FileDigest, error) {
	if cache == nil {
		d, _, err := hashEntry(ctx, m, e, hs, maxSize)
		return d, err
	}
	if c := &e.Content; c.Known {
		return hs.known(e, c.Size, &c.Digest, maxSize)
	}
	if !cache.Has(e.Address) {
		// Not known (or too small to be worth it): read it.
	} else if fi, err := os.Lstat(filepath.Join(m.Root, filepath.FromSlash(e.Resolved))); err == nil && fi.Mode().IsRegular() {
		k := hashcache.KeyOf(fi)
		if digest, ok := cache.Get(e.Address, k); ok {
			return hs.known(e, k.Size, &digest, maxSize)
		}
	}
	d, fi, err := hashEntry(ctx, m, e, hs, maxSize)
	if err == nil {
		cache.Put(e.Address, hashcache.KeyOf(fi), hs.sum)
	}
	return d, err
}

// known is the digest of e's file taken without reading it, held to the size limit
// as a read would be.
func (hs *hasher) known(e manifest.Entry, size int64, digest *[32]byte, maxSize int64) (FileDigest, error) {
	if maxSize > 0 && size > maxSize {
		return FileDigest{}, &FileTooLargeError{Address: e.Address, Size: size, Max: maxSize}
	}
	return FileDigest{Size: size, Blake3: hs.hexOf(digest)}, nil
}

// hashEntry streams one file through hs, leaving its digest in hs.sum. It returns the
// file's stat data as taken before the first byte was read, so that a change while
// reading shows at the next look.
func hashEntry(ctx context.Context, m *manifest.Manifest, e manifest.Entry, hs *hasher, maxSize int64) (FileDigest, os.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return FileDigest{}, nil, err
	}
	// Open refuses anything but a regular file inside Root, even one swapped in since
	// the manifest was loaded.
	f, fi, err := m.OpenStat(e)
	if err != nil {
		return FileDigest{}, nil, &FileError{Address: e.Address, Err: err}
	}
	defer f.Close()
	if maxSize > 0 && fi.Size() > maxSize {
		return FileDigest{}, nil, &FileTooLargeError{Address: e.Address, Size: fi.Size(), Max: maxSize}
	}
	hs.h.Reset()
	var n int64
	for {
		k, rerr := f.Read(hs.buf)
		if k > 0 {
			hs.h.Write(hs.buf[:k])
			n += int64(k)
			// The file may grow while we read it; the limit is about what we would upload.
			if maxSize > 0 && n > maxSize {
				return FileDigest{}, nil, &FileTooLargeError{Address: e.Address, Size: n, Max: maxSize}
			}
		}
		// A file that fits the buffer is read in one call, not a second to see EOF.
		if errors.Is(rerr, io.EOF) || (n == fi.Size() && n < int64(len(hs.buf))) {
			break
		}
		if rerr != nil {
			return FileDigest{}, nil, &FileError{Address: e.Address, Err: rerr}
		}
		if err := ctx.Err(); err != nil {
			return FileDigest{}, nil, err
		}
	}
	hs.h.Sum(hs.sum[:0])
	return FileDigest{Size: n, Blake3: hs.hexOf(&hs.sum)}, fi, nil
}
