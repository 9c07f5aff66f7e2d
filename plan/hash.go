package plan

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/desksync/desksync/manifest"
	"github.com/zeebo/blake3"
)

// hashBufferSize is the read size per worker. BLAKE3 (zeebo/blake3) hashes large
// writes with SIMD across many chunks at once, so reads well above its 1 KiB chunk
// size keep it busy; 256 KiB stays inside L2 on the machines we measured.
const hashBufferSize = 256 << 10

// Hash returns the size and BLAKE3 hex digest of every file the manifest lists, by
// address. Files are streamed (memory does not grow with their size) by a pool of
// workers, runtime.NumCPU() when workers <= 0, each reusing one read buffer. The first
// error, naming the address, stops the others.
func Hash(ctx context.Context, m *manifest.Manifest, workers int) (map[string]FileDigest, error) {
	return hashAll(ctx, m, workers, 0)
}

// hashAll is Hash with a size limit (0 = none), checked before a byte is hashed so an
// oversize file is refused at once rather than after minutes of reading.
func hashAll(ctx context.Context, m *manifest.Manifest, workers int, maxSize int64) (map[string]FileDigest, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if workers > len(m.Entries) {
		workers = len(m.Entries)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan int)
	digests := make([]FileDigest, len(m.Entries))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, hashBufferSize)
			h := blake3.New()
			for i := range jobs {
				d, err := hashEntry(ctx, m, m.Entries[i], h, buf, maxSize)
				if err != nil {
					cancel(err)
					continue // drain, so the feeder never blocks
				}
				digests[i] = d
			}
		}()
	}
feed:
	for i := range m.Entries {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]FileDigest, len(m.Entries))
	for i, e := range m.Entries {
		out[e.Address] = digests[i]
	}
	return out, nil
}

// hashEntry streams one file through h, reusing buf.
func hashEntry(ctx context.Context, m *manifest.Manifest, e manifest.Entry, h *blake3.Hasher, buf []byte, maxSize int64) (FileDigest, error) {
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
	h.Reset()
	var n int64
	for {
		k, rerr := f.Read(buf)
		if k > 0 {
			h.Write(buf[:k])
			n += int64(k)
			// The file may grow while we read it; the limit is about what we would upload.
			if maxSize > 0 && n > maxSize {
				return FileDigest{}, &FileTooLargeError{Address: e.Address, Size: n, Max: maxSize}
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return FileDigest{}, &FileError{Address: e.Address, Err: rerr}
		}
		if err := ctx.Err(); err != nil {
			return FileDigest{}, err
		}
	}
	return FileDigest{Size: n, Blake3: hex.EncodeToString(h.Sum(nil))}, nil
}
