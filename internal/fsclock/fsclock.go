// Package fsclock waits for the file system's clock, for the tests of the hash cache's
// racily-clean rule: the kernel stamps files from a coarse clock, so a cache written
// just after a file may carry the very same time, and is then rightly not trusted.
package fsclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Tick returns once a file written now is stamped later than every file written
// before the call. It rewrites a probe file until its mtime moves past the probe's
// first stamp, which is no earlier than any stamp (mtime or ctime) given before it.
func Tick(t testing.TB) {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "probe")
	stamp := func() time.Time {
		t.Helper()
		if err := os.WriteFile(probe, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(probe)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	first := stamp()
	for deadline := time.Now().Add(10 * time.Second); !stamp().After(first); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the file system's clock did not move past %v within 10s", first)
		}
	}
}
