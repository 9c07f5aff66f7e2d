package fsclock_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/desksync/desksync/internal/fsclock"
)

// TestTick: a file written after Tick is stamped later than one written before it.
func TestTick(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) os.FileInfo {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	for range 20 {
		before := write("before")
		fsclock.Tick(t)
		if after := write("after"); !after.ModTime().After(before.ModTime()) {
			t.Fatalf("written after Tick at %v, not later than %v", after.ModTime(), before.ModTime())
		}
	}
}
