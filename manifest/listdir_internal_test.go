//go:build unix

package manifest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestListDirAgreesWithReadDir holds the walk's own folder listing to os.ReadDir: the
// same names, in the same order, with the same types, over more entries than one
// read of the buffer takes.
func TestListDirAgreesWithReadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1500 {
		write(fmt.Sprintf("file-%04d-%s.txt", i, strings.Repeat("n", 40)))
	}
	for _, name := range []string{"with space", "naïve.svg", "new\nline", ".hidden", "Z", "a"} {
		write(name)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("unix", filepath.Join(dir, "sock")); err == nil {
		defer l.Close()
	}

	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkStatTypes(t, dir, want)
	// Small buffers, so that the listing takes many reads, of sizes that leave each
	// read's last record at a different place before the buffer's end.
	var scratch names // reused, as the walk does
	for i, in := range []string{"", "some/folder", "", "", ""} {
		size := []int{4 << 10, 4<<10 + 100, 300, 1000, 32 << 10}[i]
		got, err := listDir(dir, in, make([]byte, size), &scratch)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("listDir gave %d names, os.ReadDir %d", len(got), len(want))
		}
		for i, d := range got {
			w := want[i]
			wantPath := w.Name()
			if in != "" {
				wantPath = in + "/" + w.Name()
			}
			if d.name != w.Name() || d.path != wantPath || d.typ != w.Type() {
				t.Errorf("entry %d = {%q %q %v}, want {%q %q %v}", i, d.name, d.path, d.typ, w.Name(), wantPath, w.Type())
			}
		}
	}

	if _, err := listDir(filepath.Join(dir, "missing"), "missing", make([]byte, 4<<10), &scratch); !os.IsNotExist(err) {
		t.Errorf("a missing folder: %v, want a not-exist error", err)
	}
	if _, err := listDir(filepath.Join(dir, "a"), "a", make([]byte, 4<<10), &scratch); err == nil {
		t.Error("a file listed as a folder")
	}
}
