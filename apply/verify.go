package apply

import (
	"encoding/hex"
	"io"
	"sync"

	"github.com/zeebo/blake3"
)

// verifier hashes the bytes the desk client reads for an upload, so that apply can tell
// when the file changed between plan and upload (or during it) and refuse to record a
// blake3 that does not describe what Desk now holds, at the cost of one pass over bytes
// read anyway.
//
// It hashes only while reads are sequential from offset 0; a read at offset 0 starts
// over (a retried upload). Any other pattern leaves the sum unknown, and the upload is
// then trusted.
type verifier struct {
	r io.ReaderAt

	mu     sync.Mutex
	h      *blake3.Hasher
	next   int64
	broken bool
}

func (v *verifier) ReadAt(p []byte, off int64) (int, error) {
	n, err := v.r.ReadAt(p, off)
	v.mu.Lock()
	defer v.mu.Unlock()
	if off == 0 {
		v.h = blake3.New()
		v.next, v.broken = 0, false
	}
	switch {
	case v.broken || v.h == nil:
		v.broken = true
	case off == v.next:
		_, _ = v.h.Write(p[:n]) // a hash.Hash never fails to write
		v.next += int64(n)
	default:
		v.broken = true
	}
	return n, err
}

// sum returns the hex BLAKE3 of the last complete sequential read of size bytes, and
// false when the reads did not allow one.
func (v *verifier) sum(size int64) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.broken || v.h == nil || v.next != size {
		return "", false
	}
	return hex.EncodeToString(v.h.Sum(nil)), true
}
