package plan

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"runtime"

	"github.com/desksync/desksync/manifest"
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
	return hashAll(ctx, m, workers, 0)
}

// hasher is one worker's reusable hash state and read buffer.
type hasher struct {
	h   *blake3.Hasher
	buf []byte
}

// hashAll is Hash with a size limit (0 = none), checked before a byte is hashed so an
// oversize file is refused at once rather than after minutes of reading.
func hashAll(ctx context.Context, m *manifest.Manifest, workers int, maxSize int64) (map[string]FileDigest, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = max(1, min(workers, len(m.Entries)))
	// One hasher per worker, handed from file to file, so that the read buffers are
	// allocated once rather than once per file.
	free := make(chan *hasher, workers)
	for range workers {
		free <- &hasher{h: blake3.New(), buf: make([]byte, hashBufferSize)}
	}
	digests := make([]FileDigest, len(m.Entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i, e := range m.Entries {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			hs := <-free
			defer func() { free <- hs }()
			d, err := hashEntry(gctx, m, e, hs, maxSize)
			digests[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // cancelled before any file was started
	}
	out := make(map[string]FileDigest, len(m.Entries))
	for i, e := range m.Entries {
		out[e.Address] = digests[i]
	}
	return out, nil
}

// hashEntry streams one file through hs.
func hashEntry(ctx context.Context, m *manifest.Manifest, e manifest.Entry, hs *hasher, maxSize int64) (FileDigest, error) {
	if err := ctx.Err(); err != nil {
		return FileDigest{}, err
	}
	// Open refuses anything but a regular file inside Root, even one swapped in since
	// the manifest was loaded.
	f, err := m.Open(e)
	if err != nil {
		return FileDigest{}, &FileError{Address: e.Address, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return FileDigest{}, &FileError{Address: e.Address, Err: err}
	}
	if maxSize > 0 && fi.Size() > maxSize {
		return FileDigest{}, &FileTooLargeError{Address: e.Address, Size: fi.Size(), Max: maxSize}
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
				return FileDigest{}, &FileTooLargeError{Address: e.Address, Size: n, Max: maxSize}
			}
		}
		// A file that fits the buffer is read in one call: a second read only to see EOF
		// is a system call per file, which is most of the cost of small files.
		if errors.Is(rerr, io.EOF) || (n == fi.Size() && n < int64(len(hs.buf))) {
			break
		}
		if rerr != nil {
			return FileDigest{}, &FileError{Address: e.Address, Err: rerr}
		}
		if err := ctx.Err(); err != nil {
			return FileDigest{}, err
		}
	}
	return FileDigest{Size: n, Blake3: hex.EncodeToString(hs.h.Sum(nil))}, nil
}
